"""`rnnlab train`'s flags: one table built from every task's config dataclasses.

A field `hidden_size` of a task's ModelConfig is the flag `--hidden-size`, of the type its
annotation gives, with the help and range its `param(...)` declares. A flag several tasks
share is registered once; a flag given for a task that lacks it is an error naming the task
it belongs to.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rnnlab.config import SECTIONS, TrainConfig, expectation, field_types, flag
from rnnlab.errors import RnnlabError
from rnnlab.tasks import TASKS

TITLES = {name: task.TITLE for name, task in TASKS.items()}


@dataclass
class Flag:
    name: str
    section: str
    kind: type  # bool, int, float or str
    tasks: list[str]
    help: str


def config_fields() -> Iterator[tuple[str, str, dataclasses.Field, set[type]]]:
    """(task, section, field, allowed types) of every config field of every task."""
    for task, module in TASKS.items():
        for section, cls in (("data", module.DataConfig), ("model", module.ModelConfig),
                             ("train", TrainConfig)):
            kinds = field_types(cls)
            for f in dataclasses.fields(cls):
                yield task, section, f, kinds[f.name][0]


def flag_table() -> dict[str, Flag]:
    """Every config field of every task, once: its section, type and the tasks that have it."""
    table: dict[str, Flag] = {}
    texts: dict[str, dict[str, list[str]]] = {}  # flag -> help text -> tasks saying it
    for task, section, f, allowed in config_fields():
        kind = bool if bool in allowed else float if float in allowed else \
            int if int in allowed else str
        text = f.metadata["help"]
        if kind is not str or f.metadata.get("choices"):
            text += f" [{expectation(f, allowed)}]"
        if f.name not in table:
            table[f.name] = Flag(f.name, section, kind, [task], text)
            texts[f.name] = {}
        entry = table[f.name]
        assert entry.section == section and entry.kind is kind, f.name  # one flag, one type
        if task not in entry.tasks:
            entry.tasks.append(task)
        texts[f.name].setdefault(text, []).append(task)
    for name, by_text in texts.items():  # tasks that say the same thing share one entry
        if len(by_text) > 1:
            table[name].help = "; ".join(f"{', '.join(ts)}: {t}" for t, ts in by_text.items())
    return table


FLAGS = flag_table()


def add_config_flags(p: argparse.ArgumentParser) -> None:
    groups = {s: p.add_argument_group(f"[{s}] flags (a TOML config's [{s}] keys)")
              for s in SECTIONS}
    for f in FLAGS.values():
        only = "" if len(f.tasks) == len(TASKS) else f" (--task {', '.join(f.tasks)})"
        help_ = (f.help + only).replace("%%", "%").replace("%", "%%")
        if f.kind is bool:  # --flag / --no-flag: a command line can undo a config file's switch
            groups[f.section].add_argument(flag(f.name), dest=f.name, default=None, help=help_,
                                           action=argparse.BooleanOptionalAction)
        else:
            groups[f.section].add_argument(flag(f.name), dest=f.name, type=f.kind,
                                           default=None, help=help_)


def given_flags(args: argparse.Namespace, task: str) -> dict[str, dict[str, Any]]:
    """{section: {name: value}} of the flags on the command line; a flag of another task is
    an error that names the task it belongs to."""
    out: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS}
    for f in FLAGS.values():
        v = getattr(args, f.name, None)
        if v is None:
            continue
        if task not in f.tasks:
            owner = f.tasks[0]
            names = [TITLES.get(t, t) for t in f.tasks]
            where = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
            tasks = " or ".join(f"--task {t}" for t in f.tasks)
            given = f" (given without --task {owner})" if len(f.tasks) == 1 else ""
            raise RnnlabError(f"{flag(f.name)} applies to {where} only, not to --task "
                              f"{task}{given}; add {tasks} or drop it")
        out[f.section][f.name] = v
    return out
