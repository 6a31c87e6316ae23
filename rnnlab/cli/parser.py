"""The command line's parser: every subcommand and flag of `rnnlab` (handlers: cli.py).

`train`'s config flags come from the tasks' config dataclasses (flags.py); every other
subcommand takes a run folder. Imports no torch: `rnnlab --help` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, NoReturn

from rnnlab import __version__
from rnnlab.cli.data import add_data_parser
from rnnlab.cli.flags import (
    TITLES,
    add_config_flags,
    add_training_help,
    shared_training_fields,
    task_help_parser,
)
from rnnlab.cli.gradcheck import add_gradcheck_parser
from rnnlab.cli.use import add_parsers
from rnnlab.tasks import DEFAULT_TASK, TASKS

EXIT_USER_ERROR = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, as every other user error
        print(f"error: {self.prog}: {message} (see --help)", file=sys.stderr)
        raise SystemExit(EXIT_USER_ERROR)


class _TopParser(_Parser):
    """`rnnlab` alone prints the overview (exit 0), as `rnnlab --help` does."""

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:
        if not (sys.argv[1:] if args is None else list(args)):
            self.print_help()
            raise SystemExit(0)
        return super().parse_args(args, namespace)


def build_parser() -> argparse.ArgumentParser:
    tasks = "; ".join(f"{n} ({TITLES.get(n, n)})" for n in TASKS)
    p = _TopParser(prog="rnnlab", description="Sequence models with recurrent networks. "
                   f"Tasks (`rnnlab train --task NAME`): {tasks}. Every other subcommand takes "
                   "a run folder and works on the task that run recorded (`data` and `gradcheck` "
                   "take none).",
                   epilog="`rnnlab train --task NAME --help` lists the flags of one task; "
                   "`rnnlab SUBCOMMAND --help` those of a subcommand.")
    p.add_argument("--version", action="version", version=f"rnnlab {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    commands = {n: [t for t, m in TASKS.items() if n in m.COMMANDS]
                for n in ("evaluate", "generate", "score", "predict", "diagnose", "forecast",
                          "translate")}

    def for_tasks(name: str) -> str:
        return f" ({', '.join(commands[name])} runs)"

    _add_train(sub, tasks)
    _add_run_commands(sub, for_tasks)
    add_data_parser(sub, _Parser)
    add_gradcheck_parser(sub)
    return p


def _add_train_common(t: argparse.ArgumentParser) -> None:
    """The flags of `rnnlab train` itself (not of a config section)."""
    g = t.add_argument_group("the command")
    g.add_argument("-h", "--help", action="store_true",
                   help="this help; with --task NAME (or a --config naming its task): the "
                   "flags of that task")
    g.add_argument("--task", metavar="NAME", help=f"what to model: {', '.join(TASKS)} "
                   f"(default: the config's `task`, else {DEFAULT_TASK})")
    g.add_argument("--config", metavar="FILE", help="TOML file: task = \"...\" and [data], "
                   "[model], [train] tables (flags override it)")
    g.add_argument("--out", metavar="RUN", help="run folder (default "
                   "runs/<data>-<model>-<time>)")
    g.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
    g.add_argument("--samples", type=int, default=20, metavar="N",
                   help="lm: samples to print after training (0: none)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    g.add_argument("--dry-run", action="store_true", help="check the configuration and that "
                   "its input files exist, print it as JSON, train nothing")


def _add_train(sub: Any, tasks: str) -> None:
    # -h/--help is a flag read by `cmd_train`: the help depends on --task, wherever it stands
    t = sub.add_parser("train", help="train a model of any task into a run folder",
                       add_help=False)
    _add_train_common(t)
    add_config_flags(t)
    t.set_defaults(command_name="train")


def train_help(task: str | None) -> str:
    """`rnnlab train --help`: the command's flags, the tasks and the training flags they all
    share; with a task, that task's flags and examples (flags.task_help_parser)."""
    if task is not None:
        return task_help_parser(_Parser, task).format_help()
    tasks = "\n".join(f"  {n:<12} {TITLES[n]}" for n in TASKS)
    p = _Parser(prog="rnnlab train", add_help=False,
                formatter_class=argparse.RawDescriptionHelpFormatter,
                usage="rnnlab train [--task NAME] [--config FILE] [--out RUN] [FLAGS]",
                description="Train a model into a run folder. Each task has its own data and "
                "model flags:\n  rnnlab train --task NAME --help\nshows them, grouped data / "
                "model / training, with examples.\n\ntasks:\n" + tasks,
                epilog="examples:\n  rnnlab train --max-steps 300 --out runs/names\n"
                "  rnnlab train --task lm --help\n"
                "  rnnlab train --config configs/names_lstm.toml --dry-run")
    _add_train_common(p)
    add_training_help(p, shared_training_fields(), "training ([train] in a TOML config), read "
                      "by every task", DEFAULT_TASK)
    return p.format_help()


def _add_run_commands(sub: Any, for_tasks: Any) -> None:
    """The subcommands that take a trained run: built from what the tasks declare
    (cli/use.py); `for_tasks` is kept for the caller's signature."""
    add_parsers(sub)
