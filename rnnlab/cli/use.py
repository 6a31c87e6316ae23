"""The subcommands that work on a trained run (evaluate, predict, generate, score, diagnose,
forecast, translate, export), dispatched through the task protocol: each parser is the union
of the options the tasks declare for that subcommand (`Task.COMMANDS`, rnnlab/options.py);
after loading the run, the options its task does not take are refused naming who takes
them, and the task's `Command` does the work and says what to print. A file that a task
opens in place of a run folder (its `OPENS`: lm's FILE.arpa) is found by its suffix and
loaded by that task. Names no task.

Values are checked twice: before loading (valid for some task that offers the subcommand,
so a typo does not wait for the checkpoint) and after (valid for this run's task). Where the
tasks' declarations differ (--format: text or lines, tsv or folder, conllu or text, ...), a
value none of them takes waits for the run, so that the error names the run's task and the
values it takes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from rnnlab.cli.common import load_run, set_threads
from rnnlab.cli.export import OWN
from rnnlab.errors import RnnlabError
from rnnlab.options import Command, FileRun, Option, Options
from rnnlab.tasks import TASKS

RUN_COMMANDS = ("evaluate", "generate", "score", "predict", "diagnose", "forecast", "translate",
                "export")
SUMMARY = {"evaluate": "the task's test figures", "generate": "sample or decode",
           "score": "log-probability of given texts", "predict": "the task's prediction",
           "diagnose": "gradient flow over time, saturation, spectral radius",
           "forecast": "forecast a trained series beyond its end",
           "translate": "translate sentences", "export": "export a run's model (ONNX: pip "
           "install 'rnnlab[export]')"}
RUN_HELP = {"generate": "FILE.onnx of `rnnlab export`"}
THREADS = Option("threads", "CPU threads of PyTorch", int, ge=1, le=4096,
                 default_text="PyTorch's choice")


def file_runs() -> list[tuple[str, FileRun]]:
    """(task, FileRun) for every file a task opens in place of a run folder (its `OPENS`)."""
    return [(name, f) for name, t in TASKS.items() for f in getattr(t, "OPENS", ())]


def _run_help(command: str) -> str:
    files = [f"FILE{f.suffix} ({name})" for name, f in file_runs() if command in f.commands]
    files += [RUN_HELP[command]] if command in RUN_HELP else []
    names = ["run folder", "checkpoint file", *files]
    return ", ".join(names[:-1]) + (", or " if len(names) > 2 else " or ") + names[-1]


def _open_file(run: str, command: str) -> tuple[FileRun, Any] | None:
    """(what opens it, Loaded) when `run` is a file a task opens in place of a run folder;
    None for a run folder or checkpoint."""
    for _, f in file_runs():
        if run.endswith(f.suffix):
            if command not in f.commands:
                takes = ", ".join(f"`{c}`" for c in f.commands)
                raise RnnlabError(f"{run!r} is {f.what}, not a run folder: {takes} take one, "
                                  f"`{command}` needs the run folder it came from")
            return f, f.load(run)
    return None


def offers(command: str) -> list[tuple[str, Command]]:
    """(who, Command) for every task that offers `command`, and the command line's own."""
    out = [(name, t.COMMANDS[command]) for name, t in TASKS.items() if command in t.COMMANDS]
    return out + OWN.get(command, [])


def declared(command: str) -> dict[str, list[tuple[str, Option]]]:
    """Option name -> (who, its declaration) over everyone who offers `command`."""
    out: dict[str, list[tuple[str, Option]]] = {}
    for who, c in offers(command):
        for o in c.options:
            out.setdefault(o.name, []).append((who, o))
    out["threads"] = [("every task", THREADS)]
    return out


def _help(decls: list[tuple[str, Option]]) -> str:
    """One help text naming who uses the option; where their defaults differ, each one's;
    where their meanings differ, each one's text."""
    groups: dict[tuple[Any, ...], list[tuple[str, Option]]] = {}
    for who, o in decls:
        groups.setdefault((o.help, o.expectation(), o.when), []).append((who, o))
    texts = []
    for members in groups.values():
        defaults: dict[str | None, list[str]] = {}
        for who, o in members:
            defaults.setdefault(o.shown_default(), []).append(who)
        shown = None if len(defaults) < 2 else "; ".join(
            f"{', '.join(whos)}: {d or 'none'}" for d, whos in defaults.items())
        whos = ", ".join(who for who, _ in members)
        texts.append(f"{whos}: {members[0][1].describe(shown)}")
    return " | ".join(texts)


def add_parsers(sub: Any, make_help: Callable[[str], str] | None = None) -> None:
    """One parser per use-time subcommand, from what the tasks declare."""
    for command in RUN_COMMANDS:
        whats: dict[str, list[str]] = {c.help: [] for _, c in offers(command)}
        for who, c in offers(command):
            whats[c.help].append(who)
        detail = "; ".join(f"{', '.join(w)}: {h}" for h, w in whats.items())
        runs = ", ".join(who for who, _ in offers(command))
        p = sub.add_parser(command, help=f"{SUMMARY[command]} ({runs} runs)",
                           description=f"{SUMMARY[command]}. {detail}.")
        p.add_argument("run", help=_run_help(command))
        for name, decls in declared(command).items():
            o = decls[0][1]
            if o.positional:
                p.add_argument(name, nargs="*", default=[], metavar=o.metavar,
                               help=_help(decls))
            elif o.type is bool:
                p.add_argument(o.flag, dest=name, action="store_true",
                               default=argparse.SUPPRESS, help=_help(decls))
            else:
                p.add_argument(o.flag, dest=name, default=argparse.SUPPRESS,
                               metavar=o.metavar or name.upper(), help=_help(decls),
                               required=all(d.required for _, d in decls))
        p.set_defaults(command_name=command)


def _given(args: argparse.Namespace, decls: dict[str, list[tuple[str, Option]]]
           ) -> dict[str, Any]:
    """The options on the command line (positional texts only when there are any), each
    value checked against the declarations of everyone who offers the subcommand."""
    given = {}
    for name, value in vars(args).items():
        if name not in decls or name == "threads" or (isinstance(value, list) and not value):
            continue
        if isinstance(value, str):
            errors = []
            for _, o in decls[name]:
                try:
                    o.parse(value)
                    break
                except RnnlabError as e:
                    errors.append(e)
            else:
                if len({str(e) for e in errors}) == 1:  # every task says the same
                    raise errors[0]
        given[name] = value
    return given


def _users(decls: list[tuple[str, Option]]) -> str:
    names = list(dict.fromkeys(who for who, _ in decls))
    return (", ".join(names[:-1]) + " and " if len(names) > 1 else "") + names[-1] + " runs"


def _either(values: tuple[str, ...]) -> str:
    return ", ".join(values[:-1]) + " or " + values[-1] if len(values) > 1 else values[0]


def _elsewhere(name: str, others: dict[str, Command]) -> str:
    """Where the run's task takes option `name` in another subcommand, and its values."""
    for other in others.values():
        o = other.option(name)
        if o is not None and not o.refused:
            values = f" {_either(o.choices)}" if o.choices else ""
            return f" (its {o.flag}{values} is for `{other.name}`)"
    return ""


def _refuse_foreign(given: dict[str, Any], command: Command,
                    decls: dict[str, list[tuple[str, Option]]], run: str, what: str,
                    others: dict[str, Command] | None = None) -> None:
    """One error naming the options `command` does not take, and who takes them (and where
    the run's task takes them, among its `others` subcommands)."""
    foreign = [name for name in given if command.option(name) is None]
    if not foreign:
        return
    first = [decls[name][0][1] for name in foreign]
    flags = [o.flag for o in first]
    parts = [f"{o.flag} {'apply' if o.positional else 'applies'} to {_users(decls[o.name])}"
             for o in first]
    where = "".join(_elsewhere(name, others or {}) for name in foreign)
    raise RnnlabError(f"{'; '.join(parts)}; {run!r} is {what}{where}: drop {', '.join(flags)}")


def _parse(o: Option, value: str, command: str, run: str, what: str) -> Any:
    """`value` for the run's own declaration of `o`; a value outside its choices names the
    run's task and the values it takes (each task reads its own --format)."""
    try:
        return o.parse(value)
    except RnnlabError as e:
        if not o.choices:
            raise
        raise RnnlabError(f"{e}; {run!r} is {what}, whose `{command}` takes {o.flag} "
                          f"{_either(o.choices)}") from None


def cmd_use(args: argparse.Namespace) -> int:
    """Any use-time subcommand: check the options, load the run, let its task's Command
    work and print."""
    command_name = args.command_name
    decls = declared(command_name)
    given = _given(args, decls)
    args.threads = THREADS.parse(args.threads) if hasattr(args, "threads") else None
    set_threads(args.threads)
    opened = _open_file(args.run, command_name)  # FILE.arpa: a task's own kind of file
    own = [(who, c) for who, c in OWN.get(command_name, [])
           if not opened and (command_name == "export" or args.run.endswith(".onnx"))]
    others: dict[str, Command] = {}  # the run's task's subcommands
    if own:
        command = own[0][1]
        target: Any = args.run
        what = "an ONNX export" if args.run.endswith(".onnx") else "a run"
    else:
        loaded = opened[1] if opened else load_run(args, command_name)
        others = TASKS[loaded.task].COMMANDS
        command = others[command_name]
        target, what = loaded, opened[0].what if opened else f"a {loaded.task} run"
    _refuse_foreign(given, command, decls, args.run, what, others)
    values = {}
    for name, value in given.items():
        o = command.option(name)
        assert o is not None  # foreign options were refused above
        values[name] = (_parse(o, value, command_name, args.run, what) if isinstance(value, str)
                        else value)
    if isinstance(values.get("data"), str) and not own:  # a dataset name: its test file
        from rnnlab.data.resolve import resolve_path

        values["data"] = resolve_path(values["data"], loaded.task)
    options: Options = command.bind(values, given=values)
    shown = command.show(command.run(target, options), options)
    for line in shown.lines:
        print(line)
    for line in shown.notes:
        if line:
            print(line, file=sys.stderr)
    return 0
