"""`rnnlab predict RUN SENTENCE... --posteriors` on a --model hmm tag run: each word's
p(tag | sentence) equals the sum over all K^T tag paths of the joint probability
(`HMMTagger.joint_log_prob`, enumerated), normalized; rows sum to 1. Other taggers refuse it
with one error line."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from rnnlab.cli import main

QUIET = ["--no-progress", "--threads", "1"]
# determiners, nouns, verbs: "run" and "runs" are nouns and verbs, so paths compete
CORPUS = [("the dog runs", "DET NOUN VERB"), ("the cat runs", "DET NOUN VERB"),
          ("Dogs run", "NOUN VERB"), ("the run", "DET NOUN"), ("a cat sees the runs",
                                                               "DET NOUN VERB DET NOUN")]
SENTENCES = ["the run runs", "Rex sees dogs", "a zzz run"]  # known, unknown, ambiguous


def _conllu(path: Path) -> Path:
    blocks = []
    for words, tags in CORPUS:
        rows = [f"{i}\t{w}\t_\t{t}\t_\t_\t_\t_\t_\t_"
                for i, (w, t) in enumerate(zip(words.split(), tags.split(), strict=True), 1)]
        blocks.append("\n".join(rows) + "\n")
    path.write_text("\n".join(blocks))
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("posteriors")
    data = str(_conllu(d / "tiny.conllu"))
    base = ["train", "--task", "tag", "--data", data, "--val-data", data, *QUIET]
    out = {"hmm": d / "hmm", "hmm2": d / "hmm2", "gru": d / "gru"}
    assert main([*base, "--model", "hmm", "--order", "1", "--out", str(out["hmm"])]) == 0
    assert main([*base, "--model", "hmm", "--order", "2", "--out", str(out["hmm2"])]) == 0
    assert main([*base, "--model", "gru", "--max-steps", "1", "--hidden-size", "4",
                 "--embedding-dim", "4", "--char-dim", "4", "--char-hidden", "4",
                 "--out", str(out["gru"])]) == 0
    return out


def brute_force(run: Path, words: list[str]) -> dict[str, np.ndarray]:
    """tag -> p(y_t = tag | words) for every t, from every path's joint probability."""
    from rnnlab.run import load

    loaded = load(run)
    model, tags = loaded.model, loaded.payload["tagging"]["tags"]
    paths = list(itertools.product(range(len(tags)), repeat=len(words)))
    logp = np.array([model.joint_log_prob(words, p) for p in paths])
    weights = np.exp(logp - np.logaddexp.reduce(logp))
    post = np.zeros((len(words), len(tags)))
    for path, w in zip(paths, weights, strict=True):
        post[np.arange(len(words)), path] += w
    return {tag: post[:, k] for k, tag in enumerate(tags)}


@pytest.mark.parametrize("run", ["hmm", "hmm2"], ids=["order1", "order2"])
def test_posteriors_equal_enumeration_over_all_tag_paths(runs, run, capsys):
    capsys.readouterr()
    assert main(["predict", str(runs[run]), *SENTENCES, "--posteriors", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["words"] for r in rows] == [s.split() for s in SENTENCES]
    for row in rows:
        expected = brute_force(runs[run], row["words"])
        assert len(row["posteriors"]) == len(row["words"])
        for t, dist in enumerate(row["posteriors"]):
            assert set(dist) == set(expected)  # every tag
            assert sum(dist.values()) == pytest.approx(1.0, abs=1e-12)
            assert list(dist.values()) == sorted(dist.values(), reverse=True)
            for tag, p in dist.items():
                assert p == pytest.approx(expected[tag][t], abs=1e-12), (row["words"], t, tag)
    ambiguous = rows[0]["posteriors"][1]  # "run" after "the": mostly NOUN, VERB possible
    assert 0 < ambiguous["VERB"] < ambiguous["NOUN"] < 1


def test_text_output_lists_the_likeliest_tags(runs, capsys):
    capsys.readouterr()
    assert main(["predict", str(runs["hmm"]), *SENTENCES[:2], "--posteriors"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines.index("") == 3  # a blank line between the sentences
    expected = brute_force(runs["hmm"], SENTENCES[0].split())
    for t, line in enumerate(lines[:3]):
        word, *pairs = line.split("\t")
        assert word == SENTENCES[0].split()[t] and 1 <= len(pairs) <= 3
        for pair in pairs:
            tag, p = pair.split()
            assert float(p) == pytest.approx(expected[tag][t], abs=5e-5) and float(p) > 0
        top = max(expected, key=lambda k: expected[k][t])
        assert pairs[0].split()[0] == top


def test_posteriors_are_refused_where_they_do_not_apply(runs, tmp_path, user_error):
    line = user_error(["predict", str(runs["gru"]), "the dog", "--posteriors"])
    assert "--posteriors" in line and "--model gru" in line and "--model hmm" in line
    line = user_error(["predict", str(runs["hmm"]), "the dog", "--posteriors", "--out",
                       str(tmp_path / "o.txt")])
    assert "--out" in line
    assert not (tmp_path / "o.txt").exists()
