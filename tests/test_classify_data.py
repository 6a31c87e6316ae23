"""Labeled data for classification: tsv and folder readers (cp1252 included), duplicate and
conflict counts, stratified seeded splits and folds; classification metrics by hand; every
bad input through the CLI gives one `error:` line."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from rnnlab.cli import main
from rnnlab.datasets import (
    dedupe,
    read_labeled_folder,
    read_labeled_tsv,
    stratified_folds,
    stratified_split,
)
from rnnlab.metrics import classification_report

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_tsv_reader_takes_the_label_column_and_keeps_other_tabs(tmp_path):
    f = tmp_path / "a.tsv"
    f.write_text("good film\tpos\nbad\tone\tneg\n\n")
    assert read_labeled_tsv(f) == [("good film", "pos"), ("bad\tone", "neg")]
    g = tmp_path / "b.tsv"
    g.write_text("ham\tGo until jurong\nspam\tFree entry\n")
    assert read_labeled_tsv(g, label_column=0) == [("Go until jurong", "ham"),
                                                   ("Free entry", "spam")]


def test_folder_reader_labels_by_stem_or_by_suffix_and_reads_cp1252(tmp_path):
    d = tmp_path / "names"
    d.mkdir()
    (d / "Arabic.txt").write_text("Khoury\nNahas\n")
    (d / "Irish.txt").write_text("Adam\n")
    (d / "README").write_text("not a class\n")
    assert read_labeled_folder(d) == [("Khoury", "Arabic"), ("Nahas", "Arabic"),
                                      ("Adam", "Irish")]
    mr = tmp_path / "mr"
    mr.mkdir()
    # 0x85 is an ellipsis in cp1252; a form feed is a line break to str.splitlines, not here
    (mr / "rt-polarity.pos").write_bytes(b"a gem \x85 truly\x0c\nfun\n")
    (mr / "rt-polarity.neg").write_bytes("dull\n".encode("cp1252"))
    (mr / "rt-polaritydata.README.1.0.txt").write_text("readme\n")
    got = read_labeled_folder(mr, "rt-polarity.*", "cp1252")
    assert got == [("dull", "neg"), ("a gem \u2026 truly\x0c", "pos"), ("fun", "pos")]


def test_dedupe_counts_duplicates_and_conflicts():
    exs = [("ann", "a"), ("ann", "a"), ("bob", "a"), ("bob", "b"), ("cy", "c"), ("ann", "a")]
    kept, r = dedupe(exs)
    assert kept == [("ann", "a"), ("bob", "a"), ("bob", "b"), ("cy", "c")]
    assert r == {"examples": 6, "distinct": 4, "duplicates": 2, "conflicting_texts": 1,
                 "kept": 4}
    assert dedupe(exs, drop=False)[0] == exs


def test_stratified_split_keeps_proportions_and_is_seeded():
    exs = [(f"x{i}", "big") for i in range(100)] + [(f"y{i}", "small") for i in range(10)] + [
        ("z0", "tiny"), ("z1", "tiny")]
    train, val, test = stratified_split(exs, 7, 0.1, 0.2)
    assert Counter(lab for _, lab in test) == {"big": 20, "small": 2}
    assert Counter(lab for _, lab in val) == {"big": 10, "small": 1}
    assert Counter(lab for _, lab in train)["tiny"] == 2  # too few to split: training only
    assert not {t for t, _ in train} & {t for t, _ in test}
    assert len(train) + len(val) + len(test) == len(exs)
    assert (train, val, test) == stratified_split(exs, 7, 0.1, 0.2)
    assert test != stratified_split(exs, 8, 0.1, 0.2)[2]


def test_stratified_folds_partition_the_data_evenly():
    exs = [(f"x{i}", "a") for i in range(23)] + [(f"y{i}", "b") for i in range(7)]
    folds = stratified_folds(exs, 5, 0)
    assert sorted(ex for f in folds for ex in f) == sorted(exs)
    assert [len(f) for f in folds] == [6] * 5
    for f in folds:
        assert Counter(lab for _, lab in f)["b"] in (1, 2)


@pytest.mark.skipif(not (SHARED / "names_by_language").is_dir(), reason="../shared absent")
def test_names_by_language_duplicates_are_dropped_before_the_split():
    exs = read_labeled_folder(SHARED / "names_by_language")
    assert len(exs) == 20074 and Counter(lab for _, lab in exs)["Arabic"] == 2000
    kept, r = dedupe(exs)
    assert Counter(lab for _, lab in kept)["Arabic"] == 108
    train, _, test = stratified_split(kept, 1337, 0.1, 0.1)
    assert not set(train) & set(test)


def test_classification_report_by_hand():
    r = classification_report([0, 0, 1, 1, 2], [0, 1, 1, 1, 0], ["a", "b", "c"])
    assert r["accuracy"] == 3 / 5
    assert r["per_class"]["a"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert r["per_class"]["b"]["precision"] == 2 / 3 and r["per_class"]["b"]["recall"] == 1
    assert r["per_class"]["c"]["f1"] == 0.0
    assert abs(r["macro_f1"] - (0.5 + 0.8 + 0.0) / 3) < 1e-12
    assert r["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]


FAST = ["--task", "classify", "--max-steps", "3", "--eval-every", "1", "--threads", "1",
        "--no-progress", "--hidden-size", "8", "--embedding-dim", "8", "--batch-size", "4"]


def test_cli_trains_evaluates_and_predicts_with_baselines(tmp_path, capsys, labeled_tsv):
    out = tmp_path / "run"
    assert main(["train", "--data", str(labeled_tsv), *FAST, "--pool", "attention",
                 "--bidirectional", "--class-weights", "balanced", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "naive_bayes" in printed and "majority" in printed
    assert (out / "confusion.png").stat().st_size > 1000 and (out / "confusion.txt").is_file()
    assert main(["evaluate", str(out), "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert set(m) == {"accuracy", "macro_f1", "nll", "examples", "per_class"}
    assert set(m["per_class"]) == {"it", "ja"}
    assert main(["predict", str(out), "rossi", "sato", "--top-k", "2", "--json"]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in rows] == ["rossi", "sato"]
    assert all(abs(sum(p for _, p in r["top"]) - 1) < 1e-5 for r in rows)
    assert main(["predict", str(out), "rossi", "--attention", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert [c for c, _ in r["attention"]] == list("rossi")  # one weight per character
    assert abs(sum(a for _, a in r["attention"]) - 1) < 1e-5
    png = tmp_path / "plots" / "attention.png"  # its folder is made
    assert main(["predict", str(out), "rossi", "sato", "--attention-png", str(png)]) == 0
    assert png.stat().st_size > 1000
    capsys.readouterr()
    assert main(["predict", str(out), "rossi", "--attention-png", "/proc/no/a.png"]) == 2
    assert capsys.readouterr().err.startswith("error: cannot write the plot")


def test_cli_cross_validation_reports_mean_and_std(tmp_path, capsys, labeled_tsv):
    out = tmp_path / "cv"
    assert main(["train", "--data", str(labeled_tsv), *FAST, "--cv", "3",
                 "--out", str(out)]) == 0
    s = json.loads((out / "cv.json").read_text())
    assert s["folds"] == 3 and len(s["model_accuracy"]["folds"]) == 3
    assert "+-" in capsys.readouterr().out
    tests = [json.loads((out / f"fold-{k}" / "split.json").read_text())["sizes"]["test"]
             for k in range(3)]
    assert sum(tests) == 16  # the folds partition the data


def test_bad_classification_input_gives_one_error_line(tmp_path, user_error, labeled_tsv):
    good = labeled_tsv
    run = tmp_path / "run"
    assert main(["train", "--data", str(good), *FAST, "--out", str(run)]) == 0
    one = tmp_path / "one.tsv"
    one.write_text("a\tx\nb\tx\nc\tx\n")
    binary = tmp_path / "bin.tsv"
    binary.write_bytes(bytes(range(256)) * 4)
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "a.txt").write_text("x\ny\n")
    (folder / "b.txt").write_text("")
    unknown = tmp_path / "u.tsv"
    unknown.write_text("rossi\tfr\n")
    notab = tmp_path / "n.tsv"
    notab.write_text("no tab here\n")
    new = str(tmp_path / "new")
    cases = {
        "needs two or more": ["train", "--data", str(one), *FAST, "--out", new],
        "looks binary": ["train", "--data", str(binary), *FAST, "--out", new],
        "is empty": ["train", "--data", str(folder), "--format", "folder", *FAST,
                     "--out", new],
        "has no tab": ["train", "--data", str(notab), *FAST, "--out", new],
        "needs --data": ["train", "--task", "classify", "--out", new],
        "is not a class the model knows": ["evaluate", str(run), "--data", str(unknown)],
        "--glob applies to --format folder": ["train", "--data", str(good), *FAST,
                                              "--glob", "*.x", "--out", new],
        "nothing to classify": ["predict", str(run)],
        "--top-k must be >= 1, got 0": ["predict", str(run), "rossi", "--top-k", "0"],
        "too few for 40 test folds": ["train", "--data", str(good), *FAST, "--cv", "40",
                                      "--out", new],
    }
    for needle, argv in cases.items():
        assert needle in user_error(argv), needle
    assert not Path(new).exists()
