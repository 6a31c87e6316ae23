"""One writer per run folder: an OS lock on `RUN/.lock`, held while a process trains into it.

`fcntl.flock` locks belong to the open file, so the kernel drops the lock when the process
exits for any reason (a crash, SIGKILL), and no stale lock is ever left behind; the file
holds the writer's pid for the error message. A second `rnnlab train --out RUN` (or
`--resume`) while the first is alive is refused before it reads or writes anything.
Under torchrun only rank 0 takes the lock (run.py): it alone writes the run folder.

Within one process the lock is re-entrant (count of holders), so a training followed by its
resume in the same Python process, or the CLI keeping it across its final writes
(`keep`), works.

A start that fails before its first checkpoint calls `discard`: what it wrote goes, and on
release so do the lock file and the folders it made, so the corrected command can use the
same `--out` at once. What was in the folder before the lock was taken is never touched.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rnnlab.errors import RnnlabError

LOCK = ".lock"
# folder -> [lock file, holders, folder, folders it made, names there before, discarded]
_HELD: dict[str, list[Any]] = {}
_KEEP: set[str] = set()  # folders whose lock outlives `release` until `keep` ends


def _key(out: Path) -> str:
    return str(Path(out).resolve())


def acquire(out: Path) -> None:
    """Create run folder `out` if needed and take its lock, or raise naming the holder."""
    import fcntl

    out = Path(out)
    created = [p for p in (out, *out.parents) if not p.exists()]  # deepest first
    out.mkdir(parents=True, exist_ok=True)
    before = {p.name for p in out.iterdir()}
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
            _clean(out, created, before)
        raise RnnlabError(
            f"--out {str(out)!r} is being written by another process (pid {pid}); nothing "
            "was changed. Wait for that run to end (or stop it), or choose another --out"
        ) from None
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    _HELD[key] = [f, 1, out, created, before, False]


def _clean(out: Path, created: list[Path], before: set[str], discarded: bool = False) -> None:
    """A run that wrote nothing (it failed on its data or flags) leaves no lock file, and no
    folders where it made them: `--out` then means what it meant before. A discarded start
    also takes away the lock file it made beside files that were already there."""
    try:
        names = [p.name for p in out.iterdir()]
        if names == [LOCK] or (discarded and LOCK in names and LOCK not in before):
            (out / LOCK).unlink()
            for p in created:  # deepest first; a folder something else wrote into stays
                p.rmdir()
    except OSError:
        pass


def _drop(key: str) -> None:
    f, _, out, created, before, discarded = _HELD.pop(key)
    f.close()  # closing the file releases the flock
    _clean(out, created, before, discarded)


def discard(out: Path) -> None:
    """Undo a start that failed before its first checkpoint: remove every entry of `out`
    that was not there when the lock was taken (config.json, split.json, metrics.jsonl,
    what the task's `prepare` wrote); the lock file and the folders `acquire` made go when
    the lock is released. A folder this process does not hold is left alone."""
    held = _HELD.get(_key(out))
    if held is None:
        return
    before = held[4]
    for p in Path(out).iterdir():
        if p.name == LOCK or p.name in before:
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    held[5] = True


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
