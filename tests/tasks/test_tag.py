"""The tag task through the CLI: train (neural and HMM) on a tiny CoNLL-U file, evaluate's
JSON keys, predict fills the tag column of a file with multiword tokens, empty nodes and
free comments and changes nothing else, plain text and --json, bad input as one error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rnnlab.cli import main

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "tag_tiny.conllu"
FAST = ["--task", "tag", "--data", str(TINY), "--val-data", str(TINY), "--test-data",
        str(TINY), "--threads", "1", "--no-progress", "--embedding-dim", "8",
        "--hidden-size", "8", "--char-hidden", "4", "--char-dim", "4"]
BASE, FAST = FAST, [*FAST, "--max-steps", "3", "--eval-every", "3"]
KEYS = {"accuracy", "known_accuracy", "unknown_accuracy", "tokens", "sentences", "per_tag"}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tag") / "run"
    assert main(["train", *FAST, "--crf", "--out", str(out)]) == 0
    return out


def test_train_writes_figures_and_evaluate_prints_the_keys(run, capsys):
    final = json.loads((run / "final.json").read_text())
    assert final["test"]["tokens"] == 24 and final["test"]["unknown_tokens"] == 0
    assert (run / "confusion.png").is_file() and (run / "confusion.txt").is_file()
    assert "most_frequent_test" in final["baselines"]
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert KEYS <= set(m) and m["sentences"] == 4 and m["tokens"] == 24
    assert sum(v["support"] for v in m["per_tag"].values()) == 24


def test_predict_fills_only_the_tag_column(run, tmp_path, capsys):
    out = tmp_path / "out.conllu"
    assert main(["predict", str(run), "--data", str(TINY), "--out", str(out)]) == 0
    a, b = TINY.read_text().split("\n"), out.read_text().split("\n")
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        if x.split("\t")[0].isdigit():
            cx, cy = x.split("\t"), y.split("\t")
            assert cx[:3] + cx[4:] == cy[:3] + cy[4:] and cy[3] != "_"
        else:
            assert x == y  # comments, `1-2`, `8.1`, blank lines
    text = tmp_path / "s.txt"
    text.write_text("The dog sat .\n\nI like music\n")
    capsys.readouterr()
    assert main(["predict", str(run), "--data", str(text), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["words"] for r in rows] == [["The", "dog", "sat", "."], [], ["I", "like", "music"]]
    assert [len(r["tags"]) for r in rows] == [4, 0, 3]


def test_hmm_trains_by_counting_and_tags(tmp_path, capsys):
    out = tmp_path / "hmm"
    assert main(["train", "--task", "tag", "--data", str(TINY), "--test-data", str(TINY),
                 "--model", "hmm", "--no-progress", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out), "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["accuracy"] > 0.9  # its own training sentences


@pytest.mark.parametrize("content,needle", [
    (b"", "empty"), (b"\xff\xfe bad bytes\n", "not valid UTF-8"),
    (b"no tabs here\n", "not the 10 of CoNLL-U")])
def test_bad_training_files_are_one_error_line(tmp_path, user_error, content, needle):
    bad = tmp_path / "bad.conllu"
    bad.write_bytes(content)
    assert needle in user_error(["train", "--task", "tag", "--data", str(bad), "--no-progress",
                                 "--out", str(tmp_path / "r")])


def test_bad_flag_combinations(user_error, run):
    assert "apply to --model hmm" in user_error(["train", *FAST, "--order", "1", "--dry-run"])
    assert "--crf applies to the neural" in user_error(
        ["train", *FAST, "--model", "hmm", "--crf", "--dry-run"])
    assert "nothing to tag" in user_error(["predict", str(run)])


def test_resume_continues_to_the_same_weights(tmp_path):
    import torch

    from rnnlab.checkpoint import load_checkpoint

    base = [*BASE, "--schedule", "constant"]  # cosine would anneal over each max_steps
    whole, part = tmp_path / "whole", tmp_path / "part"
    assert main(["train", *base, "--eval-every", "2", "--max-steps", "4", "--out",
                 str(whole)]) == 0
    assert main(["train", *base, "--eval-every", "2", "--max-steps", "2", "--out",
                 str(part)]) == 0
    assert main(["train", "--resume", "--out", str(part), "--max-steps", "4",
                 "--no-progress"]) == 0
    a = load_checkpoint(whole / "last.pt")["model_state"]
    b = load_checkpoint(part / "last.pt")["model_state"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_gold_tags_the_model_never_saw_count_as_errors(tmp_path, capsys):
    """A file whose gold tags include one the training data lacked is evaluated, that tag's
    tokens counted wrong and named, instead of stopping."""
    out = tmp_path / "hmm"
    assert main(["train", "--task", "tag", "--data", str(TINY), "--model", "hmm",
                 "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    text = TINY.read_text()
    lines = text.split("\n")
    i = next(j for j, ln in enumerate(lines) if ln and ln[0].isdigit() and "\t" in ln
             and "-" not in ln.split("\t")[0] and "." not in ln.split("\t")[0])
    cols = lines[i].split("\t")
    cols[3] = "NEWTAG"
    lines[i] = "\t".join(cols)
    odd = tmp_path / "odd.conllu"
    odd.write_text("\n".join(lines))
    assert main(["evaluate", str(out), "--data", str(odd), "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["unseen_gold_tags"] == {"NEWTAG": 1}
    assert m["per_tag"]["NEWTAG"]["recall"] == 0.0
    assert main(["evaluate", str(out), "--data", str(TINY), "--json"]) == 0
    base = json.loads(capsys.readouterr().out)
    # the one changed token is now an error, whatever it was before
    n = base["tokens"]
    assert m["tokens"] == n
    assert base["accuracy"] - 1 / n - 1e-9 <= m["accuracy"] <= base["accuracy"] + 1e-9
