"""`rnnlab data list | info NAME | get NAME... [--from DIR] | path NAME | verify [NAME...]`:
the datasets of the registry (rnnlab/data/registry.py) and their copies in the cache
(rnnlab/data/fetch.py). Imports no torch."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rnnlab.data.fetch import (
    data_home,
    fetch,
    file_state,
    folder,
    get_dataset,
    install_from,
    verify,
)
from rnnlab.data.registry import DATASETS, Dataset
from rnnlab.errors import RnnlabError


def add_data_parser(sub: Any, parser_class: type) -> None:
    d = sub.add_parser("data", help="datasets by name: list, info, get, path, verify",
                       description="The datasets rnnlab's README, configs and benchmarks use, "
                       "pinned by sha256. A name works wherever a path goes (`--data ptb`, "
                       "`data = \"ptb\"` in TOML), fetched on first use into the cache "
                       "($RNNLAB_DATA or the user cache folder).")
    ds = d.add_subparsers(dest="data_command", required=True, parser_class=parser_class)
    p = ds.add_parser("list", help="every dataset: tasks, size, whether it is in the cache")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = ds.add_parser("info", help="one dataset: source, licence, citation, split, files")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = ds.add_parser("get", help="fetch datasets into the cache (or install a local copy)")
    p.add_argument("names", nargs="+", metavar="NAME", help="dataset names, or all")
    p.add_argument("--from", dest="source", metavar="DIR", help="install from DIR/NAME/FILE "
                   "(or DIR/FILE) after checking every file's sha256: no network needed")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p = ds.add_parser("path", help="the folder of a dataset in the cache (NAME/FILE: a file)")
    p.add_argument("name", metavar="NAME")
    p = ds.add_parser("verify", help="check the sha256 of every cached file")
    p.add_argument("names", nargs="*", metavar="NAME", help="default: every cached dataset")
    d.set_defaults(command_name="data")


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


def _state(ds: Dataset) -> str:
    if not folder(ds).is_dir():
        return "-"
    states = {file_state(ds, f) for f in ds.files}
    return "yes" if states == {"ok"} else "partly" if "ok" in states else "no"


def _list(args: argparse.Namespace) -> int:
    rows: list[dict[str, Any]] = [
        {"name": d.name, "tasks": list(d.tasks), "files": len(d.files), "bytes": d.size,
         "cached": _state(d), "title": d.title} for d in DATASETS.values()]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"{'name':<18} {'task':<20} {'files':>5} {'size':>9}  cached  what")
    for r in rows:
        print(f"{r['name']:<18} {'/'.join(r['tasks']):<20} {r['files']:>5} "
              f"{_mb(r['bytes']):>9}  {r['cached']:<6}  {r['title']}")
    print(f"cache: {data_home()}  (cached: yes, partly, no = damaged, - = not fetched)")
    return 0


def _info(args: argparse.Namespace) -> int:
    ds = get_dataset(args.name)
    files = [{"name": f.name, "bytes": f.size, "sha256": f.sha256, "url": ds.url(f),
              "source": ds.source(f), "cached": file_state(ds, f)} for f in ds.files]
    info = {"name": ds.name, "title": ds.title, "tasks": list(ds.tasks),
            "licence": ds.licence, "citation": ds.citation, "splits": ds.splits,
            "roles": dict(ds.roles), "options": dict(ds.options),
            "file_options": {k: dict(v) for k, v in ds.file_options.items()},
            "folder": str(folder(ds)), "files": files}
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    print(f"{ds.name}: {ds.title}")
    for key in ("tasks", "licence", "citation", "splits"):
        v = info[key]
        print(f"  {key + ':':<10} {', '.join(v) if isinstance(v, list) else v}")
    if ds.roles:
        print("  --data " + ds.name + " reads: " + ", ".join(
            f"{k.replace('_', '-')}={v}" for k, v in ds.roles.items()))
    opts = {**ds.options, **{f"{k} ({f})": v for f, o in ds.file_options.items()
                             for k, v in o.items()}}
    if opts:
        print("  and sets (unless given): " + ", ".join(f"{k}={v}" for k, v in opts.items()))
    print(f"  folder:    {folder(ds)}")
    for f in files:
        print(f"  {f['name']:<30} {f['bytes']:>10,} B  {f['cached']:<7}  sha256 {f['sha256']}")
        print(f"      from {f['source']}")
    return 0


def _get(args: argparse.Namespace) -> int:
    names = list(DATASETS) if args.names == ["all"] else args.names
    chosen = [get_dataset(n) for n in names]  # every name checked before any work
    for ds in chosen:
        if args.source is not None:
            where = install_from(ds, Path(args.source))
        else:
            where = fetch(ds, progress=not args.no_progress, say=print)
        print(f"{ds.name}: {len(ds.files)} file(s), sha256 checked, in {where}")
    return 0


def _path(args: argparse.Namespace) -> int:
    name, _, rest = args.name.partition("/")
    ds = get_dataset(name)
    if rest and ds.file(rest) is None:
        raise RnnlabError(f"dataset {name} has no file {rest!r}; it has "
                          f"{', '.join(f.name for f in ds.files)}")
    if any(file_state(ds, f) != "ok" for f in ds.files if not rest or f.name == rest):
        raise RnnlabError(f"dataset {name} is not (wholly) in the cache {data_home()}; "
                          f"run `rnnlab data get {name}`")
    print(folder(ds) / rest if rest else folder(ds))
    return 0


def _verify(args: argparse.Namespace) -> int:
    rows = verify(args.names or None)
    if not rows:
        print(f"no dataset in the cache {data_home()}")
        return 0
    for name, f, state in rows:
        print(f"{state:<8} {name}/{f}")
    bad = [r for r in rows if r[2] != "ok"]
    print(f"{len(rows) - len(bad)} of {len(rows)} files match their sha256"
          + (f"; fetch again with `rnnlab data get {' '.join(sorted({r[0] for r in bad}))}`"
             if bad else ""))
    return 1 if bad else 0


HANDLERS = {"list": _list, "info": _info, "get": _get, "path": _path, "verify": _verify}


def cmd_data(args: argparse.Namespace) -> int:
    return HANDLERS[args.data_command](args)
