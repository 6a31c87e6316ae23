"""rnnlab/tasks/classify/: training, evaluation and prediction with the count baselines
through the CLI, cross-validation's mean and std, and every bad input giving one `error:`
line. (The labeled-data readers are tested in tests/data/test_readers.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rnnlab.cli import main

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


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
    assert set(m) == {"accuracy", "macro_f1", "nll", "examples", "per_class", "confusion"}
    assert set(m["per_class"]) == {"it", "ja"}
    cm = m["confusion"]  # rows true, columns predicted: its diagonal is the accuracy
    assert sorted(cm["labels"]) == ["it", "ja"] and sum(map(sum, cm["counts"])) == m["examples"]
    assert sum(cm["counts"][i][i] for i in range(2)) == round(m["accuracy"] * m["examples"])
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


# -- defaults: the MR recipe for texts of words (auto), the documented values (fixed) --------
def test_the_level_rule_reads_words_only_in_texts_of_several_words():
    from rnnlab.tasks.classify.defaults import level_for, recipe

    assert level_for(["rossi", "sato", "van dijk"]) == "char"
    assert level_for(["a fine film", "not good at all", "dull and slow"]) == "word"
    assert recipe("char", set()) == {}
    r = recipe("word", {"model.pool"})
    assert r["data"] == {"level": "word", "min_freq": 2} and "pool" not in r["model"]
    assert r["model"]["bidirectional"] and r["train"]["monitor"] == "error_rate"


def _reviews(tmp_path: Path) -> Path:
    f = tmp_path / "reviews.tsv"
    good = ["a fine and moving film", "the best film of the year", "warm funny and wise"]
    bad = ["a dull and tired film", "the worst film of the year", "cold flat and long"]
    f.write_text("".join(f"{t} {k}\t{lab}\n" for k in range(4)
                         for lab, ts in (("pos", good), ("neg", bad)) for t in ts))
    return f


def test_defaults_auto_and_fixed_on_texts_and_names(tmp_path, labeled_tsv):
    from rnnlab.config import TrainConfig
    from rnnlab.tasks.classify.config import DataConfig, ModelConfig

    fast = ["--task", "classify", "--max-steps", "3", "--eval-every", "1", "--threads", "1",
            "--no-progress"]
    reviews = _reviews(tmp_path)
    runs = {name: tmp_path / name for name in ("auto", "fixed", "names")}
    assert main(["train", "--data", str(reviews), *fast, "--out", str(runs["auto"])]) == 0
    assert main(["train", "--data", str(reviews), *fast, "--defaults", "fixed", "--out",
                 str(runs["fixed"])]) == 0
    assert main(["train", "--data", str(labeled_tsv), *fast, "--out", str(runs["names"])]) == 0
    cfg = {k: json.loads((v / "config.json").read_text()) for k, v in runs.items()}
    auto = cfg["auto"]
    assert auto["data"]["level"] == "word" and auto["data"]["min_freq"] == 2
    assert auto["model"]["bidirectional"] and auto["model"]["pool"] == "max"
    assert auto["model"]["word_dropout"] == 0.25 and auto["train"]["monitor"] == "error_rate"
    given = {"data": {"data", "defaults"}, "model": set(),
             "train": {"max_steps", "eval_every", "threads"}}
    for name in ("fixed", "names"):  # names read as characters: the documented model
        for section, cls in (("data", DataConfig), ("model", ModelConfig),
                             ("train", TrainConfig)):
            documented = {k: v for k, v in cls().__dict__.items() if k not in given[section]}
            saved = {k: v for k, v in cfg[name][section].items() if k not in given[section]}
            assert saved == documented, (name, section)
    assert main(["evaluate", str(runs["auto"]), "--json"]) == 0


@pytest.mark.parametrize(("which", "fitted"), [("none", set()),
                                               ("counting", {"majority", "naive_bayes"})])
def test_baselines_can_be_cut(tmp_path, capsys, labeled_tsv, which, fitted) -> None:
    out = tmp_path / "run"
    assert main(["train", "--data", str(labeled_tsv), *FAST, "--baselines", which,
                 "--out", str(out)]) == 0
    final = json.loads((out / "final.json").read_text())
    assert set(final["baselines"]) == fitted
    assert ("naive_bayes" in capsys.readouterr().out) == bool(fitted)
