"""`rnnlab generate RUN --strategy most_likely` on an n-gram run: the Viterbi continuation
equals the best of all V^N sequences of N tokens, enumerated and scored token by token with
the model's own conditional probabilities; the printed log-probability is that maximum.
Other models refuse the value naming the strategies they take."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest

from rnnlab.cli import main

QUIET = ["--samples", "0", "--no-progress", "--threads", "1"]
N = 3


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("most-likely")
    data = d / "ab.txt"  # vocabulary: the 4 specials, a, b, c
    data.write_text("\n".join(["ab", "ba", "aab", "abb", "abc", "cab", "bca", "a"] * 3) + "\n")
    out = {"data": data}
    for name, flags in (("ngram", ["--model", "ngram", "--order", "3"]),
                        ("bigram", ["--model", "bigram"]),
                        ("ngram-r2l", ["--model", "ngram", "--order", "3", "--direction",
                                       "r2l"])):
        out[name] = d / name
        assert main(["train", "--data", str(data), "--out", str(out[name]), *flags,
                     *QUIET]) == 0
    return out


def brute_force(run: Path, prompt: str, reverse: bool = False) -> tuple[list[str], float]:
    """The best N tokens after `prompt` (after <bos>) over every id sequence, by the model's
    next-token log-probabilities alone."""
    from rnnlab.data.tokenizers import BOS_ID
    from rnnlab.run import load
    from rnnlab.tasks.lm import tokenizer

    loaded = load(run)
    model, tok = loaded.model, tokenizer(loaded)
    context = [BOS_ID] * model.order + tok.encode(prompt[::-1] if reverse else prompt)
    best: tuple[float, tuple[int, ...]] = (-math.inf, ())
    for seq in itertools.product(range(len(tok)), repeat=N):
        history, total = list(context), 0.0
        for w in seq:
            total += float(model.log_prob(np.array([history]), np.array([w]))[0])
            history.append(w)
        if total > best[0]:
            best = (total, seq)
    tokens = tok.vocab.decode(best[1][::-1] if reverse else best[1])
    return tokens, best[0]


def _generate(run: Path, prompt: str, capsys, *extra: str) -> tuple[list[str], str]:
    capsys.readouterr()
    assert main(["generate", str(run), "--strategy", "most_likely", "--max-new-tokens", str(N),
                 "--prompt", prompt, *extra]) == 0
    r = capsys.readouterr()
    return r.out.splitlines(), r.err


@pytest.mark.parametrize("name,prompt", [("ngram", ""), ("ngram", "c"), ("ngram", "ba"),
                                         ("bigram", "a"), ("ngram-r2l", "ca")])
def test_most_likely_equals_brute_force_enumeration(runs, name, prompt, capsys):
    reverse = name.endswith("r2l")
    tokens, logprob = brute_force(runs[name], prompt, reverse)
    lines, err = _generate(runs[name], prompt, capsys, "--json")
    (row,) = [json.loads(line) for line in lines]
    assert row["tokens"] == tokens
    assert row["logprob"] == pytest.approx(logprob, abs=1e-9)
    shown = "".join(tokens)  # a character model: <eos> inside is shown as itself
    assert row["text"] == (shown + prompt if reverse else prompt + shown)
    # the text form prints the same continuation, and the log-probability on stderr
    lines, err = _generate(runs[name], prompt, capsys)
    assert lines == [row["text"]]
    printed = float(err.split("log p = ")[1].split()[0])
    assert printed == pytest.approx(logprob, abs=1e-6)


def test_predict_and_the_arpa_file_find_the_same(runs, tmp_path, capsys):
    tokens, logprob = brute_force(runs["ngram"], "ab")
    capsys.readouterr()
    assert main(["predict", str(runs["ngram"]), "ab", "--strategy", "most_likely",
                 "--max-new-tokens", str(N), "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["tokens"] == tokens and row["logprob"] == pytest.approx(logprob, abs=1e-9)
    arpa = tmp_path / "m.arpa"
    assert main(["export", str(runs["ngram"]), "--format", "arpa", "--out", str(arpa)]) == 0
    lines, _ = _generate(arpa, "ab", capsys, "--json")
    from_file = json.loads(lines[0])
    assert from_file["tokens"] == tokens
    assert from_file["logprob"] == pytest.approx(logprob, rel=1e-6)


def test_other_models_refuse_most_likely(runs, tmp_path, user_error):
    gru = tmp_path / "gru"
    assert main(["train", "--data", str(runs["data"]), "--out", str(gru), "--model", "gru",
                 "--max-steps", "1", "--hidden-size", "8", "--embedding-dim", "8",
                 "--batch-size", "8", *QUIET]) == 0
    line = user_error(["generate", str(gru), "--strategy", "most_likely"])
    assert "--model gru takes --strategy greedy, sample or beam_search" in line
    line = user_error(["predict", str(gru), "a", "--strategy", "most_likely"])
    assert "--strategy most_likely" in line and "--model ngram" in line
    line = user_error(["generate", str(runs["ngram"]), "--strategy", "most_likely", "--num",
                       "2"])
    assert "--num applies to --strategy sample" in line
