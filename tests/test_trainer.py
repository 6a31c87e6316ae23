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
from rnnlab.trainer import Trainer, lr_factor, make_loss_fn


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
