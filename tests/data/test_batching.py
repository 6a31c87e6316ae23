"""rnnlab/data/batching.py: padding, padded batches that resume mid-epoch, BPTT streams
(sequential rows continue, random partition tiles the stream, memory-mapped ids equal
in-memory ones), pair batches, and sliding windows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from rnnlab.data.batching import BpttStream, PaddedBatches, PairBatches, pad_batch, windows
from rnnlab.data.tokenizers import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    Tokenizer,
    encode_file_to_npy,
    encode_split,
    fit_tokenizer_streamed,
)
from rnnlab.losses import IGNORE_INDEX


def test_pad_batch_layout() -> None:
    b = pad_batch([[5, 6, 7], [8]])
    assert b.inputs.tolist() == [[BOS_ID, 5, 6, 7], [BOS_ID, 8, PAD_ID, PAD_ID]]
    assert b.targets.tolist() == [[5, 6, 7, EOS_ID], [8, EOS_ID, IGNORE_INDEX, IGNORE_INDEX]]
    assert b.lengths.tolist() == [4, 2]


def test_padded_batches_cover_every_sequence_once_and_resume_mid_epoch() -> None:
    seqs = [[4 + i] for i in range(10)]
    pb = PaddedBatches(seqs, 3, shuffle=True, seed=1)
    seen = sorted(int(x) for b in pb.epoch(2) for x in b.inputs[:, 1])
    assert seen == list(range(4, 14)) and len(pb) == 4
    full = [b.inputs for b in pb.epoch(2)]
    tail = [b.inputs for b in pb.epoch(2, start=2)]
    assert all(torch.equal(a, b) for a, b in zip(full[2:], tail, strict=True))


def test_bptt_sequential_rows_continue_across_batches() -> None:
    ids = np.arange(24)
    s = BpttStream(ids, batch_size=2, seq_len=3)
    batches = list(s.epoch(0))
    assert [b.reset for b in batches] == [True, False, False, False]
    row0 = torch.cat([b.inputs[0] for b in batches]).tolist()
    row1 = torch.cat([b.inputs[1] for b in batches]).tolist()
    assert row0 == list(range(0, 11)) and row1 == list(range(11, 22))
    for b in batches:
        assert torch.equal(b.targets, b.inputs + 1)
    assert s.ids.dtype == np.int32


def test_bptt_random_partition_resets_and_tiles_the_stream() -> None:
    ids = np.arange(100)
    s = BpttStream(ids, batch_size=4, seq_len=5, partition="random", seed=3)
    batches = list(s.epoch(0))
    assert all(b.reset for b in batches)
    starts = sorted(int(b.inputs[i, 0]) for b in batches for i in range(b.inputs.shape[0]))
    offset = starts[0]
    assert offset < 5 and all((x - offset) % 5 == 0 for x in starts)
    assert len(set(starts)) == len(starts)
    assert [b.inputs.tolist() for b in s.epoch(1)] != [b.inputs.tolist() for b in batches]


def test_windows() -> None:
    x, y = windows([1, 2, 3, 4, 5], 3)
    assert x.tolist() == [[1, 2, 3], [2, 3, 4]] and y.tolist() == [4, 5]


def test_memmap_stream_yields_the_same_batches_as_in_memory(tmp_path) -> None:
    text = "the cat sat on the mat\n a dog  barked\n\nthe end\n" * 50
    f = tmp_path / "t.txt"
    f.write_text(text)
    tok, stats = fit_tokenizer_streamed(str(f))
    assert tok.to_dict() == Tokenizer.fit(text.split("\n"), "word").to_dict()
    for direction in ("l2r", "r2l"):
        mem = np.asarray(encode_split(tok, "text", text, direction), dtype=np.int32)
        mm = encode_file_to_npy(tok, str(f), tmp_path / f"{direction}.npy", stats.tokens,
                                direction)
        assert isinstance(mm, np.memmap) and stats.tokens == len(mem)
        np.testing.assert_array_equal(mm, mem)
        for partition in ("sequential", "random"):
            a = BpttStream(mem, 3, 5, partition, seed=1)
            b = BpttStream(mm, 3, 5, partition, seed=1)
            assert isinstance(b.ids, np.memmap)  # read in place, never copied whole
            for ba, bb in zip(a.epoch(2), b.epoch(2), strict=True):
                assert torch.equal(ba.inputs, bb.inputs) and torch.equal(ba.targets, bb.targets)
                assert ba.reset == bb.reset


# 80 Tatoeba lines, 3 columns
PAIRS = Path(__file__).resolve().parents[1] / "fixtures" / "pairs_tiny.tsv"


# -- batches ---------------------------------------------------------------------------------
def test_pair_batches_cover_every_pair_once_and_resume_mid_epoch():
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 12, (2, 103), generator=g).tolist()
    src = [torch.randint(4, 50, (n,), generator=g).tolist() for n in lengths[0]]
    tgt = [torch.randint(4, 50, (n,), generator=g).tolist() for n in lengths[1]]
    b = PairBatches(src, tgt, 8, shuffle=True, seed=3)
    assert len(b) == 13
    seen = [i for idx, _ in b.indexed_epoch(1) for i in idx]
    assert sorted(seen) == list(range(103))
    assert [x for x, _ in b.indexed_epoch(1, 5)] == [x for x, _ in b.indexed_epoch(1)][5:]
    assert [x for x, _ in b.indexed_epoch(2)] != [x for x, _ in b.indexed_epoch(1)]
    idx, batch = next(iter(b.indexed_epoch(0)))
    for row, i in enumerate(idx):
        n, m = len(src[i]), len(tgt[i])
        assert batch.src_lengths[row] == n and batch.src[row, :n].tolist() == src[i]
        assert (batch.src[row, n:] == PAD_ID).all()
        assert batch.inputs[row, : m + 1].tolist() == [BOS_ID, *tgt[i]]
        assert batch.targets[row, : m + 1].tolist() == [*tgt[i], EOS_ID]
        assert (batch.targets[row, m + 1:] == IGNORE_INDEX).all()
    # bucketing: sorting pools by length leaves less padding than random batches
    pad = sum(int((x.src == PAD_ID).sum()) for x in b.epoch(0))
    assert pad < sum(8 * max(len(src[i]) for i in range(k, min(k + 8, 103))) - sum(
        len(src[i]) for i in range(k, min(k + 8, 103))) for k in range(0, 103, 8))
