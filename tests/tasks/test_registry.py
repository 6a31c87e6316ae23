"""The one driver and the one CLI across tasks: every (task, model) trains two steps through
`rnnlab train` and answers `evaluate` and `predict` (what `predict --json` prints equals the
task's `predict` function on the same input; a class is the argmax of the model's
probabilities, a tagged file keeps its words); every subcommand refuses a run of a task
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
from rnnlab.run import load
from rnnlab.tasks import TASKS

SUBCOMMANDS = ("evaluate", "generate", "score", "predict", "diagnose", "forecast", "translate")
PAIRS_FILE = Path(__file__).resolve().parents[1] / "fixtures" / "pairs_tiny.tsv"
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
TAGGED = Path(__file__).resolve().parents[1] / "fixtures" / "tag_tiny.conllu"
EXTRA = {("lm", "ngram"): ["--order", "3"]}
PAIRS = [(t, m) for t, mod in TASKS.items()
         for m in mod.ModelConfig.__dataclass_fields__["model"].metadata["choices"]]


@pytest.fixture(scope="module")
def files(task_files: dict[str, Path]) -> dict[str, Path]:
    return task_files


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


def read_by(task: str, model: str, flags: list[str]) -> list[str]:
    """`flags` without the model flags `model` does not read (those are refused)."""
    only, out, i = TASKS[task].MODEL_ONLY, [], 0
    while i < len(flags):
        name = flags[i][2:].replace("-", "_")
        if name in only and model not in only[name]:
            i += 2
            continue
        out.append(flags[i])
        i += 1
    return out


@pytest.mark.parametrize("task,model", PAIRS, ids=[f"{t}-{m}" for t, m in PAIRS])
def test_every_task_and_model_trains_evaluates_predicts(task, model, files, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", *read_by(task, model, [*DATA[task](files), *FAST]), "--model", model,
            *EXTRA.get((task, model), []), "--out", str(out)]
    assert main(argv) == 0
    assert json.loads((out / "config.json").read_text())["task"] == task
    assert load_checkpoint(out)["task"] == task
    capsys.readouterr()
    assert main(["evaluate", str(out), "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert {"lm": "nll", "classify": "macro_f1", "conditional": "nll",
            "tag": "unknown_accuracy", "translate": "bleu"}.get(task, "model") in m
    inputs = {"classify": ["Rossi", "Tanaka"], "conditional": ["Italian"],
              "translate": ["Go!", "Be calm."]}.get(task, [])
    options = {"tag": {"data": str(TAGGED)}}.get(task, {})
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in options.items()]
    assert main(["predict", str(out), *inputs, *flags, "--json"]) == 0
    printed = json_values(capsys.readouterr().out)
    # the command prints what the task's library function returns for the same input
    expected = TASKS[task].predict(load(out), inputs, options)
    assert without_timing(printed) == without_timing(rows_of(json.loads(json.dumps(expected))))
    check_prediction(task, out, inputs, expected)


def json_values(text: str) -> list:
    """The JSON a command printed: one document, or one per line."""
    try:
        return rows_of(json.loads(text))
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def rows_of(d) -> list:
    """The per-input records of a prediction, however the task wraps them."""
    for key in ("rows", "sentences"):
        if isinstance(d, dict) and key in d:
            return d[key]
    return d if isinstance(d, list) else [d]


def without_timing(d):
    """A prediction with its wall-clock fields dropped (they differ between two calls)."""
    if isinstance(d, dict):
        return {k: without_timing(v) for k, v in d.items() if k not in ("seconds", "out")}
    if isinstance(d, list):
        return [without_timing(v) for v in d]
    return d


def check_prediction(task: str, out: Path, inputs: list[str], result) -> None:
    """What a prediction must be, computed from the model without the task's code path."""
    import torch

    loaded = load(out)
    if task == "classify":  # the top class is the argmax of the model's probabilities
        from rnnlab.data.batching import ClassBatches
        from rnnlab.data.tokenizers import LabelVocab, Tokenizer

        tok = Tokenizer.from_dict(loaded.payload["tokenizer"])
        labels = LabelVocab.from_dict(loaded.payload["labels"]).itos
        b = next(iter(ClassBatches([tok.encode(t) for t in inputs], None, len(inputs)).epoch(0)))
        with torch.no_grad():
            p = torch.softmax(loaded.model(b).logits.float(), -1)
        for row, probs in zip(result, p, strict=True):
            best = int(probs.argmax())
            assert row["top"][0] == [labels[best], pytest.approx(float(probs[best]), abs=1e-6)]
            assert [c for c, _ in row["top"]] == [labels[i] for i in probs.argsort(
                descending=True)[:len(row["top"])].tolist()]
    elif task == "tag":  # one tag per word of every sentence of the file
        from rnnlab.data.readers import read_conllu

        words = [w for w, _ in read_conllu(TAGGED, loaded.cfg.data.tag_column, "--data")]
        assert [s["words"] for s in result["sentences"]] == words
        assert [len(s["tags"]) for s in result["sentences"]] == [len(w) for w in words]
    elif task == "translate":
        assert [r["source"] for r in result["rows"]] == inputs
    elif task == "forecast":
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
    from rnnlab.runconfig import make_config, monitor_of

    cfg, _ = make_config("classify", None, {"data": {"data": "x.tsv"}})
    assert monitor_of(cfg) == "nll"
    cfg, _ = make_config("classify", None, {"data": {"data": "x.tsv"},
                                            "train": {"monitor": "error_rate"}})
    assert monitor_of(cfg) == "error_rate"
    assert monitor_of(make_config("tag", None, {"data": {"data": "x.conllu"}})[0]) == \
        "error_rate"
    with pytest.raises(RnnlabError, match="not a validation figure of --task lm"):
        make_config("lm", None, {"train": {"monitor": "error_rate"}})
