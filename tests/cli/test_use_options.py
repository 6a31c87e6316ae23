"""The use-time subcommands (rnnlab/cli/use.py, rnnlab/options.py): every task satisfies the
protocol; every option of every subcommand, on a run of each task, given careless values
(-1, 0, nan, inf, 1e30, an empty string) either means what its declaration documents (exit
0) or gives one `error:` line with exit status 2, never a traceback; the command line names
no task."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from rnnlab.cli import main
from rnnlab.cli.use import RUN_COMMANDS, declared
from rnnlab.errors import RnnlabError
from rnnlab.options import Command, Option
from rnnlab.tasks import TASKS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CAREFUL = ["-1", "0", "nan", "inf", "1e30", ""]
FAST = ["--max-steps", "2", "--eval-every", "1", "--threads", "1", "--no-progress",
        "--hidden-size", "8", "--batch-size", "8", "--model", "gru"]


# -- the protocol ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(TASKS))
def test_every_task_satisfies_the_use_time_protocol(name):
    task = TASKS[name]
    assert {"evaluate", "predict"} <= set(task.COMMANDS)
    for fn in ("evaluate", "predict", "describe_evaluation", "describe_predictions"):
        assert callable(getattr(task, fn)), fn
    for key, c in task.COMMANDS.items():
        assert isinstance(c, Command) and c.name == key and key in RUN_COMMANDS
        assert callable(c.run) and callable(c.show) and c.help
        names = [o.name for o in c.options]
        assert len(names) == len(set(names)), f"{name} {key}: an option declared twice"
        assert sum(o.positional for o in c.options) <= 1
        for o in c.options:
            assert o.help, f"{name} {key} {o.flag}: no help"
            if o.default is not None:
                assert o.check(o.default) == o.default, f"{name} {key} {o.flag}"
            if o.when is not None:
                assert c.option(o.when[0]) is not None, f"{o.flag} depends on a missing option"


def test_an_option_not_declared_is_refused_from_python():
    with pytest.raises(RnnlabError, match="'horizon': not an option of `evaluate`"):
        TASKS["lm"].COMMANDS["evaluate"].bind({"horizon": 3})


@pytest.mark.parametrize("command", RUN_COMMANDS)
def test_help_names_who_uses_each_option_and_reads_its_range(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    assert not re.search(r"\d{1,3}(,\d{3}){4,}", text), "an unreadable range"
    for decls in declared(command).values():
        assert decls[0][1].flag in text or decls[0][1].positional
        for who, _ in decls:
            assert who in text


def test_the_command_line_names_no_task():
    cli = Path(__file__).resolve().parents[2] / "rnnlab" / "cli"
    names = "|".join(TASKS)
    pattern = re.compile(rf"""(==|!=|\bin)\s*\(?["']({names})["']|["']({names})["']\s*(==|!=)"""
                         rf"""|TASKS\[["']({names})["']\]|get_task\(["']({names})["']""")
    for f in cli.glob("*.py"):
        hits = [line for line in f.read_text().splitlines() if pattern.search(line)]
        assert not hits, f"{f.name} compares a task name: {hits}"


# -- careless values on a run of each task ---------------------------------------------------
@pytest.fixture(scope="module")
def runs(task_files, tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("use")
    names, series, labeled = (task_files[k] for k in ("names", "series", "labeled"))
    tagged, pairs = FIXTURES / "tag_tiny.conllu", FIXTURES / "pairs_tiny.tsv"
    data = {"lm": ["--data", str(names)],
            "forecast": ["--task", "forecast", "--data", str(series), "--season", "12",
                         "--horizon", "3", "--context", "12"],
            "classify": ["--task", "classify", "--data", str(labeled)],
            "conditional": ["--task", "conditional", "--data", str(labeled)],
            "tag": ["--task", "tag", "--data", str(tagged), "--val-data", str(tagged),
                    "--test-data", str(tagged)],
            "translate": ["--task", "translate", "--data", str(pairs), "--min-freq", "1"]}
    out = {}
    for task, argv in data.items():
        out[task] = d / task
        assert main(["train", *argv, *FAST, "--out", str(out[task])]) == 0
    return out


def _base(task: str, command: str, tmp: Path) -> list[str]:
    """What makes `command` work on a run of `task` (inputs, a needed option)."""
    inputs = {("lm", "score"): ["anna"], ("lm", "diagnose"): ["--out", str(tmp / "diag"),
                                                                "--seq-len", "4",
                                                                "--batch-size", "2"],
              ("forecast", "forecast"): ["--horizon", "2"],
              ("classify", "predict"): ["rossi"], ("conditional", "predict"): ["Italian"],
              ("conditional", "generate"): ["--condition", "Italian"], ("tag", "predict"): ["a b"],
              ("translate", "translate"): ["Go!"], ("translate", "predict"): ["Go!"],
              ("translate", "evaluate"): ["--limit", "2"]}
    return inputs.get((task, command), [])


def _enabling(o: Option) -> list[str]:
    """The option that makes `o` apply (--strategy beam_search for --num-beams)."""
    return [] if o.when is None else ["--" + o.when[0].replace("_", "-"), o.when[1][0]]


def _cases(task: str) -> list[tuple[str, str, str | None]]:
    """(command, option name, value) over every option any task declares for the commands
    `task` offers (the ones it does not take must be refused)."""
    out: list[tuple[str, str, str | None]] = []
    for command in TASKS[task].COMMANDS:
        for name, decls in declared(command).items():
            o = decls[0][1]
            if o.type is bool:
                out.append((command, name, None))
            else:
                out += [(command, name, v) for v in CAREFUL]
    return out


def _run(argv: list[str], capsys) -> tuple[int, str]:
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as e:  # argparse: its own one-line error, or --help
        code = int(e.code or 0)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("task", list(TASKS))
def test_careless_values_mean_what_is_documented_or_are_one_error(task, runs, tmp_path,
                                                                 capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an accepted --out 0 writes ./0, here
    accepted = []
    for command, name, value in _cases(task):
        mine = TASKS[task].COMMANDS[command].option(name)
        o = mine or declared(command)[name][0][1]
        given = [value] if o.positional else [o.flag] + ([] if value is None else [value])
        argv = [command, str(runs[task]), *_base(task, command, tmp_path), *_enabling(o),
                *given]
        code, err = _run(argv, capsys)
        assert "Traceback" not in err, (argv, err)
        if code == 0:
            # accepted: the run's task takes the option, and its declaration documents the
            # value (in range, or a special value with its meaning)
            assert mine is not None, (argv, "accepted an option the task does not take")
            if mine.positional:
                mine.check([value])
            elif value is not None and name != "threads":
                mine.parse(value)  # raises if the value is not documented
            accepted.append((command, name, value))
        else:
            lines = err.strip().splitlines()
            assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (argv, err)
    assert accepted  # the switches at least


@pytest.mark.parametrize("argv,needle", [
    (["generate", "{lm}", "--temperature", "inf"], "--temperature must be a finite number"),
    (["generate", "{lm}", "--length-penalty", "nan"], "--length-penalty must be"),
    (["generate", "{lm}", "--length-penalty", "0.5"], "applies to --strategy beam_search"),
    (["generate", "{lm}", "--strategy", "beam_search", "--length-penalty", "-1"],
     "--length-penalty must be >= 0"),
    (["translate", "{translate}", "Go!", "--temperature", "1e30"], "--temperature must be"),
    (["translate", "{translate}", "Go!", "--temperature", "2"],
     "--temperature applies to --strategy sample"),
    (["evaluate", "{lm}", "--horizon", "3"], "--horizon applies to forecast runs"),
    (["predict", "{forecast}", "x"], "INPUT arguments apply to"),
    (["evaluate", "{classify}", "--format", "lines"], "--format must be one of tsv, folder"),
])
def test_the_known_holes_are_closed(argv, needle, runs, user_error):
    line = user_error([a.format(**{k: str(v) for k, v in runs.items()}) for a in argv])
    assert needle in line


def test_evaluate_reads_a_file_in_the_format_the_task_reads(runs, tmp_path, capsys):
    f = tmp_path / "more.txt"
    f.write_text("anna\nemma\n")
    assert main(["evaluate", str(runs["lm"]), "--data", str(f), "--format", "lines"]) == 0
    assert "nll" in capsys.readouterr().out
    assert main(["evaluate", str(runs["lm"]), "--data", str(f), "--format", "tsv"]) == 2
    assert "--format must be one of text, lines, got 'tsv'" in capsys.readouterr().err
    labeled = tmp_path / "l.tsv"
    labeled.write_text("Rossi\tItalian\nSato\tJapanese\n")
    assert main(["evaluate", str(runs["classify"]), "--data", str(labeled), "--format",
                 "tsv"]) == 0


def test_the_python_api_takes_a_dict_of_options(runs):
    from rnnlab.run import load

    loaded = load(runs["lm"])
    m = TASKS["lm"].evaluate(loaded, {"split": "val"})
    assert m["tokens"] > 0
    rows = TASKS["lm"].predict(loaded, ["an"], {"strategy": "greedy", "max_new_tokens": 3})
    assert rows["rows"][0]["output"].startswith("an")
    with pytest.raises(RnnlabError, match="--temperature applies to --strategy sample"):
        TASKS["lm"].predict(loaded, ["an"], {"strategy": "greedy", "temperature": 2.0})


@pytest.mark.skipif(importlib.util.find_spec("onnx") is None, reason="needs onnx")
def test_export_and_onnx_generation_options(runs, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    onnx = tmp_path / "m.onnx"
    assert main(["export", str(runs["lm"]), "--out", str(onnx)]) == 0
    for command, target, base in (("export", runs["lm"], ["--out", str(onnx)]),
                                  ("generate", onnx, [])):
        for decls in declared(command).values():
            o = decls[0][1]
            for v in [None] if o.type is bool else CAREFUL:
                argv = [command, str(target), *base, *_enabling(o), o.flag,
                        *([] if v is None else [v])]
                code, err = _run(argv, capsys)
                assert "Traceback" not in err and code in (0, 2), (argv, err)
                if code == 2:
                    assert len(err.strip().splitlines()) == 1, (argv, err)
