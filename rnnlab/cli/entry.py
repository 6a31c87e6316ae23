"""Command line entry: `rnnlab train (train.py) | evaluate | generate | score | predict |
diagnose | forecast | translate | export (use.py) | data (data.py) | gradcheck
(gradcheck.py)`.

Flags (parser.py) -> `runconfig.make_config` -> one library call -> print. `train`'s flags
come from the tasks' config dataclasses (flags.py); every other subcommand asks the task its
run recorded what it offers (use.py) and names no task itself.
User mistakes print one line `error: ...` and exit with status 2.
Nothing here imports torch at module level: `rnnlab --help` stays fast.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

from rnnlab.cli.data import cmd_data
from rnnlab.cli.gradcheck import cmd_gradcheck
from rnnlab.cli.parser import EXIT_USER_ERROR, build_parser
from rnnlab.cli.train import cmd_train
from rnnlab.cli.use import RUN_COMMANDS, cmd_use
from rnnlab.errors import PeerError, RnnlabError

HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "train": cmd_train, "data": cmd_data, "gradcheck": cmd_gradcheck,
    **{name: cmd_use for name in RUN_COMMANDS}}


PACKAGE = Path(__file__).resolve().parents[1]  # rnnlab/


def _show_warning(message: Warning | str, category: type[Warning], filename: str,
                  lineno: int, file: object = None, line: str | None = None) -> None:
    """rnnlab's own warnings as one `warning: ...` line (a user of the command line has no
    use for the source line that raised it); any other library's in Python's format."""
    if Path(filename).resolve().is_relative_to(PACKAGE):
        print(f"warning: {message}", file=sys.stderr)
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        return HANDLERS[args.command_name](args)
    except PeerError:  # torchrun: rank 0 printed it
        return EXIT_USER_ERROR
    except RnnlabError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except BrokenPipeError:  # `rnnlab data list | head`: the reader left; nothing to say
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("error: interrupted; the last checkpoint is intact (continue with --resume)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
