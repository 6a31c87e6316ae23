"""Data-parallel training under `torchrun`: its environment, the process group, DDP, sharding.

Shapes: B global batch rows, B_r the rows of rank r, W world size (processes), L layers,
H hidden.

    torchrun --standalone --nproc_per_node W -m rnnlab train ...

starts W processes that each build the same data and model (same seed), then every global
batch is cut by rows: rank r trains on rows [lo_r, hi_r) of it (`shard_batch`, contiguous, as
`numpy.array_split`). Since each rank sees the same sequence of global batches, there is no
per-rank sampler: padded batches keep the seeded per-epoch shuffle, every rank takes the same
number of steps, and a stream's rows stay on one rank across chunks, so each rank carries the
TBPTT state of its own rows exactly as one process carries all of them. A rank whose share of a
batch is empty (a last batch with fewer rows than W) trains on a copy of row 0 with weight 0,
so it still joins every collective and nobody hangs.

DDP averages gradients over ranks, g = (1/W) sum_r g_r. One process minimizes the mean over
the N = sum_r n_r real targets of the batch, sum_r (n_r / N) mean_r, so rank r's loss is
scaled by W n_r / N (`loss_weight` counts n_r: real targets, class weights, or rows); then one
DDP step equals one process's step on the whole batch (a test pins it to 1e-10 in float64).

Everything a rank decides alone is agreed on: validation sums are all-reduced (`reducing`), the
elapsed time of `--max-time` is the maximum over ranks, and clipping reads the gradients DDP
already averaged. Only rank 0 writes (run.py); the carried state is gathered to rank 0 for
last.pt, so a checkpoint holds all B rows and resumes on any number of processes.
Without torchrun (WORLD_SIZE unset or 1) nothing here is active and nothing changes.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from types import FrameType
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeVar, cast

from rnnlab.errors import RnnlabError

if TYPE_CHECKING:  # torch is imported where it is used: env_rank runs without it
    from torch import Tensor, nn

    from rnnlab.models.base import State

BatchT = TypeVar("BatchT", bound=NamedTuple)  # a batch NamedTuple of rnnlab.models.base
# (batch, carried state) -> (mean loss, final state): the trainer's training forward
Forward = Callable[[Any, "State | None"], "tuple[Tensor, State | None]"]

DEVICES = ("cpu", "cuda")


def env_rank() -> int:
    """This process's rank from torchrun's environment (0 without torchrun); no torch."""
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        raise RnnlabError(f"environment variable {name}={text!r} must be a whole number; "
                          "start rnnlab with torchrun, which sets it") from None


@dataclass
class Dist:
    """This process's place in the run. The default is one process: every method is then the
    identity or a no-op."""

    rank: int = 0
    local_rank: int = 0
    world: int = 1
    device: str = "cpu"
    empty_shard: bool = False  # the current training batch is a weight-0 stand-in

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def writer(self) -> bool:
        return self.rank == 0

    # -- collectives (identity with one process) ----------------------------------------
    def all_sum(self, values: list[float]) -> list[float]:
        if not self.active:
            return list(values)
        import torch
        import torch.distributed as td

        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        td.all_reduce(t)
        return t.tolist()

    def all_max(self, value: float) -> float:
        if not self.active:
            return value
        import torch
        import torch.distributed as td

        t = torch.tensor([value], dtype=torch.float64, device=self.device)
        td.all_reduce(t, op=td.ReduceOp.MAX)
        return float(t.item())

    def broadcast(self, obj: object) -> Any:
        """Rank 0's `obj` on every rank (pickled: checkpoints, error messages)."""
        if not self.active:
            return obj
        import torch.distributed as td

        box = [obj if self.writer else None]
        td.broadcast_object_list(box, src=0)
        return box[0]

    # -- the carried TBPTT state: B_r rows here, all B rows in a checkpoint ---------------
    def gather_state(self, state: State | None) -> State | None:
        """Every rank's rows of `state`, concatenated in rank order (on every rank)."""
        if not self.active or state is None:
            return state
        import torch.distributed as td

        parts: list[Any] = [None] * self.world
        td.all_gather_object(parts, (not self.empty_shard, _to_cpu(state)))
        real = [s for ok, s in parts if ok]
        return _cat_rows(real) if real else parts[0][1]

    def split_state(self, state: State | None) -> State | None:
        """This rank's rows of a state that holds all B rows (a checkpoint's carry)."""
        if state is None:
            return None
        if self.active:
            state = _map(state, lambda t: _rows_of(t, self.rank, self.world))
        return _map(state, lambda t: t.to(self.device))

    def guard_message(self, e: BaseException) -> str:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return (f"rank {self.rank} of {self.world}: lost contact with the other processes "
                f"({first[:200]}); another rank stopped (killed, crashed or out of memory). "
                "The checkpoints written so far are intact: run the same torchrun command "
                "with --resume to continue from the last one")


_CURRENT = Dist()
_REDUCING: list[Dist | None] = [None]


def current() -> Dist:
    """The running session (one process unless `start` joined a torchrun group)."""
    return _CURRENT


def _timeout_error(signum: int, frame: FrameType | None) -> None:
    raise RnnlabError(f"rank {_CURRENT.rank} was stopped by torchrun (signal {signum}): another "
                      "rank failed or was killed. The checkpoints written so far are intact: "
                      "run the same command with --resume to continue")


def start(device: str = "cpu", timeout: float = 300.0) -> Dist:
    """Join torchrun's process group when WORLD_SIZE > 1 (gloo on CPU, nccl on CUDA);
    otherwise one process on `device`. `timeout`: seconds a collective waits for a peer."""
    global _CURRENT
    import torch

    if device not in DEVICES:
        raise RnnlabError(f"--device must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise RnnlabError("--device cuda: torch sees no CUDA device (torch.cuda.is_available() "
                          "is False); use --device cpu")
    world, rank = _env_int("WORLD_SIZE", 1), _env_int("RANK", 0)
    local = _env_int("LOCAL_RANK", rank)
    if world < 1 or not 0 <= rank < world:
        raise RnnlabError(f"torchrun environment: RANK={rank} must lie in [0, WORLD_SIZE="
                          f"{world}); start rnnlab through torchrun")
    name = device
    if device == "cuda":  # one GPU per process on each node
        torch.cuda.set_device(local)
        name = f"cuda:{local}"
    if world > 1:
        import torch.distributed as td

        missing = [k for k in ("MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
        if missing:
            raise RnnlabError(f"WORLD_SIZE={world} but {', '.join(missing)} is not set; start "
                              "rnnlab with torchrun, which sets them")
        if not td.is_initialized():
            td.init_process_group("nccl" if device == "cuda" else "gloo",
                                  timeout=timedelta(seconds=timeout), rank=rank,
                                  world_size=world)
        signal.signal(signal.SIGTERM, _timeout_error)  # torchrun stops survivors with SIGTERM
    _CURRENT = Dist(rank, local, world, name)
    return _CURRENT


def close() -> None:
    """Leave the process group (each rank on its own: rank 0 may still be writing)."""
    global _CURRENT
    if _CURRENT.active:
        import torch.distributed as td

        if td.is_initialized():
            td.destroy_process_group()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _CURRENT = Dist()


@contextmanager
def session(device: str = "cpu", timeout: float = 300.0) -> Iterator[Dist]:
    """`start` ... `close`; a collective that fails because a peer is gone becomes one
    RnnlabError naming this rank and the way to resume."""
    dist = start(device, timeout)
    try:
        yield dist
    except RuntimeError as e:  # torch.distributed.DistError, gloo's and NCCL's errors
        if not (dist.active and _lost_peer(e)):
            raise
        raise RnnlabError(dist.guard_message(e)) from None
    finally:
        close()


def _lost_peer(e: BaseException) -> bool:
    import torch.distributed as td

    text = str(e).lower()
    return isinstance(e, td.DistError) or any(
        k in text for k in ("gloo", "nccl", "connection closed", "connection reset",
                            "timed out", "broken pipe"))


# -- validation: sums over every rank's shard -------------------------------------------
@contextmanager
def reducing(dist: Dist) -> Iterator[None]:
    """Inside: `sum_across_ranks` all-reduces over `dist` (the trainer's sharded validation).
    Outside it is the identity, so a task's `finish` on rank 0 alone never waits for a peer."""
    _REDUCING[0] = dist
    try:
        yield
    finally:
        _REDUCING[0] = None


def sum_across_ranks(*values: float) -> list[float]:
    """The sums of `values` over the ranks while validating a sharded split; else `values`.
    Validation functions add up their figures (NLL, tokens, errors) and call this once before
    dividing, so the printed figures are one process's."""
    dist = _REDUCING[0]
    return dist.all_sum([float(v) for v in values]) if dist is not None else [
        float(v) for v in values]


# -- sharding ---------------------------------------------------------------------------------
def row_range(rows: int, rank: int, world: int) -> tuple[int, int]:
    """Rows [lo, hi) of rank `rank`: contiguous, the first rows % world ranks one longer."""
    q, r = divmod(rows, world)
    lo = rank * q + min(rank, r)
    return lo, lo + q + (rank < r)


def _batch_dim(t: Tensor) -> int:
    # recurrent states are (L, B, H); window states, class vectors and batches are (B, ...)
    return 1 if t.dim() == 3 else 0


def _rows_of(t: Tensor, rank: int, world: int) -> Tensor:
    d = _batch_dim(t)
    lo, hi = row_range(t.shape[d], rank, world)
    return t.narrow(d, lo, hi - lo) if hi > lo else t.narrow(d, 0, 1)


def _map(state: State, fn: Callable[[Tensor], Tensor]) -> State:
    return tuple(fn(s) for s in state) if isinstance(state, tuple) else fn(state)


def _to_cpu(state: State) -> State:
    return _map(state, lambda t: t.detach().cpu())


def _cat_rows(parts: list[State]) -> State:
    import torch

    if isinstance(parts[0], tuple):
        return tuple(cast("Tensor", _cat_rows([p[i] for p in parts]))
                     for i in range(len(parts[0])))
    return torch.cat(cast("list[Tensor]", parts), dim=_batch_dim(parts[0]))


def shard_batch(batch: BatchT, rank: int, world: int) -> tuple[BatchT, bool]:
    """(rank `rank`'s rows of a batch NamedTuple, whether they are real). Every tensor field
    with B rows is cut (inputs, targets, lengths, labels ...) but the batch's
    `shared_fields`; flags stay. An empty share is row 0, to be trained with weight 0."""
    import torch

    B = batch[0].shape[0]
    lo, hi = row_range(B, rank, world)
    real = hi > lo
    lo, hi = (lo, hi) if real else (0, 1)
    shared = getattr(batch, "shared_fields", ())  # e.g. a TagBatch's per-form characters
    fields = {name: (v[lo:hi] if isinstance(v, torch.Tensor) and v.dim() and v.shape[0] == B
                     and name not in shared else v) for name, v in batch._asdict().items()}
    return batch._replace(**fields), real


def to_device(batch: BatchT, device: str) -> BatchT:
    import torch

    if device == "cpu":
        return batch
    return batch._replace(**{k: v.to(device) for k, v in batch._asdict().items()
                             if isinstance(v, torch.Tensor)})


class Source(Protocol):
    """A batch source (rnnlab.trainer.BatchSource) of batch NamedTuples."""

    def epoch(self, epoch: int = 0, start: int = 0) -> Iterator[NamedTuple]: ...

    def __len__(self) -> int: ...


class Sharded:
    """A batch source that yields this rank's rows of every batch of `source` (on the
    session's device). `train`: an empty share becomes a weight-0 stand-in (every rank steps
    in lockstep); otherwise it is skipped (validation adds nothing for it)."""

    def __init__(self, source: Source, dist: Dist, train: bool) -> None:
        self.source, self.dist, self.train = source, dist, train

    def __len__(self) -> int:
        return len(self.source)

    def __getattr__(self, name: str) -> Any:  # num_tokens, num_examples ... of the source
        return getattr(self.source, name)

    def epoch(self, epoch: int = 0, start: int = 0) -> Iterator[NamedTuple]:
        d = self.dist
        for batch in self.source.epoch(epoch, start):
            part, real = shard_batch(batch, d.rank, d.world)
            if self.train:
                d.empty_shard = not real
            elif not real:
                continue
            yield to_device(part, d.device)


# -- DDP ----------------------------------------------------------------------------------
def loss_weight(model: nn.Module, batch: NamedTuple) -> float:
    """n_r: what this rank's mean loss averages over. A model may say (`loss_weight(batch)`);
    else real targets of integer `targets` (LM, conditional, tagging, pairs), else the class
    weights (or count) of `labels`, else rows (forecast windows: a fixed count per row)."""
    import torch

    from rnnlab.losses import count_targets

    own = getattr(model, "loss_weight", None)
    if own is not None:
        return float(own(batch))
    targets = getattr(batch, "targets", None)
    if isinstance(targets, torch.Tensor) and not targets.is_floating_point():
        return float(count_targets(targets))
    labels = getattr(batch, "labels", None)
    if isinstance(labels, torch.Tensor):
        w = getattr(model, "class_weights", None)
        return float(w[labels].sum()) if w is not None else float(labels.numel())
    return float(batch[0].shape[0])


def ddp_forward(model: nn.Module, fwd: Forward, dist: Dist) -> Forward:
    """`fwd(batch, state) -> (mean loss, state)` run through DistributedDataParallel, its loss
    scaled by W n_r / N so DDP's average of gradients is the whole batch's gradient."""
    from torch import nn
    from torch.nn.parallel import DistributedDataParallel as DDP

    class LossStep(nn.Module):  # DDP wraps a module; this one's parameters are the model's
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, batch: NamedTuple, state: State | None, scale: float
                    ) -> tuple[Tensor, State | None]:
            loss, new_state = fwd(batch, state)
            return loss * scale, new_state  # scaled in the loss's dtype (float64 stays exact)

    ddp = DDP(LossStep(), device_ids=None if dist.device == "cpu" else [dist.local_rank])

    def step(batch: NamedTuple, state: State | None) -> tuple[Tensor, State | None]:
        n = 0.0 if dist.empty_shard else loss_weight(model, batch)
        (total,) = dist.all_sum([n])
        return ddp(batch, state, dist.world * n / total if total > 0 else 0.0)

    return step


def global_loss(dist: Dist, scaled: Tensor) -> float:
    """The whole batch's mean loss from each rank's scaled loss: sum_r (W n_r / N) mean_r / W."""
    if not dist.active:
        return float(scaled.item())
    (total,) = dist.all_sum([float(scaled.detach().item())])
    return total / dist.world
