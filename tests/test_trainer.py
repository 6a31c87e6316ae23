"""rnnlab/trainer.py: TBPTT carries a detached state in sequential partitioning and resets
it in random partitioning; schedules; stopping rules; stream evaluation; the training loss
with the speed options (fused loss, bf16) against the plain fp32 one."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from rnnlab.config import TrainConfig
from rnnlab.data.batching import BpttStream, PaddedBatches
from rnnlab.losses import IGNORE_INDEX, masked_cross_entropy
from rnnlab.metrics import evaluate
from rnnlab.models.base import LMBatch, Output
from rnnlab.models.lm import RecurrentLM
from rnnlab.trainer import (
    Trainer,
    lr_factor,
    make_loss_fn,
    next_eval_time,
    noise_floor,
    stalled,
)


class Spy(nn.Module):
    """Records the state it receives; its state is a running sum that needs grad."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.hparams: dict = {}
        self.seen: list[tuple[bool, bool]] = []  # (state given, state requires grad)

    def forward(self, batch: LMBatch, state=None) -> Output:
        self.seen.append((state is not None, state is not None and state.requires_grad))
        B, T = batch.inputs.shape
        s = (state if state is not None else torch.zeros(B)) + self.w
        logits = (self.w * torch.ones(B, T, 8)).requires_grad_()
        return Output(logits, masked_cross_entropy(logits, batch.targets), s)


def test_sequential_partition_carries_detached_state() -> None:
    spy = Spy()
    stream = BpttStream(np.arange(2, 8).repeat(20) % 8, batch_size=2, seq_len=5)
    n = len(stream)
    Trainer(TrainConfig(max_steps=2 * n, eval_every=1000, patience=None)).fit(spy, stream)
    given = [g for g, _ in spy.seen]
    assert given == ([False] + [True] * (n - 1)) * 2  # reset at each epoch start only
    assert not any(rg for _, rg in spy.seen)  # never the graph of the previous chunk


def test_random_partition_resets_state_every_batch() -> None:
    spy = Spy()
    stream = BpttStream(np.arange(2, 8).repeat(20) % 8, 2, 5, partition="random")
    Trainer(TrainConfig(max_steps=6, eval_every=1000, patience=None)).fit(spy, stream)
    assert not any(g for g, _ in spy.seen)


def test_step_schedule_halves_after_start_epoch() -> None:
    cfg = TrainConfig(schedule="step", lr_decay=0.5, decay_start=4)
    per_epoch = 10
    factors = [lr_factor(cfg, e * per_epoch, 0.0, per_epoch) for e in range(7)]
    assert factors == [1, 1, 1, 1, 0.5, 0.25, 0.125]  # Zaremba: epochs 5, 6, 7 (1-based)
    cos = TrainConfig(schedule="cosine", warmup=10)
    assert lr_factor(cos, 4, 0.0, 1) == 0.5
    assert math.isclose(lr_factor(cos, 50, 1.0, 1), 0.1)


def test_early_stopping_and_best_checkpoint(tmp_path) -> None:
    torch.manual_seed(0)
    seqs = [[4, 5, 6, 7][: 1 + i % 4] for i in range(40)]
    model = RecurrentLM(8, "gru", 8, 16)
    cfg = TrainConfig(max_steps=10_000, eval_every=2, patience=2, lr=0.5, batch_size=8,
                      schedule="constant")  # lr far too high: validation soon stops improving
    hist = Trainer(cfg, tmp_path).fit(model, PaddedBatches(seqs, 8), PaddedBatches(seqs, 8))
    assert hist.stopped == "early_stopping" and hist.steps < 10_000
    assert (tmp_path / "best.pt").is_file() and (tmp_path / "last.pt").is_file()
    vals = [r["val_nll"] for r in hist.records]
    assert min(vals) == hist.best_val and vals[-1] > hist.best_val


def test_stream_evaluation_equals_one_long_forward() -> None:
    torch.manual_seed(2)
    model = RecurrentLM(9, "lstm", 4, 8).eval()
    ids = np.random.default_rng(0).integers(4, 9, size=101)
    m = evaluate(model, BpttStream(ids, 1, 7).epoch(0))
    x, y = torch.tensor(ids[None, :-1]), torch.tensor(ids[None, 1:])
    with torch.no_grad():
        full = masked_cross_entropy(model(LMBatch(x, y, None, True)).logits, y)
    assert m["tokens"] == 100
    assert math.isclose(m["nll"], float(full), rel_tol=1e-5)


def test_eval_stream_scores_every_token_once_and_equals_one_row_with_full_warmup() -> None:
    from rnnlab.config import TrainConfig
    from rnnlab.data.batching import EvalStream, lm_batches

    torch.manual_seed(0)
    ids = torch.randint(4, 20, (301,)).numpy()
    model = RecurrentLM(20, "lstm", 8, 16).eval()
    tc = TrainConfig(seq_len=16)
    exact = evaluate(model, lm_batches(ids, "text", tc, False, 1).epoch(0))
    full = EvalStream(ids, 4, 32, warmup=len(ids))  # every row reads its whole history
    m = evaluate(model, full.epoch(0))
    assert m["tokens"] == exact["tokens"] == 300
    assert abs(m["nll"] - exact["nll"]) < 1e-5
    short = evaluate(model, lm_batches(ids, "text", tc, False, 7).epoch(0))
    assert short["tokens"] == 300 and abs(short["nll"] - exact["nll"]) < 0.05
    one = EvalStream(ids[:2], 5, 8, 8)  # two tokens: one target, one row
    assert evaluate(model, one.epoch(0))["tokens"] == 1


@pytest.mark.parametrize("tie", [False, True])
def test_fused_loss_equals_plain_loss_and_gradients(tie) -> None:
    torch.manual_seed(0)
    model = RecurrentLM(300, "lstm", 16, 16, 2, tie_weights=tie)
    x = torch.randint(0, 300, (3, 200))  # 600 rows: several LinearCE chunks
    y = torch.randint(0, 300, (3, 200))
    y[1, 150:] = IGNORE_INDEX  # padding is skipped in both
    batch = LMBatch(x, y, None, True)
    plain = model(batch).loss
    g_plain = torch.autograd.grad(plain, list(model.parameters()))
    fused, _ = model.loss(batch)
    g_fused = torch.autograd.grad(fused, list(model.parameters()))
    assert fused.item() == pytest.approx(plain.item(), rel=1e-6)
    for a, b in zip(g_plain, g_fused, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(("precision", "fused"),
                         [("bf16", False), ("bf16", True), ("bf16-head", True)])
def test_bf16_training_loss_is_close_to_fp32(precision, fused) -> None:
    from rnnlab.trainer import bf16_lstm_supported

    if precision == "bf16" and not bf16_lstm_supported():
        pytest.skip("this CPU's torch cannot run an LSTM under bf16 autocast")
    torch.manual_seed(0)
    model = RecurrentLM(500, "lstm", 32, 32, 2, init_range=0.1)
    batch = LMBatch(torch.randint(0, 500, (4, 20)), torch.randint(0, 500, (4, 20)), None, True)
    ref, _ = make_loss_fn(model, TrainConfig())(batch, None)
    loss, state = make_loss_fn(model, TrainConfig(precision=precision, fused_loss=fused))(batch,
                                                                                       None)
    assert loss.dtype == torch.float32 and state[1].dtype == torch.float32
    assert loss.item() == pytest.approx(ref.item(), rel=5e-3)
    loss.backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32
               for p in model.parameters())


# -- the time budget: cadence by elapsed time, early stopping on a window ---------------------
class FakeClock:
    """Seconds that pass only when the test says: each training forward is 1 s."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Ticker(Spy):
    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock

    def forward(self, batch: LMBatch, state=None) -> Output:
        self.clock.now += 1.0
        return super().forward(batch, state)


def _ticking_fit(cost: float, **cfg: object):
    clock = FakeClock()
    stream = BpttStream(np.arange(2, 8).repeat(20) % 8, batch_size=2, seq_len=5)

    def eval_fn(model, batches) -> dict:
        clock.now += cost  # one validation pass
        return {"nll": 1.0}

    train_cfg = TrainConfig(max_steps=10**9, max_time=100, budget_evals=20, patience=None,
                            **cfg)  # type: ignore[arg-type]
    trainer = Trainer(train_cfg, eval_fn=eval_fn, clock=clock)
    return trainer.fit(Ticker(clock), stream, stream)


def test_next_eval_time_spreads_over_the_budget_and_rations_slow_validation() -> None:
    assert next_eval_time(10.0, 0.1, 300.0, 20) == 25.0  # every 300 / 20 s
    assert next_eval_time(10.0, 3.0, 300.0, 20) == 40.0  # 10x the pass: <= 10% of the time


def test_budget_run_evaluates_by_time_and_ends_by_time() -> None:
    hist = _ticking_fit(cost=0.0)
    assert hist.stopped == "max_time" and hist.steps == 100
    assert [r["step"] for r in hist.records] == list(range(5, 101, 5))  # 20 over 100 s
    slow = _ticking_fit(cost=2.0)  # a 2 s validation pass: one every 20 s, not every 5 s
    times = [r["time"] for r in slow.records]
    assert slow.stopped == "max_time" and len(times) <= 6
    gaps = [b - a for a, b in zip(times[:-2], times[1:-1], strict=True)]  # last: at the stop
    assert gaps and all(g >= 20.0 for g in gaps)


def test_explicit_steps_still_end_by_steps_and_evaluate_every_n() -> None:
    clock = FakeClock()
    stream = BpttStream(np.arange(2, 8).repeat(20) % 8, batch_size=2, seq_len=5)
    cfg = TrainConfig(max_steps=30, max_time=1000, eval_every=10, patience=None)
    hist = Trainer(cfg, eval_fn=lambda m, b: {"nll": 1.0}, clock=clock).fit(
        Ticker(clock), stream, stream)
    assert hist.stopped == "max_steps" and [r["step"] for r in hist.records] == [10, 20, 30]


def test_stalled_is_the_classic_rule_at_margin_zero_and_waits_for_a_rise_above_it() -> None:
    # classic: no new best in the last `patience` evaluations
    assert stalled([2.0, 2.0], 2.0, 2, 0.0) and not stalled([2.0, 1.9], 2.0, 2, 0.0)
    assert not stalled([2.0], 2.0, 2, 0.0)  # too few evaluations yet
    assert not stalled([3.0, 3.0], math.inf, 2, 0.0)  # nothing before the window
    # margin 0.01: a plateau (or a rise under 1%) continues, a rise of 1% ends the run
    assert not stalled([2.01, 2.015], 2.0, 2, 0.01)
    assert stalled([2.03, 2.02], 2.0, 2, 0.01)
    # values before the window that were never moved out of it count as "before"
    assert stalled([1.0, 2.0, 2.0], math.inf, 2, 0.0)


def test_a_rise_of_an_error_rate_within_its_standard_error_is_not_a_rise() -> None:
    # 960 validation items at 22% errors: one standard error is sqrt(.22 * .78 / 960)
    se = noise_floor("error_rate", 0.22, 960)
    assert se == pytest.approx(0.013370, abs=1e-6)
    assert noise_floor("nll", 0.22, 960) == 0.0 and noise_floor("error_rate", 0.22, None) == 0.0
    # +2 sentences (0.0025) passes the 1% margin but not the noise floor: training goes on
    assert stalled([0.2225, 0.2230], 0.22, 2, 0.01) and not stalled(
        [0.2225, 0.2230], 0.22, 2, 0.01, noise=se)
    assert stalled([0.24, 0.235], 0.22, 2, 0.01, noise=se)  # +15 sentences: a rise
    assert stalled([0.23, 0.23], 0.22, 2, 0.0, noise=se)  # margin 0 keeps the classic rule


def test_patience_margin_keeps_training_through_a_plateau() -> None:
    clock = FakeClock()
    stream = BpttStream(np.arange(2, 8).repeat(20) % 8, batch_size=2, seq_len=5)
    figures = iter([2.0, 1.9, 1.905, 1.91, 1.9, 1.905, 1.91, 1.95, 1.96] + [2.0] * 100)

    def fit(margin: float):
        cfg = TrainConfig(max_steps=60, eval_every=5, patience=3, patience_margin=margin)
        return Trainer(cfg, eval_fn=lambda m, b: {"nll": next(figures)}, clock=clock).fit(
            Ticker(clock), stream, stream)

    classic = fit(0.0)  # 1.9 at the 2nd evaluation, none better in the next 3: stops
    assert classic.stopped == "early_stopping" and classic.steps == 25
    figures = iter([2.0, 1.9, 1.905, 1.91, 1.9, 1.905, 1.91, 1.95, 1.96] + [2.0] * 100)
    rise = fit(0.01)  # stops only once the last 3 are all >= 1.919 (evaluations 8 to 10)
    assert rise.stopped == "early_stopping" and rise.steps == 50


def test_threads_rule() -> None:
    from rnnlab.threads import MIN_GEMM_SIZE, choose_threads, model_gemm_size

    small = RecurrentLM(30, "lstm", 64, 256)
    assert model_gemm_size(small, 32) == 4 * 256 * 256 * 32  # weight_hh, 32 batch rows
    assert choose_threads(model_gemm_size(small, 32), "wall", cpus=2) == 1
    assert choose_threads(MIN_GEMM_SIZE, "wall", cpus=2) == 2
    assert choose_threads(MIN_GEMM_SIZE, "cpu", cpus=2) == 1  # CPU seconds: never pays
    assert choose_threads(MIN_GEMM_SIZE, "wall", cpus=1) == 1
    assert model_gemm_size(object(), 32) == 0  # a model without parameters
