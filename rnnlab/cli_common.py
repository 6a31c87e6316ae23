"""Helpers every subcommand shares: the thread count, loading a run, notes on stderr."""

from __future__ import annotations

import argparse
import sys


def set_threads(n: int | None) -> None:
    if n is not None:
        import torch

        torch.set_num_threads(n)


def load_run(args: argparse.Namespace, command: str):
    from rnnlab.run import load

    set_threads(getattr(args, "threads", None))
    return load(args.run, command)


def note(line: str | None) -> None:
    if line:
        print(line, file=sys.stderr)
