"""What the guide's chapters share: the budget they run at, and `rnnlab` commands run in the
notebook itself.

`make guide` runs every chapter at its full budget (`RNNLAB_GUIDE=full`, the default when a
reader opens a chapter in Jupyter); the test suite runs each at a smoke budget
(`RNNLAB_GUIDE=smoke`: seconds, not minutes), so no chapter can rot. A chapter's commands
are the commands a reader types, and run folders go to `runs/` next to the chapter.
"""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path

MODES = ("full", "smoke")
MODE = os.environ.get("RNNLAB_GUIDE", "full")
if MODE not in MODES:
    raise ValueError(f"RNNLAB_GUIDE={MODE!r}: expected one of {', '.join(MODES)}")
SMOKE = MODE == "smoke"


def budget(full: float, smoke: float = 2.0) -> float:
    """Seconds for `--max-time`: `full` in `make guide`, `smoke` in the tests."""
    return smoke if SMOKE else full


def size(full: int, smoke: int) -> int:
    """Any other count (steps, sequence length, repeats) that the smoke run shrinks."""
    return smoke if SMOKE else full


def fresh(run: str) -> str:
    """The run folder `run` with nothing in it, so a chapter can be run again."""
    path = Path(run)
    if path.exists():
        shutil.rmtree(path)
    return run


def rnnlab(command: str) -> None:
    """Run `rnnlab COMMAND` in this process (the command line's own entry point) and show
    what it prints; a command that fails stops the chapter."""
    from rnnlab.cli.entry import main

    print(f"$ rnnlab {command}", flush=True)
    code = main(shlex.split(command))
    if code:
        raise RuntimeError(f"`rnnlab {command}` exited with status {code}")
