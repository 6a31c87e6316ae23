"""A run's configuration, built for its task: the one place a `RunConfig` is made and checked.

`make_config(task, file, flags)` layers defaults < a TOML dict < flags and validates, so the
CLI, TOML files and the Python API go through the same checks; `config_from_dict` reads a
saved config.json back. The task's own combination rules are its `check(cfg, given)`; the
rules every task shares run here: a value given for a field the task, its model or its
training does not read is refused naming who reads it (the task's MODEL_ONLY and
TRAIN_UNUSED), an unknown choice names the task that has it, and the training combinations
(--momentum needs sgd, ...) hold for every task. Keys renamed for one name per concept (the
tasks' RENAMED) still read, with a one-line note. A `--max-time` without `--max-steps` lets
the time budget end the run (rnnlab/budget.py), for every task.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rnnlab.budget import apply_budget
from rnnlab.config import SECTIONS, RunConfig, TrainConfig, check_section, flag, overlay
from rnnlab.data.resolve import resolve_config
from rnnlab.errors import RnnlabError
from rnnlab.tasks import DEFAULT_TASK, TASKS, get_task
from rnnlab.tasks.base import Task


def section_classes(name: str) -> dict[str, type]:
    t = get_task(name)
    return {"data": t.DataConfig, "model": t.ModelConfig, "train": TrainConfig}


def default_config(task: str = DEFAULT_TASK) -> RunConfig:
    """The task's defaults, unvalidated (as `RunConfig(task=...)` once gave)."""
    classes = section_classes(task)
    return RunConfig(task=task, data=classes["data"](), model=classes["model"]())


def owners(section: str, key: str) -> list[str]:
    """The tasks whose `section` has a field `key`."""
    return [n for n in TASKS
            if key in {f.name for f in dataclasses.fields(section_classes(n)[section])}]


def _foreign(task: str) -> Callable[[str, str], str | None]:
    def which(section: str, key: str) -> str | None:
        others = [n for n in owners(section, key) if n != task]
        return others[0] if others else None

    return which


def renamed_keys() -> dict[str, str]:
    """Old "section.key" -> new, over every task (a concept has one name in all of them)."""
    return {old: new for t in TASKS.values() for old, new in t.RENAMED.items()}


def rename_old_keys(task: str, d: dict[str, Any], source: str, quiet: bool = False
                    ) -> dict[str, Any]:
    """`{section: {key: value}}` with renamed keys under their new names, each old one noted
    on stderr once (`quiet`: saved configs of old runs, which nobody needs to edit)."""
    old_to_new, classes = renamed_keys(), section_classes(task)
    out: dict[str, Any] = {}
    for section, values in d.items():
        if section not in SECTIONS or not isinstance(values, dict):
            out[section] = values
            continue
        names = {f.name for f in dataclasses.fields(classes[section])}
        out[section] = {}
        for key, value in values.items():
            new = old_to_new.get(f"{section}.{key}", "").partition(".")[2]
            if key in names or new not in names:
                out[section][key] = value
                continue
            if new in values:
                raise RnnlabError(f"{source}: {key!r} and {new!r} in [{section}] are one "
                                  f"setting ({key!r} is its old name); drop {key!r}")
            if not quiet:
                print(f"note: {key} in [{section}] of {source} is now {new}", file=sys.stderr)
            out[section][new] = value
    return out


def _choice_elsewhere(cfg: RunConfig) -> None:
    """An unknown choice that is a choice of another task (--model hmm without --task tag):
    name the task that has it."""
    for section in ("data", "model"):
        obj = getattr(cfg, section)
        for f in dataclasses.fields(obj):
            value, choices = getattr(obj, f.name), f.metadata.get("choices")
            if not choices or not isinstance(value, str) or value in choices:
                continue
            others = [n for n in TASKS if n != cfg.task and value in _choices(n, section, f.name)]
            if others:
                noun = f.metadata.get("noun") or f.name.replace("_", " ")
                where = " or ".join(f"--task {n} ({TASKS[n].TITLE})" for n in others)
                raise RnnlabError(
                    f"{flag(f.name)} {value!r}: unknown {noun} of --task {cfg.task}; it belongs "
                    f"to {where}: add --task {others[0]}, or choose one of {', '.join(choices)}")


def _choices(task: str, section: str, name: str) -> tuple[str, ...]:
    fields = {f.name: f for f in dataclasses.fields(section_classes(task)[section])}
    return fields[name].metadata.get("choices") or () if name in fields else ()


def check_applies(task: Task, cfg: RunConfig, given: set[str]) -> None:
    """A given value the run will not read is refused, naming who reads it."""
    for key in sorted(given):
        section, _, name = key.partition(".")
        if section == "train" and name in task.TRAIN_UNUSED:
            users = [n for n, t in TASKS.items() if name not in t.TRAIN_UNUSED]
            raise RnnlabError(f"{flag(name)} applies to --task {', '.join(users)}, not to "
                              f"--task {cfg.task}; drop it")
        models = task.MODEL_ONLY.get(name) if section == "model" else None
        if models is not None and cfg.model.model not in models:
            raise RnnlabError(f"{flag(name)} applies to --model {', '.join(models)}, not to "
                              f"--model {cfg.model.model}; drop it")


def check_training(task: Task, cfg: RunConfig, given: set[str] | None) -> None:
    """Combinations of TrainConfig fields, the same for every task."""
    t = cfg.train
    if t.precision == "bf16-head" and not t.fused_loss:
        if "fused_loss" in task.TRAIN_UNUSED:
            raise RnnlabError(f"--precision bf16-head is the fused output layer, which --task "
                              f"{cfg.task} has not; use --precision bf16 or fp32")
        raise RnnlabError("--precision bf16-head applies to the fused output layer: add "
                          "--fused-loss")
    if given is None:
        return
    if t.schedule != "step" and given & {"train.lr_decay", "train.decay_start"}:
        raise RnnlabError("--lr-decay and --decay-start shape the step schedule: add "
                          "--schedule step or drop them")
    if not t.max_time and "train.budget_evals" in given:
        raise RnnlabError("--budget-evals spreads evaluations over --max-time: add --max-time "
                          "SECONDS, or use --eval-every N")
    if t.optimizer != "sgd" and "train.momentum" in given:
        raise RnnlabError("--momentum applies to --optimizer sgd; drop it or use sgd")


def validate(cfg: RunConfig, given: set[str] | None = None) -> RunConfig:
    """Check every field (type, range, finiteness), the task's combinations and the rules
    every task shares. `given`: the "section.key" names set explicitly (a flag or a TOML
    key), for checks such as "--seq-len applies to --format text"; None skips those."""
    task = get_task(cfg.task)
    _choice_elsewhere(cfg)
    for name in SECTIONS:
        check_section(name, getattr(cfg, name))
    allowed = task.MONITORS
    if cfg.train.monitor not in ("auto", *allowed):
        raise RnnlabError(
            f"--monitor {cfg.train.monitor} is not a validation figure of --task {cfg.task}; "
            f"choose auto or {', '.join(allowed)}")
    task.check(cfg, given)
    if given is not None:
        check_applies(task, cfg, given)
    check_training(task, cfg, given)
    return cfg


def check_inputs(cfg: RunConfig) -> None:
    """Every input file the config names exists and is readable (before any work starts,
    --dry-run included). What is inside is the readers' to check."""
    for section in SECTIONS:
        obj = getattr(cfg, section)
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if not f.metadata.get("input") or value is None:
                continue
            p = Path(value)
            if not p.exists():
                raise RnnlabError(f"{flag(f.name)}: file {value!r} does not exist; check the "
                                  "path")
            if not os.access(p, os.R_OK):
                raise RnnlabError(f"{flag(f.name)}: {value!r} is not readable (permissions); "
                                  "fix them or pass another file")


def monitor_of(cfg: RunConfig) -> str:
    """The validation metric the trainer minimizes: --monitor, or the task's own."""
    return get_task(cfg.task).MONITOR if cfg.train.monitor == "auto" else cfg.train.monitor


def make_config(
    task: str | None = None, file: dict[str, Any] | None = None,
    flags: dict[str, dict[str, Any]] | None = None, source: str = "--config",
) -> tuple[RunConfig, set[str]]:
    """Defaults < `file` (a TOML dict, which may name its task) < `flags`; validated.
    Returns the config and the "section.key" names given explicitly."""
    file = file or {}
    file_task = file.get("task")
    if task is None:
        task = file_task if file_task is not None else DEFAULT_TASK
    elif file_task is not None and file_task != task:
        raise RnnlabError(
            f"{source} names task {file_task!r} but --task is {task!r}; drop one of them"
        )
    get_task(task, f"task in {source}" if task == file_task else "--task")
    cfg = default_config(task)
    given = overlay(cfg, rename_old_keys(task, file, source), source, _foreign(task))
    if flags:
        given |= overlay(cfg, flags, "flags", _foreign(task))
    given |= resolve_config(cfg, given)  # dataset names -> files (fetched), their split
    cfg.explicit = sorted(given)
    apply_budget(cfg)  # --max-time without --max-steps: the budget ends the run
    return validate(cfg, given), given


def config_from_dict(d: dict[str, Any], task: str | None = None) -> RunConfig:
    """A saved config (config.json or a checkpoint's); runs saved before configs named their
    task are language-model runs unless `task` says otherwise."""
    name = d.get("task") or task or DEFAULT_TASK
    cfg = default_config(get_task(name, "the saved config's task").NAME)
    sections = rename_old_keys(name, {k: v for k, v in d.items() if k not in ("task", "explicit")},
                               "saved config", quiet=True)
    overlay(cfg, sections, "saved config", _foreign(name))
    old_to_new = renamed_keys()
    cfg.explicit = (None if d.get("explicit") is None
                    else [old_to_new.get(k, k) for k in d["explicit"]])
    return validate(cfg)  # every key is "given" in a saved config: no given-flag checks


def check_command(task: str, command: str, run: str) -> None:
    """One error line when a subcommand does not apply to a run's task."""
    t = get_task(task, "the run's task")
    if command not in t.COMMANDS:
        users = [n for n, m in TASKS.items() if command in m.COMMANDS]
        raise RnnlabError(
            f"`rnnlab {command}` applies to {' and '.join(users)} runs; {run!r} is a "
            f"{task} run, whose subcommands are: {', '.join(t.COMMANDS)}"
        )
