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

- `TagBatches`: sentences with a tag per word, bucketed by length (`TagBatch`).
- `PairBatches`: (source, target) id pairs for an encoder-decoder: the source padded with
  its lengths, the target as `<bos> y1 .. yn` / `y1 .. yn <eos>`; batches drawn from pools of
  similar lengths (bucketing: little padding), the pools and the batch order reshuffled
  every epoch from (seed, epoch).
- `windows(ids, context)`: fixed windows (N-C, C) -> next token (N-C,) for window models
  fitted outside the shared batches.

Ids are kept as compact int32 NumPy arrays and widened per batch.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Literal, cast

import numpy as np
import torch

from rnnlab.data.tokenizers import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from rnnlab.errors import RnnlabError
from rnnlab.losses import IGNORE_INDEX
from rnnlab.models.base import ClassBatch, CondBatch, LMBatch, PairBatch, TagBatch

if TYPE_CHECKING:
    from rnnlab.config import TrainConfig

Partition = Literal["sequential", "random"]
RELEASE_EVERY = 1024  # batches between releases of a memory-mapped stream's pages


def seeded_generator(seed: int, epoch: int) -> torch.Generator:
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
    """Variable-length sequences (one per line) as padded batches: each becomes inputs
    `<bos> w1 .. wn` and targets `w1 .. wn <eos>`, padded to the batch's longest with
    `lengths` (B,); reshuffled every epoch from (seed, epoch) when `shuffle`."""

    def __init__(
        self, seqs: Sequence[Sequence[int]], batch_size: int, shuffle: bool = True, seed: int = 0
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
        for _, batch in self.indexed_epoch(epoch, start):
            yield batch

    def indexed_epoch(self, epoch: int = 0, start: int = 0) -> Iterator[tuple[list[int], LMBatch]]:
        """(indices of the sequences, batch) of one epoch."""
        n = len(self.seqs)
        order = (
            torch.randperm(n, generator=seeded_generator(self.seed, epoch)).tolist()
            if self.shuffle else list(range(n))
        )
        for b in range(start, len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            yield idx, pad_batch([self.seqs[i] for i in idx])


class BpttStream:
    """One long token stream (N,) as truncated-BPTT chunks: `epoch(k)` yields LMBatch
    (B, seq_len) inputs and targets shifted by one. `partition="sequential"` lays the stream
    out as B rows read in parallel, so chunk k continues chunk k-1 and the trainer carries the
    state across batches (reset=False); `"random"` starts each epoch at a random offset and
    shuffles the chunks, so every batch starts from a zero state. `start` resumes mid-epoch.
    The stream stays int32 (a memory map stays mapped): memory is 4 bytes a token.

        >>> s = BpttStream(ids, batch_size=32, seq_len=64)
        >>> batch = next(iter(s.epoch(0)))  # batch.inputs: (32, 64)
    """

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
        g = seeded_generator(self.seed, epoch)
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


class EvalStream:
    """A stream scored in `rows` parallel rows, every target exactly once.

    The N-1 targets (token j predicted from tokens < j) are cut into `rows` contiguous
    pieces; row k reads its piece in chunks of `seq_len` with the state carried, after a
    warm-up of up to `warmup` preceding tokens whose targets are not scored, so each row
    starts with context as the one-row pass would (truncated to `warmup` tokens). Rows are
    padded at their end (`<pad>` in, IGNORE_INDEX out). rows = 1 is the exact one-row pass.

        stream  t0 t1 t2 t3 t4 t5 t6 t7 t8     (N=9, rows=2, warmup=2)
        row 0   in  t0 t1 t2 t3        targets t1 t2 t3 t4
        row 1   in  t2 t3 t4 t5 t6 t7  targets (t3 t4) t5 t6 t7 t8   (warm-up unscored)
    """

    def __init__(self, ids: np.ndarray | Sequence[int], rows: int, seq_len: int,
                 warmup: int) -> None:
        a = np.asanyarray(ids, dtype=np.int32)
        n = len(a) - 1  # targets
        if n < 1:
            raise RnnlabError("a stream scores every token after the first: it needs two")
        rows = max(1, min(rows, n))
        bounds = np.linspace(1, n + 1, rows + 1).round().astype(np.int64)  # target positions
        starts = [max(1, int(b) - warmup) for b in bounds[:-1]]
        L = max(int(e) - s for s, e in zip(starts, bounds[1:], strict=True))
        self.inputs = np.full((rows, L), PAD_ID, dtype=np.int64)  # (B, L)
        self.targets = np.full((rows, L), IGNORE_INDEX, dtype=np.int64)
        for r, (s, b, e) in enumerate(zip(starts, bounds[:-1], bounds[1:], strict=True)):
            m = int(e) - s
            self.inputs[r, :m] = a[s - 1 : int(e) - 1]
            self.targets[r, int(b) - s : m] = a[int(b) : int(e)]
        self.seq_len = seq_len
        self.n_targets = n

    def __len__(self) -> int:
        return -(-self.inputs.shape[1] // self.seq_len)

    def num_tokens(self) -> int:
        return self.n_targets

    def epoch(self, epoch: int = 0, start: int = 0) -> Iterator[LMBatch]:
        T = self.seq_len
        for k in range(start, len(self)):
            yield LMBatch(torch.from_numpy(self.inputs[:, k * T : (k + 1) * T]),
                          torch.from_numpy(self.targets[:, k * T : (k + 1) * T]), None, k == 0)


class ClassBatches:
    """Labeled sequences (ids, label) in padded batches (`ClassBatch`), reshuffled every
    epoch from (seed, epoch) when `shuffle`. An empty sequence reads one `<unk>` so every
    example has a real step to pool over."""

    def __init__(self, seqs: Sequence[Sequence[int]], labels: Sequence[int] | None,
                 batch_size: int, shuffle: bool = False, seed: int = 0) -> None:
        self.seqs = [list(s) if len(s) else [UNK_ID] for s in seqs]
        self.labels = list(labels) if labels is not None else None
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed

    def __len__(self) -> int:
        return -(-len(self.seqs) // self.batch_size)

    def num_examples(self) -> int:
        return len(self.seqs)

    def batch(self, idx: Sequence[int]) -> ClassBatch:
        lengths = torch.tensor([len(self.seqs[i]) for i in idx])
        inputs = torch.full((len(idx), int(lengths.max())), PAD_ID, dtype=torch.long)  # (B, T)
        for row, i in enumerate(idx):
            inputs[row, : lengths[row]] = torch.as_tensor(self.seqs[i])
        labels = torch.tensor([self.labels[i] for i in idx]) if self.labels is not None else None
        return ClassBatch(inputs, lengths, labels, True)

    def epoch(self, epoch: int = 0, start: int = 0) -> Iterator[ClassBatch]:
        n = len(self.seqs)
        order = (torch.randperm(n, generator=seeded_generator(self.seed, epoch)).tolist()
                 if self.shuffle else list(range(n)))
        for b in range(start, len(self)):
            yield self.batch(order[b * self.batch_size : (b + 1) * self.batch_size])


class CondBatches:
    """Sequences with a class each, as `PaddedBatches` (<bos> ... / ... <eos>, padded) plus
    the class ids (`CondBatch`), reshuffled every epoch from (seed, epoch) when `shuffle`."""

    def __init__(self, seqs: Sequence[Sequence[int]], labels: Sequence[int], batch_size: int,
                 shuffle: bool = False, seed: int = 0) -> None:
        self.lines = PaddedBatches(seqs, batch_size, shuffle, seed)
        self.labels = torch.as_tensor(list(labels), dtype=torch.long)

    def __len__(self) -> int:
        return len(self.lines)

    def num_tokens(self) -> int:
        return self.lines.num_tokens()

    def epoch(self, epoch: int = 0, start: int = 0) -> Iterator[CondBatch]:
        for idx, b in self.lines.indexed_epoch(epoch, start):
            yield CondBatch(b.inputs, b.targets, b.lengths, self.labels[idx], True)


class PairBatches:
    """Sentence pairs in `PairBatch`es. Training (`shuffle`): each epoch the pairs are
    shuffled from (seed, epoch), cut into pools of `POOL` batches, each pool sorted by
    (source, target) length and cut into batches, and the batch order shuffled, so a batch
    holds sentences of similar lengths (padding costs little) and every pair is seen once
    an epoch. Without `shuffle` the pairs are sorted by length once (evaluation; the order
    does not change a summed NLL). `indexed_epoch` also yields each batch's pair indices.
    Memory: the ids as Python lists; a batch is B x (S + T) int64."""

    POOL = 50  # batches per sorting pool: short enough to keep batches random

    def __init__(self, src: Sequence[Sequence[int]], tgt: Sequence[Sequence[int]],
                 batch_size: int, shuffle: bool = False, seed: int = 0) -> None:
        if not src:
            raise RnnlabError("no sentence pairs to batch; the data split is empty")
        if len(src) != len(tgt):
            raise ValueError(f"{len(src)} sources for {len(tgt)} targets")
        # an empty source reads one <unk>, so the encoder has a real step
        self.src = [list(s) if len(s) else [UNK_ID] for s in src]
        self.tgt = [list(t) for t in tgt]
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed

    def __len__(self) -> int:
        return -(-len(self.src) // self.batch_size)

    def num_tokens(self) -> int:
        """Target tokens scored (each target's <eos> included)."""
        return sum(len(t) + 1 for t in self.tgt)

    def _length(self, i: int) -> tuple[int, int]:
        return len(self.src[i]), len(self.tgt[i])

    def order(self, epoch: int) -> list[list[int]]:
        """The batches (lists of pair indices) of one epoch."""
        n, B = len(self.src), self.batch_size
        if not self.shuffle:
            idx = sorted(range(n), key=self._length)
            return [idx[k:k + B] for k in range(0, n, B)]
        g = seeded_generator(self.seed, epoch)
        perm = torch.randperm(n, generator=g).tolist()
        batches = []
        for p in range(0, n, self.POOL * B):
            pool = sorted(perm[p:p + self.POOL * B], key=self._length)
            batches += [pool[k:k + B] for k in range(0, len(pool), B)]
        return [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]

    def batch(self, idx: Sequence[int]) -> PairBatch:
        src_lengths = torch.tensor([len(self.src[i]) for i in idx])
        src = torch.full((len(idx), int(src_lengths.max())), PAD_ID, dtype=torch.long)  # (B, S)
        for row, i in enumerate(idx):
            src[row, : src_lengths[row]] = torch.as_tensor(self.src[i])
        t = pad_batch([self.tgt[i] for i in idx])  # <bos> y .. / y .. <eos>, (B, T)
        return PairBatch(src, src_lengths, t.inputs, t.targets, True)

    def epoch(self, epoch: int = 0, start: int = 0) -> Iterator[PairBatch]:
        """Batches of one epoch, from batch index `start` (to resume mid-epoch exactly)."""
        for _, b in self.indexed_epoch(epoch, start):
            yield b

    def indexed_epoch(self, epoch: int = 0, start: int = 0
                      ) -> Iterator[tuple[list[int], PairBatch]]:
        for idx in self.order(epoch)[start:]:
            yield idx, self.batch(idx)


def windows(ids: np.ndarray | Sequence[int], context: int) -> tuple[np.ndarray, np.ndarray]:
    """All windows of `context` tokens and the token after each: (N-C, C), (N-C,)."""
    a = np.asarray(ids)
    if len(a) <= context:
        raise RnnlabError(f"need more than --context {context} tokens, got {len(a)}")
    x = np.lib.stride_tricks.sliding_window_view(a[:-1], context)  # (N-C, C)
    return x.copy(), a[context:].copy()


def lm_batches(
    ids: list[list[int]] | list[int] | np.ndarray, fmt: str, tc: TrainConfig, train: bool,
    rows: int = 1,
) -> PaddedBatches | BpttStream | EvalStream | None:
    """Training or evaluation batches of a language model (`tc`: the TrainConfig).
    Evaluation of a stream reads it once, in order, in `rows` parallel rows with the state
    carried along each row (1: exact, every token after the first scored with its whole
    history; B > 1 is faster: every token is still scored once, each row after a warm-up of
    max(seq_len, 256) tokens of context; see EvalStream)."""
    if len(ids) == 0:
        return None
    if fmt == "lines":
        return PaddedBatches(cast(list[list[int]], ids),
                             tc.batch_size if train else tc.eval_batch_size,
                             shuffle=train, seed=tc.seed)
    stream = cast("np.ndarray | list[int]", ids)  # "text": one stream of ids
    if train:
        return BpttStream(stream, tc.batch_size, tc.seq_len, cast(Partition, tc.partition),
                          tc.seed)
    if len(ids) < 2:  # a stream scores every token after the first
        return None
    chunk = max(tc.seq_len, 256)  # chunks only bound memory here
    if rows == 1:
        return BpttStream(stream, 1, min(chunk, len(ids) - 1), "sequential")
    return EvalStream(stream, rows, chunk, warmup=chunk)


class TagBatches:
    """Sentences with one tag per word, in padded `TagBatch`es.

    `words[i]` are sentence i's word ids, `forms[i]` the ids of its word forms in the table
    `form_chars` (character ids of every distinct form, already capped in length), `tags[i]`
    its tag ids (None to predict). Training order (`shuffle`): a seeded permutation from
    (seed, epoch), cut into pools of 50 batches, each pool sorted by length and cut into
    batches, the batches shuffled: sentences of a batch have similar lengths (little padding)
    and the order still changes every epoch. Evaluation order: longest first; `indexed_epoch`
    gives each batch's sentence indices. Memory of a batch: B * T word ids plus U * C
    character ids (U <= B * T distinct forms, C the cap of `form_chars`).
    """

    POOL = 50  # batches sorted together

    def __init__(self, words: Sequence[Sequence[int]], forms: Sequence[Sequence[int]],
                 form_chars: Sequence[Sequence[int]], tags: Sequence[Sequence[int]] | None,
                 batch_size: int, shuffle: bool = False, seed: int = 0) -> None:
        if not words:
            raise RnnlabError("no sentences to batch; the data split is empty")
        if any(len(w) == 0 for w in words):
            raise RnnlabError("a sentence to tag has no words")
        self.words, self.forms, self.form_chars, self.tags = words, forms, form_chars, tags
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.lengths = np.array([len(w) for w in words])

    def __len__(self) -> int:
        return -(-len(self.words) // self.batch_size)

    def num_tokens(self) -> int:
        return int(self.lengths.sum())

    def order(self, epoch: int) -> list[list[int]]:
        """The sentence indices of every batch of one epoch."""
        n, bs = len(self.words), self.batch_size
        if not self.shuffle:
            idx = np.argsort(-self.lengths, kind="stable").tolist()
            return [idx[b * bs : (b + 1) * bs] for b in range(len(self))]
        g = seeded_generator(self.seed, epoch)
        perm = torch.randperm(n, generator=g).numpy()
        batches = []
        pool = bs * self.POOL
        for s in range(0, n, pool):
            chunk = perm[s : s + pool]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")].tolist()
            batches += [chunk[b : b + bs] for b in range(0, len(chunk), bs)]
        shuffled = torch.randperm(len(batches), generator=g).tolist()
        return [batches[i] for i in shuffled]

    def batch(self, idx: Sequence[int]) -> TagBatch:
        lengths = torch.as_tensor(self.lengths[list(idx)], dtype=torch.long)
        B, T = len(idx), int(lengths.max())
        words = torch.full((B, T), PAD_ID, dtype=torch.long)  # (B, T)
        forms = torch.zeros((B, T), dtype=torch.long)  # (B, T)
        tags = (torch.full((B, T), IGNORE_INDEX, dtype=torch.long)
                if self.tags is not None else None)
        rows: dict[int, int] = {}  # form id -> row of the batch's character table
        for r, i in enumerate(idx):
            n = len(self.words[i])
            words[r, :n] = torch.as_tensor(self.words[i])
            forms[r, :n] = torch.as_tensor([rows.setdefault(f, len(rows))
                                            for f in self.forms[i]])
            if tags is not None:
                tags[r, :n] = torch.as_tensor(cast(Sequence[Sequence[int]], self.tags)[i])
        spelled = [self.form_chars[f] for f in rows]  # insertion order = row order
        char_lengths = torch.as_tensor([len(c) for c in spelled], dtype=torch.long)  # (U,)
        chars = torch.zeros((len(spelled), int(char_lengths.max())), dtype=torch.long)
        for u, c in enumerate(spelled):
            chars[u, : len(c)] = torch.as_tensor(c)
        return TagBatch(words, chars, char_lengths, forms, lengths, tags, True)

    def indexed_epoch(self, epoch: int = 0, start: int = 0
                      ) -> Iterator[tuple[list[int], TagBatch]]:
        for idx in self.order(epoch)[start:]:
            yield idx, self.batch(idx)

    def epoch(self, epoch: int = 0, start: int = 0) -> Iterator[TagBatch]:
        for _, b in self.indexed_epoch(epoch, start):
            yield b
