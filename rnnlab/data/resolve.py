"""Registry names wherever a path goes: `--data ptb`, `--val-data`, `--test-data`, `data =
"ptb"` in TOML, and `--data` of the subcommands on a run.

A word that is a path here stays a path. A word that names a dataset (NAME, or NAME/FILE for
one file) becomes the path of its file in the cache, fetched on first use; a bare NAME given
to --data also fills --val-data and --test-data from the dataset's own split (PTB's valid and
test, EWT's dev and test) and the data options it needs (`--format lines` for names, the
folder, glob and encoding of MR) wherever the command line or config does not set them.
A word that is both a path here and a dataset name is an error that says so.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnnlab.data.registry import DataFile, Dataset, find
from rnnlab.errors import RnnlabError

if TYPE_CHECKING:
    from rnnlab.config import RunConfig

ROLES = ("data", "val_data", "test_data")
WHAT = {"data": "training", "val_data": "validation", "test_data": "test"}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def lookup(word: str, flag: str) -> tuple[Dataset, DataFile | None] | None:
    """The dataset (and file) `word` names, or None when it is a path (or names nothing)."""
    hit = find(word)
    if hit is None:
        return None
    if Path(word).exists():
        raise RnnlabError(
            f"{flag} {word!r} is both a path here and the name of the dataset "
            f"{hit[0].name!r}; write ./{word} for the path, or run from another folder "
            f"(or give `rnnlab data path {hit[0].name}`'s folder) for the dataset")
    return hit


def _say(msg: str) -> None:
    print(msg, file=sys.stderr)


def _file_for(ds: Dataset, file: DataFile | None, role: str, flag: str,
              fetched: dict[str, Path] | None = None) -> str:
    """The path that fills `role` (the folder for "."); `fetched` remembers the datasets
    already checked in this call, so their files are hashed once."""
    from rnnlab.data.fetch import ensure

    name = file.name if file is not None else ds.roles.get(role)
    if name is None:
        files = ", ".join(f"{ds.name}/{f.name}" for f in ds.files if not f.is_doc)
        if role == "data" or not ds.roles:
            raise RnnlabError(f"{flag} {ds.name}: the dataset holds several files; name one "
                              f"as NAME/FILE, e.g. {files}")
        raise RnnlabError(f"{flag} {ds.name}: the dataset has no {WHAT[role]} file of its "
                          f"own; drop {flag} (a seeded split of the training data) or name "
                          "a file")
    fetched = {} if fetched is None else fetched
    if ds.name not in fetched:
        fetched[ds.name] = ensure(ds, say=_say)
    base = fetched[ds.name]
    return str(base if name == "." else base / name)


def _check_task(ds: Dataset, task: str, flag: str, word: str) -> None:
    if task not in ds.tasks:
        raise RnnlabError(f"{flag} {word}: dataset {ds.name} is read by "
                          f"--task {' / '.join(ds.tasks)}, not {task}; `rnnlab data list` "
                          "shows each dataset's task")


def resolve_config(cfg: RunConfig, given: set[str]) -> set[str]:
    """Replace dataset names in `cfg.data`'s input fields by paths (fetching them), fill the
    dataset's split and options where `given` does not set them; returns the keys set."""
    data = cfg.data
    fields = {f.name: f for f in dataclasses.fields(data)}
    added: set[str] = set()
    options: dict[str, Any] = {}
    fetched: dict[str, Path] = {}
    for name, f in fields.items():
        value = getattr(data, name)
        if not f.metadata.get("input") or not isinstance(value, str):
            continue
        hit = lookup(value, _flag(name))
        if hit is None:
            continue
        ds, file = hit
        _check_task(ds, cfg.task, _flag(name), value)
        setattr(data, name, _file_for(ds, file, name, _flag(name), fetched))
        if name != "data":
            continue
        options.update(ds.options)
        if file is not None:
            options.update(ds.file_options.get(file.name, {}))
        else:  # the dataset's own split, where none is given
            for role in ROLES[1:]:
                if (role in fields and role in ds.roles and f"data.{role}" not in given
                        and getattr(data, role) is None):
                    setattr(data, role, _file_for(ds, None, role, _flag(role), fetched))
                    added.add(f"data.{role}")
    for key, value in options.items():
        if key in fields and f"data.{key}" not in given:
            setattr(data, key, value)
            added.add(f"data.{key}")
    return added


def resolve_path(word: str, task: str, flag: str = "--data") -> str:
    """`--data` of a subcommand on a run: a dataset name is its test file (or the named
    file, or the folder of a folder dataset); a path stays a path."""
    hit = lookup(word, flag)
    if hit is None:
        return word
    ds, file = hit
    _check_task(ds, task, flag, word)
    if file is None and "test_data" in ds.roles:
        return _file_for(ds, None, "test_data", flag)
    return _file_for(ds, file, "data", flag)
