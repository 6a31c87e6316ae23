"""Trainer: fits any model of the `Output` contract to any batch source. Task-agnostic.

A batch source has `epoch(epoch, start) -> Iterator[batch]` and `__len__`. The trainer is the
only place recurrent state is carried between batches (see `_carry`). It evaluates every
`eval_every` steps (or, with `budget_evals` and `max_time`, about `budget_evals` times over the
time budget: `next_eval_time`), keeps the best weights (`best.pt`) and the full training
position (`last.pt`: weights, optimizer, schedule, RNG state, epoch/batch position, carried
state), so `resume` continues a killed run to the same weights an uninterrupted run reaches.
Early stopping compares the best of the last `patience` evaluations with the best before them
(`stalled`). Progress goes to a callback: no printing here.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

import torch
from torch import nn

from rnnlab.checkpoint import BEST, LAST, save_checkpoint
from rnnlab.config import TrainConfig
from rnnlab.distributed import Dist, ddp_forward, global_loss, reducing
from rnnlab.errors import RnnlabError
from rnnlab.metrics import evaluate
from rnnlab.models.base import State, detach_state
from rnnlab.threads import choose_threads, model_gemm_size


class Batch(Protocol):
    """A batch NamedTuple of models/base.py (LMBatch, SeriesBatch, ...): the trainer reads
    `reset` only (whether the recurrent state starts empty); the model reads the rest."""

    @property
    def reset(self) -> bool: ...


class BatchSource(Protocol):
    def epoch(self, epoch: int = 0, start: int = 0) -> Iterator[Batch]: ...

    def __len__(self) -> int: ...


# (batch, carried state) -> (mean loss, final state): one training forward
LossFn = Callable[[Batch, State | None], tuple[torch.Tensor, State | None]]
# (model, validation batches) -> figures: the default reads LMBatches (metrics.evaluate)
EvalFn = Callable[[nn.Module, Any], dict[str, Any]]


@dataclass
class History:
    """What a training run did: one record per evaluation (step, losses, lr, seconds), the
    best validation figure and its step, the steps taken and why it stopped."""

    records: list[dict[str, Any]] = field(default_factory=list)
    best_val: float = math.inf
    best_step: int = 0
    steps: int = 0
    stopped: str = ""


# a time-spread evaluation waits at least this many times its own duration, so validation
# takes at most ~10% of the budget however large the validation set is
EVAL_SHARE = 10.0


def next_eval_time(start: float, duration: float, max_time: float, evals: int) -> float:
    """When the next evaluation is due (clock seconds) after one that began at `start` and
    took `duration`: `max_time / evals` later, or `EVAL_SHARE` times its duration when
    that is longer."""
    return start + max(max_time / evals, EVAL_SHARE * duration)


def stalled(recent: list[float], best_before: float, patience: int, margin: float,
            noise: float = 0.0) -> bool:
    """Early stopping: the last `patience` evaluations (`recent`) end the run when their best
    is not below `best_before` (the best of every earlier one, inf if none) by the margin:
    `min(recent) >= best_before + max(margin * |best_before|, noise)`. margin 0 is the classic
    rule (no new best in `patience` evaluations); a positive margin ends the run on a rise
    only, and a rise smaller than `noise` (the measurement's own error, `noise_floor`) is
    not one."""
    if not patience or len(recent) < patience:
        return False
    before = min([best_before, *recent[:-patience]])
    if not math.isfinite(before):
        return False
    rise = max(margin * abs(before), noise) if margin > 0 else 0.0
    return min(recent[-patience:]) >= before + rise


def noise_floor(monitor: str, best: float, examples: float | None) -> float:
    """One binomial standard error of an error rate `best` counted on `examples` validation
    items, sqrt(p (1 - p) / n); 0 for other monitors or an unknown count. On the 960 MR
    validation sentences at p = 0.22 it is 0.013 (13 sentences), where a 1% relative rise is
    two sentences: early stopping fired on noise there (BENCHMARKS.md)."""
    if monitor != "error_rate" or not examples or not 0.0 <= best <= 1.0:
        return 0.0
    return math.sqrt(best * (1.0 - best) / examples)


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adamw":
        # no weight decay on biases, norms and embeddings' rows of rare tokens alike: decay
        # matrices only (as nanoGPT), which regularizes without shrinking biases toward zero
        decay = [p for p in params if p.dim() >= 2]
        no_decay = [p for p in params if p.dim() < 2]
        groups = [{"params": decay, "weight_decay": cfg.weight_decay},
                  {"params": no_decay, "weight_decay": 0.0}]
        # fused: one kernel per parameter group, 3.7x faster than foreach on a 7M-parameter
        # model (52 -> 14 ms a step on one core), the same update to float rounding
        return torch.optim.AdamW(groups, lr=cfg.lr, fused=True)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                               weight_decay=cfg.weight_decay)
    raise RnnlabError(f"--optimizer must be 'adamw' or 'sgd', got {cfg.optimizer!r}")


def lr_factor(cfg: TrainConfig, step: int, progress: float, steps_per_epoch: int) -> float:
    """Multiplier of the base lr at `step` (0-based); `progress` in [0, 1] is the fraction of
    the budget spent (steps, or time when --max-time binds first), so a cosine schedule
    anneals within whichever limit ends the run."""
    if cfg.warmup and step < cfg.warmup:
        return (step + 1) / cfg.warmup
    if cfg.schedule == "constant":
        return 1.0
    if cfg.schedule == "cosine":
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))  # floor: 10%
    if cfg.schedule == "step":  # Zaremba et al. 2014: decay once per epoch after a start
        epoch = step // max(1, steps_per_epoch)
        return cfg.lr_decay ** max(0, epoch - cfg.decay_start + 1)
    raise RnnlabError(
        f"--schedule must be 'constant', 'cosine' or 'step', got {cfg.schedule!r}"
    )


PRECISIONS = ("fp32", "bf16", "bf16-head")


@functools.cache
def bf16_lstm_supported() -> bool:
    """Whether this CPU's torch runs an LSTM under bfloat16 autocast. oneDNN's LSTM kernel
    needs native bf16 instructions (AVX512-BF16 / AMX); elsewhere it fails with "could not
    create a primitive descriptor", so --precision bf16 is offered only where it runs."""
    lstm = nn.LSTM(4, 4, batch_first=True)
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            lstm(torch.zeros(1, 2, 4))
    except RuntimeError:
        return False
    return True


@functools.cache
def native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices natively (AVX512-BF16 or AMX, as oneDNN
    reports). Elsewhere bfloat16 is emulated, far slower than float32 (AVX2: 6 steps against
    77 in 15 CPU-s of translation with the bf16 output layer)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def precision_note(cfg: TrainConfig) -> str | None:
    """A warning when the chosen bfloat16 precision is emulated on this CPU."""
    if cfg.precision == "fp32" or cfg.device != "cpu" or native_bf16():
        return None
    return (f"note: --precision {cfg.precision} is emulated on this CPU (no native bfloat16): "
            "several times slower than fp32; --precision fp32 trains at full speed")


def make_loss_fn(model: nn.Module, cfg: TrainConfig, dist: Dist | None = None) -> LossFn:
    """(batch, state) -> (loss, final state) of one training forward, with the speed options:
    `fused_loss` uses the model's own `loss(batch, state)` (no (B, T, V) logits), `precision`
    "bf16" autocasts the forward (weights, their gradients and the loss stay float32),
    "bf16-head" runs only the fused output layer's matrix products in bfloat16 (the
    recurrence stays float32), `compile` wraps the forward in torch.compile."""
    if cfg.precision not in PRECISIONS:
        raise RnnlabError(
            f"--precision must be one of {', '.join(PRECISIONS)}, got {cfg.precision!r}"
        )
    if cfg.precision == "bf16-head" and not cfg.fused_loss:
        raise RnnlabError(
            "--precision bf16-head applies to the fused output layer: add --fused-loss"
        )
    if cfg.fused_loss and not hasattr(model, "loss"):
        raise RnnlabError(
            f"--fused-loss: {type(model).__name__} has no fused loss; it exists for the "
            "recurrent language models (rnn, gru, lstm) and translation; drop --fused-loss"
        )
    # a model whose forward must build what its loss avoids (an adaptive softmax's full
    # (B, T, V) log-probabilities) trains through `loss` whatever --fused-loss says
    if cfg.fused_loss or getattr(model, "trains_by_loss", False):
        head = torch.bfloat16 if cfg.precision == "bf16-head" else None

        def fwd(batch: Batch, state: State | None) -> tuple[torch.Tensor, State | None]:
            return model.loss(batch, state, head)  # type: ignore[operator,no-any-return]
    else:
        def fwd(batch: Batch, state: State | None) -> tuple[torch.Tensor, State | None]:
            out = model(batch, state)
            return out.loss, out.state
    forward: LossFn = fwd
    if cfg.compile:
        forward = torch.compile(forward)
    if dist is not None and dist.active:  # torchrun: gradients averaged over the ranks
        forward = ddp_forward(model, forward, dist)
    bf16 = cfg.precision == "bf16"
    if bf16 and not bf16_lstm_supported() and any(
            isinstance(m, nn.LSTM) for m in model.modules()):
        raise RnnlabError(
            "--precision bf16: this CPU's torch cannot run an LSTM in bfloat16 (no native "
            "bf16 instructions); use --precision fp32, or a GRU or RNN model")

    def loss_fn(batch: Batch, state: State | None) -> tuple[torch.Tensor, State | None]:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss, new_state = forward(batch, state)
        if bf16 and new_state is not None:  # carry the state (the LSTM's c) in full precision
            new_state = (tuple(s.float() for s in new_state) if isinstance(new_state, tuple)
                         else new_state.float())
        return loss.float(), new_state

    return loss_fn


@dataclass
class _Position:
    """Where a training run is: enough to continue it exactly (stored in last.pt)."""

    step: int = 0
    epoch: int = 0
    batch: int = 0  # (epoch, batch) always names the next batch
    elapsed: float = 0.0
    bad_evals: int = 0
    # early stopping: the monitored figures of the last `patience` evaluations, and the best
    # of the ones before them
    recent: list[float] = field(default_factory=list)
    best_before: float = math.inf
    next_eval: float = 0.0  # time-spread evaluation: clock seconds when the next one is due


class Trainer:
    """The task-agnostic training loop: `fit(model, train, val)` steps AdamW or SGD with
    clipping and the lr schedule, carries a TBPTT state across batches that continue each
    other and detaches it in one place, evaluates by steps or spread over a time budget,
    keeps the best weights by the monitored figure, stops at the first limit (steps, epochs,
    time, patience) and writes atomic checkpoints (`best.pt`, and `last.pt` for an exact
    resume) into `out_dir`."""

    def __init__(
        self,
        cfg: TrainConfig,
        out_dir: Path | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        extra_payload: dict[str, Any] | None = None,
        eval_fn: EvalFn = evaluate,
        monitor: str = "nll",
        dist: Dist | None = None,
        eval_at_start: bool = False,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.cfg = cfg
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.on_event = on_event or (lambda event: None)
        self.extra = extra_payload or {}  # task, config, tokenizer ... in every checkpoint
        # validation: `eval_fn(model, batches) -> metrics`; the lowest `monitor` is the best
        self.eval_fn, self.monitor = eval_fn, monitor
        # validate the untrained model too, so step 0 can be the best: a seasonal forecaster
        # starts at the seasonal naive forecast, and training must beat it to be kept
        self.eval_at_start = eval_at_start
        # torchrun: batch sources are this rank's shards, rank 0 alone has an out_dir
        self.dist = dist or Dist()
        self.clock = clock  # tests: a fake clock instead of the one --clock names

    def payload(self, model: nn.Module, **more: Any) -> dict[str, Any]:
        """A checkpoint of `model` with this run's extra payload."""
        return {
            "model_class": type(model).__name__,
            "hparams": dict(cast(dict[str, Any], model.hparams)),
            "model_state": model.state_dict(),
            **self.extra,
            **more,
        }

    def _clock(self) -> Callable[[], float]:
        if self.clock is not None:
            return self.clock
        if self.cfg.clock not in ("wall", "cpu"):
            raise RnnlabError(f"--clock must be 'wall' or 'cpu', got {self.cfg.clock!r}")
        # "cpu": this process's CPU seconds, so --max-time means the same on a shared machine
        return time.perf_counter if self.cfg.clock == "wall" else time.process_time

    def fit(
        self,
        model: nn.Module,
        train: BatchSource,
        val: BatchSource | None = None,
        resume: dict[str, Any] | None = None,
    ) -> History:
        """Train `model` on `train` until a limit binds, validating on `val`; `resume` (a
        last.pt payload) continues a run exactly where it stopped."""
        return _Fit(self, model, train, val, resume).run()

    def _step(
        self, model: nn.Module, opt: torch.optim.Optimizer, loss_fn: LossFn, batch: Batch,
        state: State | None, pos: _Position, total: int, seconds: Callable[[], float],
        steps_per_epoch: int,
    ) -> tuple[float, State | None, float]:
        """One optimizer step: (loss, final state, gradient norm before clipping)."""
        cfg = self.cfg
        batch_loss, new_state = loss_fn(batch, state)
        opt.zero_grad(set_to_none=True)
        batch_loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip or math.inf)
        progress = pos.step / total
        if cfg.max_time:
            progress = max(progress, seconds() / cfg.max_time)
        for group in opt.param_groups:
            group["lr"] = cfg.lr * lr_factor(cfg, pos.step, progress, steps_per_epoch)
        opt.step()
        return global_loss(self.dist, batch_loss), new_state, float(grad_norm)


class _Fit:
    """One call of `Trainer.fit`: the loop and everything it carries between steps."""

    def __init__(self, trainer: Trainer, model: nn.Module, train: BatchSource,
                 val: BatchSource | None, resume: dict[str, Any] | None) -> None:
        self.t, self.cfg, self.model, self.train, self.val = trainer, trainer.cfg, model, \
            train, val
        cfg = self.cfg
        if cfg.threads is None:  # never more than torch's own count (or one set before)
            threads = choose_threads(model_gemm_size(model, cfg.batch_size), cfg.clock)
            torch.set_num_threads(min(torch.get_num_threads(), threads))
        self.opt = make_optimizer(model, cfg)
        self.loss_fn = make_loss_fn(model, cfg, trainer.dist)
        self.steps_per_epoch = len(train)
        self.total = cfg.max_steps
        if cfg.max_epochs is not None:
            self.total = min(self.total, cfg.max_epochs * self.steps_per_epoch)
        self.hist, self.pos = History(), _Position()
        self.state: State | None = None
        if resume is not None:
            model.load_state_dict(resume["model_state"])
            self.opt.load_state_dict(resume["optimizer_state"])
            torch.set_rng_state(resume["rng_state"])
            t = resume["trainer"]
            self.pos = _Position(t["step"], t["epoch"], t["batch"], t["elapsed"],
                                 t["bad_evals"])
            self.hist.best_val, self.hist.best_step = t["best_val"], t["best_step"]
            # checkpoints written before the window rule: the evaluations since the best
            # count as above it, which continues the classic rule exactly
            self.pos.recent = list(t.get("recent", [math.inf] * t["bad_evals"]))
            self.pos.best_before = t.get("best_before", t["best_val"])
            self.pos.next_eval = t.get("next_eval", 0.0)
            self.state = trainer.dist.split_state(resume.get("carry"))  # all B rows saved
        else:
            torch.manual_seed(cfg.seed)
        self.clock = trainer._clock()
        self.t0 = self.clock() - self.pos.elapsed
        self.wall0 = time.perf_counter()
        self.running, self.running_n = 0.0, 0
        self.spread = bool(cfg.budget_evals and cfg.max_time)  # evaluations by elapsed time
        if self.spread and resume is None:
            self.pos.next_eval = next_eval_time(0.0, 0.0, cfg.max_time or 0.0,
                                                cfg.budget_evals or 1)

    def seconds(self) -> float:
        # torchrun: the slowest rank's time, so --max-time stops every rank at the same step
        return self.t.dist.all_max(self.clock() - self.t0)

    def run(self) -> History:
        pos, train = self.pos, self.train
        self.model.train()
        if self.t.eval_at_start and self.val is not None and pos.step == 0:
            self.evaluate_start()
        while not self.stop_reason():
            for batch in train.epoch(pos.epoch, pos.batch):
                if batch.reset:
                    self.state = None
                # Truncated BPTT: the carried state keeps its values but not the graph that
                # made it, so backward stops at the chunk boundary instead of running through
                # the whole stream (and memory stays bounded by one chunk).
                self.state = detach_state(self.state)
                loss, self.state, grad_norm = self.t._step(
                    self.model, self.opt, self.loss_fn, batch, self.state, pos, self.total,
                    self.seconds, self.steps_per_epoch)
                self.running, self.running_n = self.running + loss, self.running_n + 1
                pos.step += 1
                pos.batch += 1
                if pos.batch >= len(train):
                    pos.epoch, pos.batch = pos.epoch + 1, 0
                self.t.on_event({"event": "step", "step": pos.step, "loss": loss,
                                 "grad_norm": grad_norm, "total": self.total})
                reason = self.stop_reason()
                if reason or self.eval_due():
                    self.evaluate(grad_norm)
                    reason = self.stop_reason()  # early stopping may trigger after this eval
                if reason:
                    break
        self.hist.stopped = self.stop_reason()
        self.hist.steps = pos.step
        if self.val is None:
            self.checkpoint(BEST)
        return self.hist

    def eval_due(self) -> bool:
        if self.spread:
            return self.seconds() >= self.pos.next_eval
        return self.pos.step % self.cfg.eval_every == 0

    def stop_reason(self) -> str:
        cfg, pos = self.cfg, self.pos
        if pos.step >= self.total:
            return "max_steps" if self.total == cfg.max_steps else "max_epochs"
        if cfg.max_time and self.seconds() >= cfg.max_time:  # 0 or None: no limit
            return "max_time"
        last = self.hist.records[-1] if self.hist.records else {}
        noise = noise_floor(self.t.monitor, self.hist.best_val, last.get("val_examples"))
        if stalled(pos.recent, pos.best_before, cfg.patience or 0, cfg.patience_margin, noise):
            return "early_stopping"  # patience 0 or None: never
        return ""

    def checkpoint(self, kind: str) -> None:
        """best.pt: weights and position; last.pt: all it takes to resume exactly."""
        out = self.t.out_dir
        carry = self.t.dist.gather_state(self.state) if kind == LAST else None  # every rank
        elapsed = self.seconds()  # every rank: a collective under torchrun
        if out is None:
            return
        pos, hist = self.pos, self.hist
        position = {"step": pos.step, "epoch": pos.epoch, "batch": pos.batch,
                    "elapsed": elapsed, "bad_evals": pos.bad_evals,
                    "best_val": hist.best_val, "best_step": hist.best_step,
                    "recent": list(pos.recent), "best_before": pos.best_before,
                    "next_eval": pos.next_eval}
        if kind == BEST:
            save_checkpoint(out / BEST, self.t.payload(self.model, trainer=position))
            return
        save_checkpoint(out / LAST, self.t.payload(
            self.model, trainer=position, optimizer_state=self.opt.state_dict(),
            rng_state=torch.get_rng_state(), carry=carry))

    def evaluate_start(self) -> None:
        """The untrained model's validation figure as the first best (best.pt at step 0);
        no record, as no training loss exists yet."""
        with reducing(self.t.dist):
            metrics = self.t.eval_fn(self.model, self.val.epoch(0))  # type: ignore[union-attr]
        self.model.train()
        self.hist.best_val, self.hist.best_step = metrics[self.t.monitor], 0
        self.pos.best_before = _finite(metrics[self.t.monitor])
        self.checkpoint(BEST)

    def evaluate(self, grad_norm: float) -> None:
        """Record the running train loss, validate, keep the best, checkpoint, report."""
        cfg, pos, hist = self.cfg, self.pos, self.hist
        start = self.seconds()
        record = {"step": pos.step, "epoch": round(pos.step / self.steps_per_epoch, 4),
                  "train_loss": self.running / self.running_n,
                  "lr": self.opt.param_groups[0]["lr"], "grad_norm": grad_norm,
                  "time": round(self.seconds(), 3)}
        if cfg.clock == "cpu":  # wall seconds of this session, for comparison
            record["wall"] = round(time.perf_counter() - self.wall0, 1)
        self.running, self.running_n = 0.0, 0
        if cfg.log_grad_norms:  # this step's gradients, after clipping
            record["grad_norms"] = {n: round(float(p.grad.norm()), 6)
                                    for n, p in self.model.named_parameters()
                                    if p.grad is not None}
        if self.val is not None:
            with reducing(self.t.dist):  # each rank scores its shard; the sums are all-reduced
                metrics = self.t.eval_fn(self.model, self.val.epoch(0))
            record.update({f"val_{k}": v for k, v in metrics.items()})
            if metrics[self.t.monitor] < hist.best_val:
                hist.best_val, hist.best_step, pos.bad_evals = (
                    metrics[self.t.monitor], pos.step, 0)
                self.checkpoint(BEST)
            else:
                pos.bad_evals += 1
            pos.recent.append(_finite(metrics[self.t.monitor]))
            while len(pos.recent) > max(1, cfg.patience or 0):  # the window: last `patience`
                pos.best_before = min(pos.best_before, pos.recent.pop(0))
        if self.spread:
            pos.next_eval = next_eval_time(start, self.seconds() - start, cfg.max_time or 0.0,
                                           cfg.budget_evals or 1)
        hist.records.append(record)
        self.checkpoint(LAST)
        self.t.on_event({"event": "eval", **record})


def _finite(value: float) -> float:
    """A monitored figure for the early-stopping window: NaN counts as the worst."""
    return value if not math.isnan(value) else math.inf
