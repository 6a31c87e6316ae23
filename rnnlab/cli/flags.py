"""`rnnlab train`'s flags: one table built from every task's config dataclasses.

A field `hidden_size` of a task's ModelConfig is the flag `--hidden-size`, of the type its
annotation gives, with the help and range its `param(...)` declares. A flag several tasks
share is registered once; a flag given for a task that lacks it is an error naming the task
it belongs to. A training field a task does not read (its TRAIN_UNUSED) belongs to the other
tasks only. Old spellings of renamed flags (the tasks' RENAMED) still parse, with a note.

`task_help_parser(task)` builds the parser whose help `rnnlab train --task NAME --help`
prints: that task's flags alone, grouped data / model / training, and its examples.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Iterator, Sequence
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


def config_fields() -> Iterator[tuple[str, str, dataclasses.Field[Any], set[type]]]:
    """(task, section, field, allowed types) of every config field of every task; a training
    field the task does not read is left out."""
    for task, module in TASKS.items():
        for section, cls in (("data", module.DataConfig), ("model", module.ModelConfig),
                             ("train", TrainConfig)):
            kinds = field_types(cls)
            for f in dataclasses.fields(cls):
                if section == "train" and f.name in module.TRAIN_UNUSED:
                    continue
                yield task, section, f, kinds[f.name][0]


def _kind(allowed: set[type]) -> type:
    return bool if bool in allowed else float if float in allowed else \
        int if int in allowed else str


def flag_table() -> dict[str, Flag]:
    """Every config field of every task, once: its section, type and the tasks that have it."""
    table: dict[str, Flag] = {}
    texts: dict[str, dict[str, list[str]]] = {}  # flag -> help text -> tasks saying it
    for task, section, f, allowed in config_fields():
        kind = _kind(allowed)
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


def renamed_flags() -> dict[str, str]:
    """Old field name -> new one, over every task (one name per concept in all of them)."""
    return {old.partition(".")[2]: new.partition(".")[2]
            for t in TASKS.values() for old, new in t.RENAMED.items()}


class _Renamed(argparse.Action):
    """An old spelling: sets the new flag's value and notes the new name on stderr."""

    def __init__(self, option_strings: Sequence[str], dest: str, new: str, switch: bool,
                 **kw: Any) -> None:
        self.new, self.switch = new, switch
        super().__init__(option_strings, dest, nargs=0 if switch else None, **kw)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        negative = bool(option_string and option_string.startswith("--no-"))
        new = ("--no-" if negative else "--") + self.new.replace("_", "-")
        print(f"note: {option_string} is now {new}", file=sys.stderr)
        setattr(namespace, self.dest, (not negative) if self.switch else values)


def _argument(group: Any, f: Flag, help_: str, metavar: str | None = None) -> None:
    help_ = help_.replace("%%", "%").replace("%", "%%")
    if f.kind is bool:  # --flag / --no-flag: a command line can undo a config file's switch
        group.add_argument(flag(f.name), dest=f.name, default=None, help=help_,
                           action=argparse.BooleanOptionalAction)
    else:
        group.add_argument(flag(f.name), dest=f.name, type=f.kind, default=None, help=help_,
                           metavar=metavar)


def add_config_flags(p: argparse.ArgumentParser) -> None:
    """Every config flag of every task (what `rnnlab train` parses), and the old spellings."""
    groups = {s: p.add_argument_group(f"[{s}] flags (a TOML config's [{s}] keys)")
              for s in SECTIONS}
    for f in FLAGS.values():
        only = "" if len(f.tasks) == len(TASKS) else f" (--task {', '.join(f.tasks)})"
        _argument(groups[f.section], f, f.help + only)
    for old, new in renamed_flags().items():
        switch = FLAGS[new].kind is bool
        names = [flag(old)] + (["--no-" + old.replace("_", "-")] if switch else [])
        kind: Any = str if switch else FLAGS[new].kind  # a switch reads no value
        p.add_argument(*names, dest=new, action=_Renamed, new=new, switch=switch,
                       type=kind, default=None, help=argparse.SUPPRESS)


# -- help ------------------------------------------------------------------------------------
def _compact(f: dataclasses.Field[Any], allowed: set[type]) -> tuple[str | None, str]:
    """(metavar, range note) of a field for --help: choices go in the metavar, a range in
    parentheses after the help text."""
    kind = _kind(allowed)
    if f.metadata.get("choices"):
        return "{" + ",".join(f.metadata["choices"]) + "}", ""
    if kind is bool:
        return None, ""
    if kind is str:
        return "TEXT" if not f.metadata.get("input") else "PATH", ""
    words = expectation(f, allowed).removeprefix("a whole number").removeprefix(
        "a finite number").strip()
    return ("N" if kind is int else "X"), (f" ({words})" if words else "")


def _task_help(task: str, section: str, f: dataclasses.Field[Any], allowed: set[type]
               ) -> tuple[str | None, str]:
    module = TASKS[task]
    metavar, note = _compact(f, allowed)
    text = f.metadata["help"] + note
    default = f.default
    if default is not None and default != "" and f.metadata.get("choices") is None and \
            _kind(allowed) is not bool:
        text += f"; default {default}"
    models = module.MODEL_ONLY.get(f.name) if section == "model" else None
    if models:
        text += f" [--model {', '.join(models)}]"
    return metavar, text


def shared_training_fields() -> list[dataclasses.Field[Any]]:
    """The TrainConfig fields every task reads (shown once, by `rnnlab train --help`)."""
    return [f for f in dataclasses.fields(TrainConfig)
            if not any(f.name in t.TRAIN_UNUSED for t in TASKS.values())]


def add_training_help(p: argparse.ArgumentParser, fields: list[dataclasses.Field[Any]],
                      title: str, task: str, description: str | None = None) -> None:
    group = p.add_argument_group(title, description)
    kinds = field_types(TrainConfig)
    for f in fields:
        metavar, text = _task_help(task, "train", f, kinds[f.name][0])
        _argument(group, Flag(f.name, "train", _kind(kinds[f.name][0]), [task], text), text,
                  metavar)


def task_help_parser(parser: type[argparse.ArgumentParser], task: str
                     ) -> argparse.ArgumentParser:
    """The parser whose help is `rnnlab train --task TASK --help`: the task's data and model
    flags, the training flags only some tasks read, and the task's examples (the flags of
    the command itself and the training flags of every task: `rnnlab train --help`)."""
    module = TASKS[task]
    examples = "\n".join(f"  {e}" for e in module.EXAMPLES)
    p = parser(prog=f"rnnlab train --task {task}", add_help=False,
               formatter_class=argparse.RawDescriptionHelpFormatter,
               usage=f"rnnlab train --task {task} [--config FILE] [--out RUN] [--dry-run] "
               "[FLAGS]",
               description=f"--task {task}: {TITLES[task]}. Each flag is also a key of the "
               "[data], [model] or\n[train] table of a TOML --config file. A flag given for "
               "a model that does not\nread it is refused. The flags of the command itself "
               "(--out, --resume, ...):\nrnnlab train --help.",
               epilog=f"examples:\n{examples}")
    for section, cls in (("data", module.DataConfig), ("model", module.ModelConfig)):
        group = p.add_argument_group(f"{section} ([{section}] in a TOML config)")
        kinds = field_types(cls)
        for f in dataclasses.fields(cls):
            metavar, text = _task_help(task, section, f, kinds[f.name][0])
            _argument(group, Flag(f.name, section, _kind(kinds[f.name][0]), [task], text),
                      text, metavar)
    shared = {f.name for f in shared_training_fields()}
    own = [f for f in dataclasses.fields(TrainConfig)
           if f.name not in shared and f.name not in module.TRAIN_UNUSED]
    add_training_help(p, own, "training ([train] in a TOML config)", task,
                      f"the {len(shared)} training flags every task reads: rnnlab train --help"
                      + ("; and these:" if own else ""))
    return p


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
