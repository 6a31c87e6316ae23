"""Tokenizers, readers, splits and batching against hand-computed values."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab.batching import BpttStream, PaddedBatches, pad_batch, windows
from rnnlab.datasets import embedded_names, read_lines, read_text, split_lines, split_text
from rnnlab.errors import RnnlabError
from rnnlab.losses import IGNORE_INDEX
from rnnlab.tokenizers import BOS_ID, EOS_ID, PAD_ID, UNK_ID, Tokenizer, Vocab


def test_vocab_specials_and_frequency_order() -> None:
    v = Vocab.build([list("abracadabra")])
    assert v.itos[:4] == ["<pad>", "<unk>", "<bos>", "<eos>"]
    assert v.itos[4:] == ["a", "b", "r", "c", "d"]  # 5, 2, 2 (b < r), 1, 1
    assert v.encode("abz") == [4, 5, UNK_ID]
    assert (PAD_ID, UNK_ID, BOS_ID, EOS_ID) == (0, 1, 2, 3)


def test_word_tokenizer_maps_literal_unk_to_unk_id() -> None:
    tok = Tokenizer.fit(["the <unk> cat", "the dog"], "word")
    assert tok.encode("the <unk> fish") == [tok.vocab.stoi["the"], UNK_ID, UNK_ID]
    assert Tokenizer.from_dict(tok.to_dict()).vocab.itos == tok.vocab.itos


def test_encode_strict_names_the_unknown_characters() -> None:
    tok = Tokenizer.fit(["abc"], "char")
    with pytest.raises(RnnlabError, match="'z'"):
        tok.encode_strict("abz", "--prompt")


def test_embedded_names_are_real_spanish_names() -> None:
    names = embedded_names()
    assert 1400 <= len(names) <= 2500
    assert len(set(names)) == len(names)
    assert {"María", "José", "Alejandro"} <= set(names)


def test_split_lines_is_seeded_and_disjoint() -> None:
    lines = [f"n{i}" for i in range(100)]
    train, val, test = split_lines(lines, 7, 10, 20)
    shuffled = list(lines)
    random.Random(7).shuffle(shuffled)
    assert test == shuffled[:20] and val == shuffled[20:30] and train == shuffled[30:]
    assert split_lines(lines, 7, 10, 20) == (train, val, test)


def test_split_text_is_contiguous() -> None:
    text = "".join(f"line {i}\n" for i in range(1000))
    a, b, c = split_text(text, 0.1, 0.1)
    assert a + b + c == text and b.startswith("line") and c.startswith("line")
    assert abs(len(c) / len(text) - 0.1) < 0.01


@pytest.mark.parametrize(
    "content,match",
    [(b"", "empty"), (b"ab\x00cd", "binary"), (b"caf\xe9\n", "not valid UTF-8")],
)
def test_readers_refuse_bad_files(tmp_path: Path, content: bytes, match: str) -> None:
    p = tmp_path / "f.txt"
    p.write_bytes(content)
    with pytest.raises(RnnlabError, match=match):
        read_text(p)
    with pytest.raises(RnnlabError, match="does not exist"):
        read_lines(tmp_path / "missing.txt")


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


def test_stream_vocabulary_keeps_newlines() -> None:
    from rnnlab.tasks import RunConfig
    from rnnlab.tasks.lm import fit_tokenizer
    from rnnlab.tokenizers import encode_split

    cfg = RunConfig()
    cfg.data.format = "text"
    tok = fit_tokenizer(cfg, "ab\nba\n")
    assert "\n" in tok.vocab
    assert UNK_ID not in encode_split(tok, "text", "ab\nba\n")
