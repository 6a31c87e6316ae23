"""The one driver and the one CLI across tasks: every (task, model) trains two steps through
`rnnlab train` and answers `evaluate` and `predict`; every subcommand refuses a run of a task
it does not apply to with one error naming the run's task; every run records its task;
`rnnlab --help` imports no torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rnnlab.checkpoint import load_checkpoint
from rnnlab.cli import main
from rnnlab.tasks import TASKS

SUBCOMMANDS = ("evaluate", "generate", "score", "predict", "diagnose", "forecast", "translate")
PAIRS_FILE = Path(__file__).parent / "data" / "pairs_tiny.tsv"
FAST = ["--max-steps", "2", "--eval-every", "1", "--threads", "1", "--no-progress",
        "--hidden-size", "8", "--batch-size", "8"]
# what each task trains on, and the flags a model needs beside its name
DATA = {"lm": lambda f: ["--data", str(f["names"]), "--embedding-dim", "8", "--samples", "1"],
        "forecast": lambda f: ["--task", "forecast", "--data", str(f["series"]), "--season",
                               "12", "--horizon", "3", "--context", "12"],
        "classify": lambda f: ["--task", "classify", "--data", str(f["labeled"])],
        "conditional": lambda f: ["--task", "conditional", "--data", str(f["labeled"])],
        "tag": lambda f: ["--task", "tag", "--data", str(TAGGED), "--val-data", str(TAGGED),
                          "--test-data", str(TAGGED),
                          "--embedding-dim", "8", "--char-hidden", "4"],
        "translate": lambda f: ["--task", "translate", "--data", str(PAIRS_FILE), "--min-freq",
                                "1", "--embedding-dim", "8", "--final-beams", "2"]}
TAGGED = Path(__file__).parent / "data" / "tag_tiny.conllu"
EXTRA = {("lm", "ngram"): ["--order", "3"]}
PAIRS = [(t, m) for t, mod in TASKS.items()
         for m in mod.ModelConfig.__dataclass_fields__["model"].metadata["choices"]]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("data")
    names = d / "names.txt"
    names.write_text("\n".join(["anna", "emma", "olivia", "ava", "mia", "liam", "noah",
                                 "sofia", "lucas", "ella", "mateo", "lena"] * 20) + "\n")
    series = d / "s.csv"
    import math

    series.write_text("month,v\n" + "\n".join(
        f"{1990 + i // 12}-{i % 12 + 1:02d},{50 + 40 * math.sin(i / 3):.3f}"
        for i in range(120)) + "\n")
    labeled = d / "l.tsv"  # surnames of two languages, one per line with its label
    labeled.write_text("".join(f"{n}\t{lab}\n" for lab, ns in (
        ("Italian", ["Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo",
                     "Ricci", "Marino", "Greco", "Bruno", "Gallo", "Conti", "Costa"]),
        ("Japanese", ["Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto",
                      "Nakamura", "Kobayashi", "Kato", "Yoshida", "Yamada", "Sasaki", "Abe"]))
        for n in ns))
    return {"names": names, "series": series, "labeled": labeled}


@pytest.fixture(scope="module")
def runs(files, tmp_path_factory) -> dict[str, Path]:
    """One trained run of each task."""
    d = tmp_path_factory.mktemp("runs")
    out = {}
    for task, model in (("lm", "gru"), ("forecast", "gru"), ("classify", "gru"),
                        ("conditional", "gru"), ("tag", "gru"), ("translate", "gru")):
        out[task] = d / task
        assert main(["train", *DATA[task](files), "--model", model, *FAST,
                     "--out", str(out[task])]) == 0
    return out


@pytest.mark.parametrize("task,model", PAIRS, ids=[f"{t}-{m}" for t, m in PAIRS])
def test_every_task_and_model_trains_evaluates_predicts(task, model, files, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", *DATA[task](files), "--model", model, *EXTRA.get((task, model), []),
            *FAST, "--out", str(out)]
    assert main(argv) == 0
    assert json.loads((out / "config.json").read_text())["task"] == task
    assert load_checkpoint(out)["task"] == task
    capsys.readouterr()
    assert main(["evaluate", str(out), "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert {"lm": "nll", "classify": "macro_f1", "conditional": "nll",
            "tag": "unknown_accuracy", "translate": "bleu"}.get(task, "model") in m
    extra = {"classify": ["Rossi", "Tanaka"], "conditional": ["Italian"],
             "tag": ["--data", str(TAGGED)], "translate": ["Go!", "Be calm."]}.get(task, [])
    assert main(["predict", str(out), *extra, "--json", "--max-new-tokens", "4"]) == 0
    printed = capsys.readouterr().out
    assert printed.strip()
    if task == "forecast":
        assert (out / "forecast.csv").is_file()


MISMATCHES = [(c, t) for c in SUBCOMMANDS for t in TASKS if c not in TASKS[t].COMMANDS]


@pytest.mark.parametrize("command,task", MISMATCHES, ids=[f"{c}-on-{t}" for c, t in MISMATCHES])
def test_subcommand_on_a_run_of_another_task_names_the_task(command, task, runs, tmp_path,
                                                            user_error):
    extra = {"score": ["some text"], "diagnose": ["--out", str(tmp_path / "d")],
             "forecast": ["--horizon", "3"], "translate": ["Go!"]}.get(command, [])
    msg = user_error([command, str(runs[task]), *extra])
    assert f"is a {task} run" in msg
    assert ", ".join(TASKS[task].COMMANDS) in msg  # the subcommands that do apply


def test_resume_of_another_task_and_changed_settings_are_refused(runs, user_error):
    msg = user_error(["train", "--out", str(runs["forecast"]), "--resume", "--task", "lm"])
    assert "is a forecast run" in msg
    msg = user_error(["train", "--out", str(runs["lm"]), "--resume", "--lr", "0.5"])
    assert "--lr 0.5 differs" in msg


def test_the_task_comes_from_the_config_file(files, tmp_path, capsys):
    cfg = tmp_path / "f.toml"
    cfg.write_text(f'task = "forecast"\n[data]\ndata = "{files["series"]}"\nseason = 12\n'
                   'horizon = 3\n[model]\ncontext = 12\n')
    capsys.readouterr()
    assert main(["train", "--config", str(cfg), "--dry-run"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["task"] == "forecast" and d["data"]["season"] == 12


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"]])
def test_help_imports_no_torch(argv):
    code = (f"import sys\nfrom rnnlab.cli import main\ntry:\n    main({argv!r})\n"
            "except SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "--task" in r.stdout


def test_monitor_defaults_to_the_task_and_is_checked_per_task():
    from rnnlab.errors import RnnlabError
    from rnnlab.tasks import make_config, monitor_of

    cfg, _ = make_config("classify", None, {"data": {"data": "x.tsv"}})
    assert monitor_of(cfg) == "nll"
    cfg, _ = make_config("classify", None, {"data": {"data": "x.tsv"},
                                            "train": {"monitor": "error_rate"}})
    assert monitor_of(cfg) == "error_rate"
    assert monitor_of(make_config("tag", None, {"data": {"data": "x.conllu"}})[0]) == \
        "error_rate"
    with pytest.raises(RnnlabError, match="not a validation figure of --task lm"):
        make_config("lm", None, {"train": {"monitor": "error_rate"}})
