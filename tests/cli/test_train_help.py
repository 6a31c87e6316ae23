"""`rnnlab train`'s help: the overview without a task, one task's flags with --task NAME (or a
--config naming its task), short enough to read, readable ranges, examples that parse; bare
`rnnlab` and `rnnlab --version`; help imports no torch."""

from __future__ import annotations

import dataclasses
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import rnnlab
from rnnlab.cli import main
from rnnlab.cli.flags import FLAGS, given_flags
from rnnlab.cli.parser import build_parser
from rnnlab.config import TrainConfig, flag, load_toml
from rnnlab.runconfig import make_config
from rnnlab.tasks import TASKS


def help_of(argv: list[str], capsys) -> str:
    capsys.readouterr()
    assert main(argv) == 0
    out = capsys.readouterr()
    assert out.err == ""
    return out.out


@pytest.mark.parametrize("task", list(TASKS))
def test_task_help_shows_that_task_only(task, capsys):
    text = help_of(["train", "--task", task, "--help"], capsys)
    module = TASKS[task]
    for cls in (module.DataConfig, module.ModelConfig):
        for f in dataclasses.fields(cls):
            assert flag(f.name) in text, f.name
    others = {f for f, entry in FLAGS.items() if task not in entry.tasks}
    for name in others:
        assert f"{flag(name)} " not in text and f"{flag(name)}\n" not in text, name
    assert "examples:" in text
    for example in module.EXAMPLES:
        assert example in text
    assert "4,611,686" not in text and "9,223,372" not in text  # BIG prints as nothing
    assert len(text.splitlines()) <= 110, len(text.splitlines())


def test_tag_help_is_at_most_80_lines(capsys):
    assert len(help_of(["train", "--task", "tag", "--help"], capsys).splitlines()) <= 80


def test_help_follows_the_config_task(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('task = "forecast"\n')
    text = help_of(["train", "--config", str(cfg), "--help"], capsys)
    assert "--task forecast" in text and "--horizon" in text and "--seq-len" not in text


def test_train_help_without_task_is_the_overview(capsys):
    text = help_of(["train", "--help"], capsys)
    for name in TASKS:
        assert f"  {name} " in text
    assert "rnnlab train --task NAME --help" in text
    assert "--max-steps" in text and "--hidden-size" not in text
    assert "4,611,686" not in text
    assert len(text.splitlines()) <= 90


@pytest.mark.parametrize("task", list(TASKS))
def test_examples_are_valid_commands(task, capsys, shared_dataset):
    """Each example parses and its config validates (its input files are the user's; the
    datasets it names come from ../shared, never the network)."""
    from rnnlab.data.registry import find

    for example in TASKS[task].EXAMPLES:
        argv = shlex.split(example)
        assert argv[:2] == ["rnnlab", "train"]
        for word in argv:
            if find(word) is not None and not Path(word).exists():
                shared_dataset(find(word)[0].name)
        args = build_parser().parse_args(argv[1:])
        root = Path(__file__).resolve().parents[2]
        file = load_toml(root / args.config) if args.config else None
        task = args.task or (file or {}).get("task")
        make_config(args.task, file, given_flags(args, task))
    assert 2 <= len(TASKS[task].EXAMPLES) <= 3


def test_every_flag_has_help_text():
    for entry in FLAGS.values():
        assert entry.help.strip(), entry.name
    for f in dataclasses.fields(TrainConfig):
        assert f.metadata["help"].strip()


def test_bare_rnnlab_prints_the_overview(capsys):
    with pytest.raises(SystemExit) as e:
        main([])
    assert e.value.code == 0
    out = capsys.readouterr()
    assert "usage: rnnlab" in out.out and "train" in out.out and out.err == ""


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"rnnlab {rnnlab.__version__}"


@pytest.mark.parametrize("argv", [["--help"], ["train", "--task", "lm", "--help"],
                                  ["train", "--help"]])
def test_help_imports_no_torch(argv):
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "rnnlab", *argv],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    imported = [line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines()
                if line.startswith("import time:")]
    assert imported and not any(m.split(".")[0] == "torch" for m in imported)
