"""Helpers every subcommand shares: the thread count, loading a run."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # type hints only: rnnlab.tasks.base imports no torch, but keep it lazy
    from rnnlab.tasks.base import Loaded


def set_threads(n: int | None, model: Any = None, batch_size: int = 32) -> None:
    """`--threads N` when given; else, for a loaded `model`, the rule of rnnlab/threads.py
    (one thread unless its matrix products pay for a second). Without either: torch's."""
    if n is None and model is None:
        return
    import torch

    if n is None:
        from rnnlab.threads import choose_threads, model_gemm_size

        n = min(torch.get_num_threads(), choose_threads(model_gemm_size(model, batch_size)))
    torch.set_num_threads(n)


def load_run(args: argparse.Namespace, command: str) -> Loaded:
    from rnnlab.run import load

    threads = getattr(args, "threads", None)
    set_threads(threads)
    loaded = load(args.run, command)
    if threads is None:
        set_threads(None, loaded.model)
    return loaded
