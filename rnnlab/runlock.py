"""One writer per run folder: an OS lock on `RUN/.lock`, held while a process trains into it.

`fcntl.flock` locks belong to the open file, so the kernel drops the lock when the process
exits for any reason (a crash, SIGKILL), and no stale lock is ever left behind; the file
holds the writer's pid for the error message. A second `rnnlab train --out RUN` (or
`--resume`) while the first is alive is refused before it reads or writes anything.
Under torchrun only rank 0 takes the lock (run.py): it alone writes the run folder.

Within one process the lock is re-entrant (count of holders), so a training followed by its
resume in the same Python process, or the CLI keeping it across its final writes
(`keep`), works.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rnnlab.errors import RnnlabError

LOCK = ".lock"
_HELD: dict[str, list[Any]] = {}  # folder -> [lock file, holders, folder, folders it made]
_KEEP: set[str] = set()  # folders whose lock outlives `release` until `keep` ends


def _key(out: Path) -> str:
    return str(Path(out).resolve())


def acquire(out: Path) -> None:
    """Create run folder `out` if needed and take its lock, or raise naming the holder."""
    import fcntl

    out = Path(out)
    created = [p for p in (out, *out.parents) if not p.exists()]  # deepest first
    out.mkdir(parents=True, exist_ok=True)
    key = _key(out)
    if key in _HELD:
        _HELD[key][1] += 1
        return
    f = open(out / LOCK, "a+")  # held open for the run's lifetime
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        pid = f.read().strip() or "unknown"
        f.close()
        if created:
            _clean(out, created)
        raise RnnlabError(
            f"--out {str(out)!r} is being written by another process (pid {pid}); nothing "
            "was changed. Wait for that run to end (or stop it), or choose another --out"
        ) from None
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    _HELD[key] = [f, 1, out, created]


def _clean(out: Path, created: list[Path]) -> None:
    """A run that wrote nothing (it failed on its data or flags) leaves no lock file, and no
    folders where it made them: `--out` then means what it meant before."""
    try:
        if [p.name for p in out.iterdir()] == [LOCK]:
            (out / LOCK).unlink()
            for p in created:  # deepest first; a folder something else wrote into stays
                p.rmdir()
    except OSError:
        pass


def _drop(key: str) -> None:
    f, _, out, created = _HELD.pop(key)
    f.close()  # closing the file releases the flock
    _clean(out, created)


def release(out: Path) -> None:
    """Drop one hold of `out`'s lock; the last one unlocks (unless `keep` is active)."""
    key = _key(out)
    held = _HELD.get(key)
    if held is None:
        return
    held[1] -= 1
    if held[1] <= 0 and key not in _KEEP:
        _drop(key)


@contextmanager
def keep(out: Path) -> Iterator[None]:
    """Keep `out`'s lock, once taken inside, until this block ends (the CLI's final writes
    after training: plots, final.json, samples)."""
    key = _key(out)
    _KEEP.add(key)
    try:
        yield
    finally:
        _KEEP.discard(key)
        held = _HELD.get(key)
        if held is not None and held[1] <= 0:
            _drop(key)
