"""Helpers every subcommand shares: the thread count, loading a run."""

from __future__ import annotations

import argparse


def set_threads(n: int | None) -> None:
    if n is not None:
        import torch

        torch.set_num_threads(n)


def load_run(args: argparse.Namespace, command: str):
    from rnnlab.run import load

    set_threads(getattr(args, "threads", None))
    return load(args.run, command)
