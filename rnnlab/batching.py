"""Batching: token ids -> batch-first tensors. Never reads files.

Shapes: B batch, T time (`seq_len` for TBPTT chunks), N stream length, C context.

- `PaddedBatches`: many variable-length sequences (one per line). Each becomes
  inputs `[<bos>, w1 .. wn]` and targets `[w1 .. wn, <eos>]`, padded to the longest in the
  batch with `<pad>` / IGNORE_INDEX, with `lengths`. Reshuffled every epoch from (seed, epoch).
- `BpttStream`: one long stream cut into TBPTT chunks, two partitionings (d2l 9.3):

    sequential: the stream is laid out as B rows read in parallel; chunk k of every row
                continues chunk k-1, so the state is carried across batches (reset only at
                the start of an epoch).
        stream  a b c d e f g h i j k l m n o p q r s t u v w x   (N=24, B=2, seq_len=3)
        row 0   a b c | d e f | g h i | j k       rows of (N-1)//B = 11 tokens
        row 1   l m n | o p q | r s t | u v
                batch0  batch1  batch2  batch3    (targets: each row shifted by one)
    random:     each epoch starts at a random offset, cuts chunks of seq_len and shuffles
                them; neighbouring batches are unrelated, so the state resets every batch.

- `windows(ids, context)`: fixed windows (N-C, C) -> next token (N-C,) for window models
  fitted outside the shared batches.

Ids are kept as compact int32 NumPy arrays and widened per batch.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator, Sequence
from typing import Literal

import numpy as np
import torch

from rnnlab.errors import RnnlabError
from rnnlab.losses import IGNORE_INDEX
from rnnlab.models.base import LMBatch
from rnnlab.tokenizers import BOS_ID, EOS_ID, PAD_ID

Partition = Literal["sequential", "random"]
RELEASE_EVERY = 1024  # batches between releases of a memory-mapped stream's pages


def _generator(seed: int, epoch: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(seed * 1_000_003 + epoch)
    return g


def pad_batch(seqs: Sequence[Sequence[int]]) -> LMBatch:
    """Sequences of ids (without <bos>/<eos>) -> a padded LMBatch."""
    lengths = [len(s) + 1 for s in seqs]
    T = max(lengths)
    B = len(seqs)
    inputs = torch.full((B, T), PAD_ID, dtype=torch.long)
    targets = torch.full((B, T), IGNORE_INDEX, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids = torch.as_tensor(s, dtype=torch.long)
        n = len(s)
        inputs[i, 0] = BOS_ID
        inputs[i, 1 : n + 1] = ids
        targets[i, :n] = ids
        targets[i, n] = EOS_ID
    return LMBatch(inputs, targets, torch.tensor(lengths), True)


class PaddedBatches:
    def __init__(
        self, seqs: list[list[int]], batch_size: int, shuffle: bool = True, seed: int = 0
    ) -> None:
        if not seqs:
            raise RnnlabError("no sequences to batch; the data split is empty")
        self.seqs, self.batch_size, self.shuffle, self.seed = seqs, batch_size, shuffle, seed

    def __len__(self) -> int:
        return -(-len(self.seqs) // self.batch_size)

    def num_tokens(self) -> int:
        return sum(len(s) + 1 for s in self.seqs)

    def epoch(self, epoch: int = 0, start: int = 0) -> Iterator[LMBatch]:
        """Batches of one epoch, from batch index `start` (to resume mid-epoch exactly)."""
        n = len(self.seqs)
        order = (
            torch.randperm(n, generator=_generator(self.seed, epoch)).tolist()
            if self.shuffle else list(range(n))
        )
        for b in range(start, len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            yield pad_batch([self.seqs[i] for i in idx])


class BpttStream:
    def __init__(
        self,
        ids: np.ndarray | Sequence[int],
        batch_size: int,
        seq_len: int,
        partition: Partition = "sequential",
        seed: int = 0,
    ) -> None:
        # (N,) compact, 4 bytes a token; asanyarray keeps a memory map mapped (never loaded)
        self.ids = np.asanyarray(ids, dtype=np.int32)
        if partition not in ("sequential", "random"):
            raise RnnlabError(f"partition must be 'sequential' or 'random', got {partition!r}")
        if len(self.ids) < seq_len + 1:
            raise RnnlabError(
                f"the stream has {len(self.ids)} tokens, fewer than --seq-len {seq_len} + 1; "
                "use a shorter --seq-len or more data"
            )
        self.batch_size = max(1, min(batch_size, (len(self.ids) - 1) // seq_len))
        self.seq_len, self.partition, self.seed = seq_len, partition, seed

    def __len__(self) -> int:
        if self.partition == "sequential":
            rows = (len(self.ids) - 1) // self.batch_size
            return -(-rows // self.seq_len)
        return max(1, (len(self.ids) - 1) // self.seq_len // self.batch_size)

    def num_tokens(self) -> int:
        return len(self.ids) - 1

    def epoch(self, epoch: int = 0, start: int = 0) -> Iterator[LMBatch]:
        if self.partition == "sequential":
            yield from self._sequential(start)
        else:
            yield from self._random(epoch, start)

    def _release_pages(self) -> None:
        """Unmap the pages of a memory-mapped stream read so far. Resident file pages count
        toward the process's RSS (though the kernel can reclaim them); dropping them keeps
        RSS bounded by the model, not the corpus. The data stays in the page cache."""
        mm = getattr(self.ids, "_mmap", None)  # np.memmap's mmap.mmap (None: in memory)
        if mm is not None and hasattr(mm, "madvise"):
            mm.madvise(mmap.MADV_DONTNEED)

    def _sequential(self, start: int) -> Iterator[LMBatch]:
        B, T = self.batch_size, self.seq_len
        rows = (len(self.ids) - 1) // B
        # (B, rows) views of the int32 stream: row r reads ids[r*rows : (r+1)*rows] and its
        # targets are the same stretch shifted by one; widened to int64 one chunk at a time
        x = self.ids[: rows * B].reshape(B, rows)
        y = self.ids[1 : rows * B + 1].reshape(B, rows)
        for k in range(start, len(self)):
            s = k * T
            if k % RELEASE_EVERY == 0:
                self._release_pages()
            yield LMBatch(
                torch.from_numpy(x[:, s : s + T].astype(np.int64)),
                torch.from_numpy(y[:, s : s + T].astype(np.int64)),
                None,
                k == 0,
            )

    def _random(self, epoch: int, start: int) -> Iterator[LMBatch]:
        B, T = self.batch_size, self.seq_len
        g = _generator(self.seed, epoch)
        offset = int(torch.randint(0, T, (1,), generator=g))
        n_chunks = (len(self.ids) - 1 - offset) // T
        starts = offset + T * torch.randperm(n_chunks, generator=g)
        ids = self.ids
        for k in range(start, len(self)):
            st = starts[k * B : (k + 1) * B].tolist()
            if not st:
                return
            if k % 8 == 0:  # a random batch faults in ~2B scattered 64 KB stretches
                self._release_pages()
            x = np.stack([ids[s : s + T] for s in st]).astype(np.int64)  # (B, T)
            y = np.stack([ids[s + 1 : s + T + 1] for s in st]).astype(np.int64)
            yield LMBatch(torch.from_numpy(x), torch.from_numpy(y), None, True)


def windows(ids: np.ndarray | Sequence[int], context: int) -> tuple[np.ndarray, np.ndarray]:
    """All windows of `context` tokens and the token after each: (N-C, C), (N-C,)."""
    a = np.asarray(ids)
    if len(a) <= context:
        raise RnnlabError(f"need more than --context {context} tokens, got {len(a)}")
    x = np.lib.stride_tricks.sliding_window_view(a[:-1], context)  # (N-C, C)
    return x.copy(), a[context:].copy()


# -- series windows (forecasting) ---------------------------------------------------------
# Shapes: B batch, C context (past values a model reads), H horizon (future values).
#
#   series  x0 x1 x2 x3 x4 x5 x6 x7 x8 x9          (C=3, H=2)
#   origin t=3:  inputs x0 x1 x2 | targets x3 x4
#   origin t=4:  inputs x1 x2 x3 | targets x4 x5   ... one window per origin t
# A split only owns its targets: origins are chosen so every target lies inside [lo, hi),
# while the inputs may reach back into earlier splits (the past is known at forecast time).


from typing import NamedTuple  # noqa: E402 - this section was appended to the module


class Scaler:
    """Standard scaling z = (x - mean) / std with statistics of the training part only, so
    no value of the validation or test part leaks into training. Travels in the checkpoint."""

    def __init__(self, mean: float = 0.0, std: float = 1.0) -> None:
        self.mean, self.std = float(mean), float(std)

    @classmethod
    def fit(cls, train: Sequence[float] | np.ndarray) -> Scaler:
        a = np.asarray(train, dtype=np.float64)
        if a.size == 0:
            raise RnnlabError("cannot fit a scaler on an empty training part; pass more data")
        std = float(a.std())
        return cls(float(a.mean()), std if std > 0 else 1.0)  # a constant series: unit scale

    def transform(self, x: np.ndarray | Sequence[float]) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - self.mean) / self.std

    def inverse(self, z: np.ndarray | Sequence[float]) -> np.ndarray:
        return np.asarray(z, dtype=np.float64) * self.std + self.mean

    def to_dict(self) -> dict[str, float]:
        return {"kind": "standard", "mean": self.mean, "std": self.std}  # type: ignore[dict-item]

    @classmethod
    def from_dict(cls, d: dict) -> Scaler:
        return cls(d["mean"], d["std"])


class SeriesBatch(NamedTuple):
    """One batch of forecasting windows (scaled values)."""

    inputs: torch.Tensor  # (B, C) float32: x_{t-C} .. x_{t-1}, oldest first
    targets: torch.Tensor | None  # (B, H) float32: x_t .. x_{t+H-1}; None when only forecasting
    reset: bool = True  # every window starts from an empty state (windows are independent)


def series_origins(n: int, context: int, horizon: int, lo: int, hi: int) -> np.ndarray:
    """Forecast origins t with a full context before t and all H targets inside [lo, hi)."""
    return np.arange(max(lo, context), min(hi, n) - horizon + 1, dtype=np.int64)


def series_windows(
    values: np.ndarray, origins: np.ndarray, context: int, horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """inputs (N_o, C) = values[t-C:t] and targets (N_o, H) = values[t:t+H] per origin t."""
    v = np.asarray(values)
    idx_in = origins[:, None] + np.arange(-context, 0)[None, :]  # (N_o, C)
    idx_out = origins[:, None] + np.arange(horizon)[None, :]  # (N_o, H)
    return v[idx_in], v[idx_out]


class SeriesWindows:
    """Batch source over the windows of one split; reshuffled every epoch from (seed, epoch)
    when `shuffle`, which reorders whole windows and never mixes values across time."""

    def __init__(
        self, values: np.ndarray, context: int, horizon: int, lo: int, hi: int,
        batch_size: int, shuffle: bool = False, seed: int = 0,
    ) -> None:
        self.origins = series_origins(len(values), context, horizon, lo, hi)
        if len(self.origins) == 0:
            raise RnnlabError(
                f"the split [{lo}, {hi}) of a {len(values)}-value series holds no window of "
                f"--context {context} + --horizon {horizon}; use a smaller --context or "
                "--horizon, or larger splits"
            )
        x, y = series_windows(values, self.origins, context, horizon)
        self.inputs = torch.as_tensor(x, dtype=torch.float32)  # (N_o, C)
        self.targets = torch.as_tensor(y, dtype=torch.float32)  # (N_o, H)
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed

    def __len__(self) -> int:
        return -(-len(self.origins) // self.batch_size)

    def num_windows(self) -> int:
        return len(self.origins)

    def epoch(self, epoch: int = 0, start: int = 0) -> Iterator[SeriesBatch]:
        """Batches of one epoch, from batch index `start` (to resume mid-epoch exactly)."""
        n = len(self.origins)
        order = (torch.randperm(n, generator=_generator(self.seed, epoch)) if self.shuffle
                 else torch.arange(n))
        for b in range(start, len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            yield SeriesBatch(self.inputs[idx], self.targets[idx], True)
