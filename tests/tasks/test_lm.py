"""rnnlab/tasks/lm/: the language-modeling task. Right-to-left order end to end (sentence
probabilities sum to one in both directions, generation in reading order), the CPU clock
budget; text a user gives may hold
tokens the model never saw: at word level they are read as `<unk>` (with a note saying how
many); at character level they are refused unless the vocabulary has a trained `<unk>` by
choice (--min-freq). A failing end-of-training sample never fails a run whose checkpoints
are written."""

from __future__ import annotations

import itertools
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab.cli import main
from rnnlab.config import RunConfig, TrainConfig
from rnnlab.data.batching import BpttStream
from rnnlab.data.tokenizers import (
    EOS_ID,
)
from rnnlab.decoding import DecodeConfig
from rnnlab.losses import token_log_probs
from rnnlab.models.base import LMBatch
from rnnlab.models.lm import RecurrentLM
from rnnlab.run import load, train
from rnnlab.runconfig import default_config
from rnnlab.tasks.lm import generate
from rnnlab.tasks.lm import score as score_run
from rnnlab.tasks.lm import tokenizer as lm_tokenizer

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
    cfg = default_config()
    cfg.data.data, cfg.data.val_data = str(f), str(f)
    cfg.data.format, cfg.data.level, cfg.data.direction = "text", "word", direction
    cfg.model.hidden_size = cfg.model.embedding_dim = 8
    cfg.model.dropout = 0.0
    cfg.train.batch_size, cfg.train.seq_len, cfg.train.max_steps = 2, 4, 30
    cfg.train.eval_every, cfg.train.lr, cfg.train.threads = 30, 0.03, 1
    for k, v in train.items():
        setattr(cfg.train, k, v)
    return cfg


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


def test_cli_trains_word_stream_with_speed_options_and_r2l(tmp_path, capsys) -> None:
    import json

    from rnnlab.cli import main
    from rnnlab.trainer import bf16_lstm_supported

    precision = "bf16" if bf16_lstm_supported() else "bf16-head"
    f = tmp_path / "w.txt"
    f.write_text(CORPUS * 30)
    out = tmp_path / "run"
    assert main(["train", "--data", str(f), "--val-data", str(f), "--test-data", str(f),
                 "--format", "text", "--level", "word", "--direction", "r2l",
                 "--precision", precision, "--fused-loss", "--stream-val-batch", "2",
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


FAST = ["--max-steps", "2", "--eval-every", "1", "--threads", "1", "--no-progress",
        "--hidden-size", "8", "--embedding-dim", "8", "--batch-size", "2", "--seq-len", "4"]
WORD_CORPUS = "the cat sat on the mat\na dog sat on a log\n" * 20


def _word_run(tmp_path, *extra):
    f = tmp_path / "w.txt"
    f.write_text(WORD_CORPUS)
    out = tmp_path / "run"
    assert main(["train", "--data", str(f), "--val-data", str(f), "--format", "text",
                 "--level", "word", "--samples", "1", *FAST, *extra, "--out", str(out)]) == 0
    return out


def test_word_level_prompts_scores_and_files_read_unseen_words_as_unk(tmp_path, capsys):
    out = _word_run(tmp_path)
    capsys.readouterr()
    assert main(["generate", str(out), "--prompt", "the zebra sat", "--num", "1",
                 "--max-new-tokens", "3"]) == 0
    r = capsys.readouterr()
    assert r.out.startswith("the zebra sat")
    assert "note: 1 of 3 words of --prompt are outside the model's vocabulary" in r.err
    assert main(["score", str(out), "a zebra and a yak", "--json"]) == 0
    r = capsys.readouterr()
    s = json.loads(r.out)
    assert s["unknown"] == ["zebra", "and", "yak"] and math.isfinite(s["logprob"])
    assert [t for t, _ in s["token_logprobs"]][:2] == ["a", "<unk>"]
    assert "3 of 5 words" in r.err
    new = tmp_path / "new.txt"
    new.write_text("the zebra sat\n")
    assert main(["evaluate", str(out), "--data", str(new), "--json"]) == 0
    r = capsys.readouterr()
    assert json.loads(r.out)["unknown"] == 1 and "scored as <unk>" in r.err


def test_character_level_refuses_unseen_characters_unless_unk_was_chosen(
        tmp_path, names_file, user_error, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", str(names_file), *FAST[:-2], "--samples", "0",
                 "--out", str(out)]) == 0
    assert "outside the model's vocabulary" in user_error(["score", str(out), "zoë"])
    bad = tmp_path / "bad.txt"
    bad.write_text("ZOE\n")
    assert "cannot score them" in user_error(["evaluate", str(out), "--data", str(bad)])
    cut = tmp_path / "cut"
    assert main(["train", "--data", str(names_file), *FAST[:-2], "--samples", "0",
                 "--min-freq", "2", "--out", str(cut)]) == 0
    capsys.readouterr()
    assert main(["score", str(cut), "zoë", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["unknown"] == ["ë"]


def test_a_failing_final_sample_does_not_fail_the_run(tmp_path, capsys):
    train, val = tmp_path / "t.txt", tmp_path / "v.txt"
    train.write_text("abc abc cab\n" * 30)
    val.write_text("XYZ abc\n" * 5)  # the sample's prompt comes from here: unseen characters
    out = tmp_path / "run"
    capsys.readouterr()
    assert main(["train", "--data", str(train), "--val-data", str(val), "--format", "text",
                 *FAST, "--out", str(out)]) == 0
    r = capsys.readouterr()
    assert "note: no samples after training" in r.err and "run folder:" in r.out
    assert (out / "best.pt").is_file() and (out / "last.pt").is_file()
    assert not (out / "samples.txt").exists()


def test_bf16_lstm_on_a_cpu_without_it_is_one_error_line(tmp_path, capsys) -> None:
    """Where oneDNN cannot run an LSTM in bf16, an explicit --precision bf16 is refused before
    training; a GRU trains in bf16 on any CPU."""
    from rnnlab.cli import main
    from rnnlab.trainer import bf16_lstm_supported

    f = tmp_path / "w.txt"
    f.write_text(CORPUS * 30)
    common = ["train", "--data", str(f), "--format", "text", "--level", "word",
              "--precision", "bf16", "--max-steps", "1", "--threads", "1", "--no-progress",
              "--samples", "0", "--hidden-size", "8", "--embedding-dim", "8",
              "--batch-size", "2", "--seq-len", "4"]
    code = main([*common, "--out", str(tmp_path / "lstm")])
    err = capsys.readouterr().err
    if bf16_lstm_supported():
        assert code == 0
    else:
        assert code == 2 and err.count("error:") == 1 and "--precision fp32" in err
    assert main([*common, "--model", "gru", "--out", str(tmp_path / "gru")]) == 0


# -- count models on --format text: each line of the text is a sentence ----------------------
NGRAM_SPLITS = {"train": "the cat sat\n\na dog ran far\nthe dog sat\n   \nthe cat ran\n"
                         "a cat sat on the mat\n",
                "val": "the cat sat on a dog\n\nthe dog ran\n", "test": "a cat ran\nthe mat sat\n"}


def _ngram_run(tmp_path: Path, fmt: str, level: str) -> Path:
    files = {}
    for name, text in NGRAM_SPLITS.items():
        files[name] = tmp_path / f"{name}.txt"
        files[name].write_text(text)
    out = tmp_path / f"{fmt}-{level}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fallback discounts on toy counts-of-counts
        assert main(["train", "--model", "ngram", "--order", "3", "--format", fmt, "--level",
                     level, "--data", str(files["train"]), "--val-data", str(files["val"]),
                     "--test-data", str(files["test"]), "--out", str(out), "--threads", "1",
                     "--samples", "0", "--no-progress"]) == 0
    return out


@pytest.mark.parametrize("level", ["word", "char"])
def test_ngram_on_text_equals_ngram_on_lines(level: str, tmp_path: Path, capsys) -> None:
    """`--format text` reads each line as a sentence (empty lines included): the same tables,
    evaluate figures (every token scored, </s> included) and scores as `--format lines`."""
    text, lines = _ngram_run(tmp_path, "text", level), _ngram_run(tmp_path, "lines", level)
    a, b = load(text), load(lines)
    assert a.payload["tokenizer"] == b.payload["tokenizer"]  # no newline token at char level
    for (ka, pa, wa), (kb, pb, wb) in zip(a.model.tables(), b.model.tables(), strict=True):
        np.testing.assert_array_equal(ka, kb)
        np.testing.assert_allclose(pa, pb, rtol=1e-12)
        np.testing.assert_allclose(wa, wb, rtol=1e-12)
    capsys.readouterr()
    for split in ("val", "test"):
        figures = []
        for run in (text, lines):
            assert main(["evaluate", str(run), "--split", split, "--json"]) == 0
            figures.append(json.loads(capsys.readouterr().out))
        assert figures[0]["tokens"] == figures[1]["tokens"] == sum(
            len(x if level == "char" else x.split()) + 1
            for x in NGRAM_SPLITS[split].split("\n")[:-1])
        assert figures[0]["nll"] == pytest.approx(figures[1]["nll"], rel=1e-12)
    texts = ["the cat sat", "", "a dog"]
    for x, y in zip(score_texts(text, texts), score_texts(lines, texts), strict=True):
        assert x["tokens"] == y["tokens"] and x["logprob"] == pytest.approx(y["logprob"])


@pytest.mark.parametrize("level", ["word", "char"])
def test_ngram_on_text_commands(level: str, tmp_path: Path, capsys) -> None:
    """evaluate, score, generate (with and without a prompt), predict and the ARPA writer work
    on a run of a count model trained on --format text."""
    from rnnlab.data.tokenizers import Tokenizer
    from rnnlab.models.ngram import NGramLM

    run = _ngram_run(tmp_path, "text", level)
    (tmp_path / "other.txt").write_text("the cat ran\n\na mat\n")
    for args in (["evaluate", str(run)], ["evaluate", str(run), "--data",
                                          str(tmp_path / "other.txt")],
                 ["score", str(run), "the cat sat", ""], ["generate", str(run), "--num", "3"],
                 ["generate", str(run), "--prompt", "the", "--num", "2"],
                 ["predict", str(run)], ["predict", str(run), "a"]):
        assert main(args) == 0, args
    out = capsys.readouterr().out
    assert "nll" in out and "error" not in out
    loaded = load(run)
    itos = Tokenizer.from_dict(loaded.payload["tokenizer"]).vocab.itos
    loaded.model.to_arpa(str(tmp_path / "m.arpa"), itos)
    if level == "char":  # a space is written <U+0020>: ARPA fields are whitespace-separated
        assert "\t<U+0020>\t" in (tmp_path / "m.arpa").read_text()
    back, itos2 = NGramLM.from_arpa(str(tmp_path / "m.arpa"))
    assert itos2 == itos
    ctx = np.array([[2, 2], [2, 4], [4, 5]])
    np.testing.assert_allclose(back.log_prob(ctx), loaded.model.log_prob(ctx), atol=1e-5)


def test_sentence_stream_rule() -> None:
    """Count models on text read a line as a sentence; recurrent ones and older character runs
    (a newline token in the vocabulary) keep one stream."""
    from rnnlab.data.tokenizers import Tokenizer
    from rnnlab.tasks.lm.sentences import sentence_stream, split_sentences

    assert sentence_stream("text", "ngram") and sentence_stream("text", "bigram")
    assert not sentence_stream("lines", "ngram") and not sentence_stream("text", "lstm")
    assert not sentence_stream("text", "ngram", Tokenizer.fit(["ab\ncd"], "char"))
    assert sentence_stream("text", "ngram", Tokenizer.fit(["ab", "cd"], "char"))
    got = split_sentences([5, EOS_ID, EOS_ID, 6, 7, EOS_ID, 8])
    assert [s.tolist() for s in got] == [[5], [], [6, 7], [8]]


def test_a_character_model_without_a_trained_unk_never_samples_it(tmp_path, names_file):
    from rnnlab.data.tokenizers import UNK_ID

    out = tmp_path / "run"
    assert main(["train", "--data", str(names_file), *FAST[:-2], "--samples", "0",
                 "--out", str(out)]) == 0
    loaded = load(out)
    with torch.no_grad():  # an untrained leftover that a high temperature could still pick
        loaded.model.head.bias[UNK_ID] += 30.0
    texts = sample_lm(loaded.model, lm_tokenizer(loaded), loaded.cfg,
                      DecodeConfig("sample", max_new_tokens=8, temperature=2.0), 5)
    assert len(texts) == 5 and not any("<unk>" in t for t in texts)
    for t in texts:  # and whatever it wrote can be scored again
        assert math.isfinite(score_texts(out, [t])[0]["nll_per_token"])
