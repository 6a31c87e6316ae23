"""`--format` of `evaluate` and `predict` (rnnlab/cli/use.py, rnnlab/options.py): each takes
the formats the run's task reads (text/lines for lm, tsv/folder for classify and
conditional, conllu/text for tag, pairs for translate; a forecasting run reads its own csv
and no other file), defaults to the run's own, and a wrong one gives one `error:` line
naming the run's task and its formats (exit 2)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from rnnlab.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FAST = ["--max-steps", "2", "--eval-every", "1", "--threads", "1", "--no-progress",
        "--hidden-size", "8", "--batch-size", "8", "--model", "gru", "--samples", "0"]
SURNAMES = {"it": ["rossi", "russo", "ferrari", "bianchi", "romano", "greco", "gallo", "conti"],
            "ja": ["sato", "suzuki", "tanaka", "ito", "kato", "abe", "yamada", "sasaki"]}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("formats")
    out = {"names": d / "names.txt", "labeled": d / "l.tsv", "folder": d / "by_label",
           "series": d / "s.csv", "tagged": d / "tagged.txt", "stream": d / "stream.txt"}
    out["names"].write_text("\n".join(["anna", "emma", "olivia", "ava", "mia", "liam", "noah",
                                       "sofia", "lucas", "ella"] * 10) + "\n")
    out["stream"].write_text("annaemmaoliviaavamialiamnoahsofialucasella")  # no newline
    out["labeled"].write_text("".join(f"{w}\t{lab}\n" for lab, ws in SURNAMES.items()
                                      for w in ws))
    out["folder"].mkdir()
    for lab, ws in SURNAMES.items():
        (out["folder"] / f"{lab}.txt").write_text("\n".join(ws) + "\n")
    out["series"].write_text("month,v\n" + "\n".join(
        f"{1990 + i // 12}-{i % 12 + 1:02d},{50 + 40 * math.sin(i / 3):.3f}"
        for i in range(120)) + "\n")
    from rnnlab.data.readers import read_conllu

    sents = read_conllu(FIXTURES / "tag_tiny.conllu", "upos")
    out["tagged"].write_text("".join(" ".join(f"{w}/{t}" for w, t in zip(ws, ts, strict=True))
                                     + "\n" for ws, ts in sents))
    return out


@pytest.fixture(scope="module")
def runs(files, tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("format-runs")
    tagged, pairs = FIXTURES / "tag_tiny.conllu", FIXTURES / "pairs_tiny.tsv"
    data = {"lm": ["--data", str(files["names"])],
            "classify": ["--task", "classify", "--data", str(files["labeled"]),
                         "--format", "tsv"],
            "classify-folder": ["--task", "classify", "--data", str(files["folder"]),
                                "--format", "folder"],
            "conditional": ["--task", "conditional", "--data", str(files["labeled"])],
            "tag": ["--task", "tag", "--data", str(tagged), "--val-data", str(tagged),
                    "--test-data", str(tagged)],
            "translate": ["--task", "translate", "--data", str(pairs), "--min-freq", "1"],
            "forecast": ["--task", "forecast", "--data", str(files["series"]), "--season",
                         "12", "--horizon", "3", "--context", "12"]}
    out = {}
    for name, argv in data.items():
        out[name] = d / name
        assert main(["train", *argv, *FAST, "--out", str(out[name])]) == 0
    return out


def _json(argv: list[str], capsys) -> dict:
    """The figures `argv --json` prints, without its timings."""
    capsys.readouterr()
    assert main([*argv, "--json"]) == 0, capsys.readouterr().err
    shown = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return {k: v for k, v in shown.items() if "second" not in k}


# -- each task's formats are taken, the run's own by default ---------------------------------
def test_lm_evaluate_reads_text_and_lines(runs, files, capsys):
    run, f = str(runs["lm"]), str(files["names"])
    lines = _json(["evaluate", run, "--data", f, "--format", "lines"], capsys)
    assert _json(["evaluate", run, "--data", f], capsys) == lines  # the run's own: lines
    text = _json(["evaluate", run, "--data", str(files["stream"]), "--format", "text"], capsys)
    assert text["tokens"] > 0 and math.isfinite(text["nll"])


@pytest.mark.parametrize("task", ["classify", "conditional"])
def test_labeled_evaluate_reads_tsv_and_folder(task, runs, files, capsys):
    run = str(runs[task])
    tsv = _json(["evaluate", run, "--data", str(files["labeled"]), "--format", "tsv"], capsys)
    assert _json(["evaluate", run, "--data", str(files["labeled"])], capsys) == tsv
    folder = _json(["evaluate", run, "--data", str(files["folder"]), "--format", "folder"],
                   capsys)
    key = "examples" if task == "classify" else "tokens"
    assert folder[key] == tsv[key] and folder["nll"] == pytest.approx(tsv["nll"])


def test_a_folder_run_reads_a_folder_by_default_and_a_tsv_when_told(runs, files, capsys,
                                                                    user_error):
    run = str(runs["classify-folder"])
    folder = _json(["evaluate", run, "--data", str(files["folder"])], capsys)
    tsv = _json(["evaluate", run, "--data", str(files["labeled"]), "--format", "tsv"], capsys)
    assert folder["accuracy"] == tsv["accuracy"] and folder["examples"] == 16
    assert "--format folder reads a folder" in user_error(
        ["evaluate", run, "--data", str(files["labeled"])])


def test_tag_evaluate_reads_conllu_and_word_tag_lines(runs, files, capsys):
    run, conllu = str(runs["tag"]), str(FIXTURES / "tag_tiny.conllu")
    ref = _json(["evaluate", run, "--data", conllu, "--format", "conllu"], capsys)
    assert _json(["evaluate", run, "--data", conllu], capsys) == ref  # the run's own
    text = _json(["evaluate", run, "--data", str(files["tagged"]), "--format", "text"], capsys)
    assert text["tokens"] == ref["tokens"] and text["accuracy"] == ref["accuracy"]


@pytest.mark.parametrize("fmt", ["auto", "conllu", "text"])
def test_tag_predict_reads_its_formats(fmt, runs, files, tmp_path, capsys):
    data = FIXTURES / "tag_tiny.conllu" if fmt != "text" else tmp_path / "plain.txt"
    if fmt == "text":
        data.write_text("the cat sat\nthe dog did too\n")
    capsys.readouterr()
    assert main(["predict", str(runs["tag"]), "--data", str(data), "--format", fmt]) == 0
    assert capsys.readouterr().out.strip()


def test_translate_evaluate_reads_pairs(runs, capsys):
    run, pairs = str(runs["translate"]), str(FIXTURES / "pairs_tiny.tsv")
    argv = ["evaluate", run, "--data", pairs, "--limit", "3", "--strategy", "greedy"]
    given = _json([*argv, "--format", "pairs"], capsys)
    default = _json(argv, capsys)  # the run's own: pairs
    assert given["sentences"] == default["sentences"] == 3
    assert (given["bleu"], given["chrf"]) == (default["bleu"], default["chrf"])


# -- a wrong format names the run's task and its formats -------------------------------------
@pytest.mark.parametrize("run,command,fmt,needle", [
    ("lm", "evaluate", "tsv", "is a lm run, whose `evaluate` takes --format text or lines"),
    ("lm", "evaluate", "conllu", "is a lm run, whose `evaluate` takes --format text or lines"),
    ("classify", "evaluate", "lines", "a classify run, whose `evaluate` takes --format tsv or "
     "folder"),
    ("classify", "evaluate", "csv", "a classify run, whose `evaluate` takes --format tsv or "
     "folder"),
    ("conditional", "evaluate", "text", "a conditional run, whose `evaluate` takes --format "
     "tsv or folder"),
    ("tag", "evaluate", "tsv", "a tag run, whose `evaluate` takes --format conllu or text"),
    ("tag", "evaluate", "auto", "a tag run, whose `evaluate` takes --format conllu or text"),
    ("tag", "predict", "lines", "a tag run, whose `predict` takes --format auto, conllu or "
     "text"),
    ("translate", "evaluate", "tsv", "a translate run, whose `evaluate` takes --format pairs"),
    ("forecast", "evaluate", "csv", "a forecasting run reads one series, the csv it was "
     "trained on"),
    ("forecast", "predict", "tsv", "a forecasting run reads one series, the csv it was "
     "trained on"),
])
def test_a_wrong_format_names_the_task_and_its_formats(run, command, fmt, needle, runs, files,
                                                        user_error):
    data = [] if run == "forecast" else ["--data", str(files["names"])]
    line = user_error([command, str(runs[run]), *data, "--format", fmt])
    assert needle in line, line
    assert f"got {fmt!r}" in line or run == "forecast", line


@pytest.mark.parametrize("run,needle", [
    ("classify", "a classify run (its --format tsv or folder is for `evaluate`)"),
    ("lm", "a lm run (its --format text or lines is for `evaluate`)"),
    ("translate", "a translate run (its --format pairs is for `evaluate`)"),
])
def test_predict_of_texts_refuses_format_and_says_where_it_belongs(run, needle, runs,
                                                                    user_error):
    line = user_error(["predict", str(runs[run]), "x", "--format", "tsv"])
    assert needle in line and "drop --format" in line, line


@pytest.mark.parametrize("run", ["lm", "classify", "tag", "translate"])
def test_format_without_data_is_refused(run, runs, user_error):
    fmt = {"lm": "lines", "classify": "tsv", "tag": "conllu", "translate": "pairs"}[run]
    assert "--format is the format of --data" in user_error(
        ["evaluate", str(runs[run]), "--format", fmt])
