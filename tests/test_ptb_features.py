"""Word-level LM features for PTB-scale runs: right-to-left order, the fused bf16-capable loss,
the memory-mapped training stream. Each fast path is checked against its plain reference."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab.batching import BpttStream
from rnnlab.config import TrainConfig
from rnnlab.decoding import DecodeConfig
from rnnlab.losses import IGNORE_INDEX, token_log_probs
from rnnlab.models.base import LMBatch
from rnnlab.models.lm import RecurrentLM
from rnnlab.run import load, train
from rnnlab.tasks import RunConfig
from rnnlab.tasks.lm import generate
from rnnlab.tasks.lm import score as score_run
from rnnlab.tokenizers import (
    EOS_ID,
    Tokenizer,
    encode_file_to_npy,
    encode_split,
    fit_tokenizer_streamed,
)
from rnnlab.trainer import make_loss_fn

CORPUS = "a b\nb a a\n\nb\na a b b\n"


def train_lm(cfg: RunConfig, out: Path):
    return train("lm", cfg, out)


def score_texts(run: Path, texts: list[str]) -> list[dict]:
    return score_run(load(run), texts)


def sample_lm(model, tok, cfg, dc, num, prompt="", seed=0) -> list[str]:
    return generate(model, tok, cfg, dc, num, prompt, seed)


def _word_cfg(tmp_path: Path, text: str, direction: str, **train: object) -> RunConfig:
    f = tmp_path / "train.txt"
    f.write_text(text)
    cfg = RunConfig()
    cfg.data.data, cfg.data.val_data = str(f), str(f)
    cfg.data.format, cfg.data.level, cfg.data.direction = "text", "word", direction
    cfg.model.hidden_size = cfg.model.embedding_dim = 8
    cfg.model.dropout = 0.0
    cfg.train.batch_size, cfg.train.seq_len, cfg.train.max_steps = 2, 4, 30
    cfg.train.eval_every, cfg.train.lr, cfg.train.threads = 30, 0.03, 1
    for k, v in train.items():
        setattr(cfg.train, k, v)
    return cfg


def test_r2l_reverses_each_line_and_keeps_its_end_marker_last() -> None:
    tok = Tokenizer.fit(["the cat sat", "a dog"], "word")
    ids = encode_split(tok, "text", "the cat sat\na dog\n", "r2l")
    assert tok.vocab.decode(ids) == ["sat", "cat", "the", "<eos>", "dog", "a", "<eos>"]
    l2r = encode_split(tok, "text", "the cat sat\na dog\n", "l2r")
    assert len(l2r) == len(ids) and l2r.count(EOS_ID) == 2  # one <eos> per line, no extra
    assert encode_split(tok, "lines", ["the cat sat"], "r2l") == [tok.encode("sat cat the")]
    chars = Tokenizer.fit(["abc\nde"], "char")
    assert chars.decode(encode_split(chars, "text", "abc\nde", "r2l")) == "cba\ned"


@pytest.mark.parametrize("direction", ["l2r", "r2l"])
def test_sentence_probabilities_sum_to_one_in_both_directions(tmp_path, direction) -> None:
    """score_texts gives p(w1..wn <eos> | <eos>) (reversed for r2l). Over every text of at
    most L tokens from the 5 non-<eos> ids, plus the mass of (L+1)-token prefixes that have
    not ended yet, the total is exactly 1."""
    torch.manual_seed(0)
    res = train_lm(_word_cfg(tmp_path, CORPUS * 20, direction), tmp_path / "run")
    tok, model = res.prepared.extra['tokenizer'], res.model
    words = [w for w in tok.vocab.itos if w != "<eos>"]  # <pad> <unk> <bos> a b
    L = 3
    texts = [" ".join(c) for n in range(L + 1) for c in itertools.product(words, repeat=n)]
    scores = score_texts(tmp_path / "run", texts)
    ended = sum(math.exp(r["logprob"]) for r in scores)
    # unended mass: p(u1..u_{L+1} | <eos>) for every id sequence without <eos>
    ids = [tok.vocab.stoi[w] for w in words]
    prefixes = torch.tensor([[EOS_ID, *c] for c in itertools.product(ids, repeat=L + 1)])
    batch = LMBatch(prefixes[:, :-1], prefixes[:, 1:], None, True)
    with torch.no_grad():
        lp = token_log_probs(model(batch).logits, batch.targets).sum(1)
    assert ended + float(lp.exp().sum()) == pytest.approx(1.0, abs=1e-4)
    assert ended > 0.5  # trained on lines of 0-4 words: most mass ends within 3
    r = score_texts(tmp_path / "run", ["a b"])[0]
    order = ["b", "a"] if direction == "r2l" else ["a", "b"]
    assert [t for t, _ in r["token_logprobs"]] == [*order, "<eos>"]


def test_r2l_generation_returns_reading_order(tmp_path) -> None:
    cfg = _word_cfg(tmp_path, CORPUS * 20, "r2l")
    res = train_lm(cfg, tmp_path / "run")
    tok = res.prepared.extra["tokenizer"]
    out = sample_lm(res.model, tok, cfg, DecodeConfig("greedy", max_new_tokens=3), 1,
                    prompt="a b")
    assert out[0].endswith("a b") and len(out[0].split()) >= 2


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


def test_cli_trains_word_stream_with_speed_options_and_r2l(tmp_path, capsys) -> None:
    import json

    from rnnlab.cli import main

    f = tmp_path / "w.txt"
    f.write_text(CORPUS * 30)
    out = tmp_path / "run"
    assert main(["train", "--data", str(f), "--val-data", str(f), "--test-data", str(f),
                 "--format", "text", "--level", "word", "--direction", "r2l",
                 "--precision", "bf16", "--fused-loss", "--stream-val-batch", "2",
                 "--max-steps", "2", "--eval-every", "1", "--threads", "1", "--no-progress",
                 "--samples", "0", "--hidden-size", "8", "--embedding-dim", "8",
                 "--batch-size", "2", "--seq-len", "4", "--out", str(out)]) == 0
    assert (out / "train_ids.npy").is_file()
    capsys.readouterr()
    assert main(["evaluate", str(out), "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["tokens"] == len(CORPUS.split()) * 30 + CORPUS.count("\n") * 30 - 1


def test_cpu_clock_budget_and_option_errors(tmp_path) -> None:
    from rnnlab.errors import RnnlabError
    from rnnlab.trainer import Trainer

    cfg = _word_cfg(tmp_path, CORPUS * 20, "l2r", clock="cpu", max_steps=3, eval_every=3)
    res = train_lm(cfg, tmp_path / "run")
    rec = res.history.records[-1]
    assert rec["step"] == 3 and "wall" in rec  # times in CPU seconds, wall time alongside
    model = RecurrentLM(10, "lstm", 4, 4)
    for bad in (TrainConfig(precision="fp16"), TrainConfig(precision="bf16-head"),
                TrainConfig(clock="sun")):
        with pytest.raises(RnnlabError):
            Trainer(bad).fit(model, BpttStream(np.arange(50) % 10, 2, 4))
