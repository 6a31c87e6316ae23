"""The tasks: one module each, and the one place a config is built for a task.

`TASKS` maps a `--task` name to its module (see tasks/base.py for what a module holds).
`make_config` builds and validates a `RunConfig` from defaults, a TOML dict and flags, so the
CLI, TOML files and the Python API go through the same checks.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from rnnlab.config import SECTIONS, TrainConfig, check_section, overlay
from rnnlab.errors import RnnlabError
from rnnlab.tasks import classify, conditional, forecast, lm, tag, translate

TASKS: dict[str, ModuleType] = {
    m.NAME: m for m in (lm, forecast, classify, conditional, tag, translate)}
DEFAULT_TASK = lm.NAME


@dataclass
class RunConfig:
    """One run: the task's name and its three sections; `RunConfig(task="forecast")` holds
    that task's defaults. `make_config(task, file, flags)` builds and validates one."""

    task: str = "lm"
    data: Any = None  # None: the task's DataConfig() defaults
    model: Any = None
    train: TrainConfig = field(default_factory=TrainConfig)
    # "section.key" of the values set by a flag or a TOML key (make_config); None when built
    # in Python. Defaults that adapt to the data (lm --defaults auto) leave these alone.
    explicit: list[str] | None = None

    def __post_init__(self) -> None:
        if self.data is None or self.model is None:
            classes = section_classes(self.task)
            self.data = classes["data"]() if self.data is None else self.data
            self.model = classes["model"]() if self.model is None else self.model

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save_json(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    def sections(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in SECTIONS}


def get_task(name: Any, what: str = "--task") -> ModuleType:
    if name not in TASKS:
        raise RnnlabError(
            f"{what} {name!r} is not a task; choose one of: {', '.join(TASKS)}"
        )
    return TASKS[name]


def section_classes(name: str) -> dict[str, type]:
    t = get_task(name)
    return {"data": t.DataConfig, "model": t.ModelConfig, "train": TrainConfig}


def owners(section: str, key: str) -> list[str]:
    """The tasks whose `section` has a field `key`."""
    return [n for n in TASKS
            if key in {f.name for f in dataclasses.fields(section_classes(n)[section])}]


def _foreign(task: str):
    def which(section: str, key: str) -> str | None:
        others = [n for n in owners(section, key) if n != task]
        return others[0] if others else None

    return which


def validate(cfg: RunConfig, given: set[str] | None = None) -> RunConfig:
    """Check every field (type, range, finiteness) and the task's combinations. `given`:
    the "section.key" names set explicitly (a flag or a TOML key), for checks such as
    "--seq-len applies to --format text"; None skips those."""
    task = get_task(cfg.task)
    for name in SECTIONS:
        check_section(name, getattr(cfg, name))
    allowed = getattr(task, "MONITORS", (task.MONITOR,))
    if cfg.train.monitor not in ("auto", *allowed):
        raise RnnlabError(
            f"--monitor {cfg.train.monitor} is not a validation figure of --task {cfg.task}; "
            f"choose auto or {', '.join(allowed)}")
    task.check(cfg, given)
    return cfg


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
    cfg = RunConfig(task=task)
    given = overlay(cfg, file, source, _foreign(task))
    if flags:
        given |= overlay(cfg, flags, "flags", _foreign(task))
    cfg.explicit = sorted(given)
    return validate(cfg, given), given


def config_from_dict(d: dict[str, Any], task: str | None = None) -> RunConfig:
    """A saved config (config.json or a checkpoint's); runs saved before configs named their
    task are language-model runs unless `task` says otherwise."""
    name = d.get("task") or task or DEFAULT_TASK
    cfg = RunConfig(task=get_task(name, "the saved config's task").NAME)
    overlay(cfg, {k: v for k, v in d.items() if k not in ("task", "explicit")}, "saved config",
            _foreign(name))
    cfg.explicit = d.get("explicit")
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
