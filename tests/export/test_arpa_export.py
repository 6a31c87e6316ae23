"""`rnnlab export RUN --format arpa` and FILE.arpa in place of the run: the file scores what
the run scores (evaluate and score, to 1e-6 relative; the file keeps 7 significant digits),
for character and word models, l2r and r2l, ngram and bigram; the mistakes are one error."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from rnnlab.cli import main

QUIET = ["--samples", "0", "--no-progress", "--threads", "1"]
SENTENCES = ["the cat sat on the mat", "the dog sat", "a cat and a dog", "the mat is red",
             "a red dog sat on a cat"] * 6


@pytest.fixture(scope="module")
def data(tmp_path_factory, task_files) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("arpa-data")
    words = d / "words.txt"
    words.write_text("\n".join(SENTENCES) + "\n")
    held = d / "held.txt"  # unseen combinations of seen characters
    held.write_text("lena\nmia\nava\nemmanoah\nliamella\n")
    held_words = d / "held_words.txt"
    held_words.write_text("the cat sat on a red mat\na dog\n")
    return {"names": task_files["names"], "words": words, "held": held,
            "held_words": held_words}


CASES = {
    "char-ngram3": (["--model", "ngram", "--order", "3"], "names", "held", ["anna", "lia"]),
    "char-bigram": (["--model", "bigram"], "names", "held", ["anna", "lia"]),
    "char-ngram4-r2l": (["--model", "ngram", "--order", "4", "--direction", "r2l"], "names",
                        "held", ["anna", "lia"]),
    "word-ngram3-text": (["--model", "ngram", "--order", "3", "--format", "text", "--level",
                          "word"], "words", "held_words", ["the cat sat", "a red dog"]),
}


def _json(argv: list[str], capsys) -> list[dict]:
    capsys.readouterr()
    assert main(argv) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.mark.parametrize("case", list(CASES))
def test_the_arpa_file_scores_what_the_run_scores(case, data, tmp_path, capsys):
    flags, train_on, held, texts = CASES[case]
    run, arpa = tmp_path / "run", tmp_path / "m.arpa"
    assert main(["train", "--data", str(data[train_on]), "--out", str(run), *flags,
                 *QUIET]) == 0
    capsys.readouterr()
    assert main(["export", str(run), "--format", "arpa", "--out", str(arpa)]) == 0
    printed = capsys.readouterr().out.splitlines()
    text = arpa.read_text()
    declared = [int(line.split("=")[1]) for line in text.splitlines()
                if line.startswith("ngram ")]
    order = 2 if "bigram" in flags else int(flags[flags.index("--order") + 1])
    assert len(declared) == order
    assert printed[0].startswith(f"wrote {arpa}: ARPA backoff model of order {order}")
    assert printed[1] == "n-grams: " + ", ".join(f"{n}-grams {c:,}" for n, c in
                                                 enumerate(declared, start=1))
    assert text.startswith("# rnnlab {")  # the level and direction the words cannot say
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.arpa", "run"]  # no temp file

    by_run = _json(["evaluate", str(run), "--data", str(data[held]), "--json"], capsys)[0]
    by_file = _json(["evaluate", str(arpa), "--data", str(data[held]), "--json"], capsys)[0]
    assert by_file["tokens"] == by_run["tokens"] > 0
    assert math.isclose(by_file["nll"], by_run["nll"], rel_tol=1e-6)
    run_rows = _json(["score", str(run), *texts, "--json"], capsys)
    file_rows = _json(["score", str(arpa), *texts, "--json"], capsys)
    for a, b in zip(run_rows, file_rows, strict=True):
        assert b["tokens"] == a["tokens"]
        assert [t for t, _ in b["token_logprobs"]] == [t for t, _ in a["token_logprobs"]]
        assert math.isclose(b["logprob"], a["logprob"], rel_tol=1e-6)


def test_without_the_comment_the_level_is_read_from_the_words(data, tmp_path, capsys):
    """A file of KenLM or SRILM has no rnnlab comment: one-character words mean a character
    model."""
    from rnnlab.tasks.lm.arpa_run import load_arpa

    run, arpa = tmp_path / "run", tmp_path / "m.arpa"
    assert main(["train", "--data", str(data["names"]), "--out", str(run), "--model", "ngram",
                 *QUIET]) == 0
    assert main(["export", str(run), "--format", "arpa", "--out", str(arpa)]) == 0
    bare = tmp_path / "bare.arpa"
    bare.write_text("".join(line for line in arpa.read_text().splitlines(keepends=True)
                            if not line.startswith("#")))
    loaded = load_arpa(str(bare), "lm")
    assert loaded.cfg.data.level == "char" and loaded.cfg.data.format == "lines"
    by_run = _json(["score", str(run), "anna", "--json"], capsys)[0]
    by_file = _json(["score", str(bare), "anna", "--json"], capsys)[0]
    assert math.isclose(by_file["logprob"], by_run["logprob"], rel_tol=1e-6)
    from rnnlab.tasks.lm.arpa_run import infer_level

    assert infer_level(["<pad>", "<unk>", "<bos>", "<eos>", "a", " "]) == "char"
    assert infer_level(["<pad>", "<unk>", "<bos>", "<eos>", "a", "cat"]) == "word"


def test_mistakes_are_one_error_line(data, tmp_path, user_error):
    lstm = tmp_path / "lstm"
    assert main(["train", "--data", str(data["names"]), "--out", str(lstm), "--model", "lstm",
                 "--max-steps", "1", "--hidden-size", "8", "--embedding-dim", "8",
                 "--batch-size", "8", *QUIET]) == 0
    line = user_error(["export", str(lstm), "--format", "arpa", "--out",
                       str(tmp_path / "m.arpa")])
    assert "--model lstm" in line and "--model ngram" in line and "--format onnx" in line
    assert not (tmp_path / "m.arpa").exists()
    ngram = tmp_path / "ngram"
    assert main(["train", "--data", str(data["names"]), "--out", str(ngram), "--model",
                 "ngram", *QUIET]) == 0
    assert "FILE.arpa" in user_error(["export", str(ngram), "--format", "arpa", "--out",
                                      str(tmp_path / "m.txt")])
    arpa = tmp_path / "m.arpa"
    assert main(["export", str(ngram), "--format", "arpa", "--out", str(arpa)]) == 0
    assert "give --data FILE" in user_error(["evaluate", str(arpa)])
    line = user_error(["diagnose", str(arpa), "--out", str(tmp_path / "d")])
    assert "ARPA n-gram file" in line and "`diagnose`" in line
    assert "does not exist" in user_error(["score", str(tmp_path / "none.arpa"), "anna"])
    junk = tmp_path / "junk.arpa"
    junk.write_text("hello\n")
    assert "not a valid ARPA file" in user_error(["score", str(junk), "anna"])
    binary = tmp_path / "bin.arpa"
    binary.write_bytes(bytes(range(256)))
    assert "not a readable ARPA file" in user_error(["score", str(binary), "anna"])
