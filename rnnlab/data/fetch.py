"""Datasets of the registry on this machine: the cache folder, fetching with pooch (hash
check, retries, progress bar; a download goes to a temporary file and is moved into place only
when its sha256 matches), installing from a local copy (`--from DIR`), and verifying.

The cache is `$RNNLAB_DATA` if set, else the platform's user cache folder
(`~/.cache/rnnlab` on Linux). A dataset lies in `CACHE/NAME/FILE`, the layout of the shared
data folder, so `rnnlab data get NAME --from DIR` reads `DIR/NAME/FILE` (or `DIR/FILE`).
A file is used only after its sha256 matched; a file that no longer matches is fetched again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from rnnlab.data.registry import DATASETS, DataFile, Dataset
from rnnlab.errors import RnnlabError

ENV = "RNNLAB_DATA"
RETRIES = 2


def data_home() -> Path:
    """The cache folder: $RNNLAB_DATA, else the user cache folder of this platform."""
    env = os.environ.get(ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs  # a dependency of pooch; lazy: `rnnlab --help` stays fast

    return Path(platformdirs.user_cache_dir("rnnlab"))


def get_dataset(name: str) -> Dataset:
    ds = DATASETS.get(name)
    if ds is None:
        raise RnnlabError(f"no dataset named {name!r}; `rnnlab data list` shows the "
                          f"{len(DATASETS)} names ({', '.join(DATASETS)})")
    return ds


def folder(ds: Dataset) -> Path:
    return data_home() / ds.name


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_state(ds: Dataset, f: DataFile) -> str:
    """'ok', 'missing' or 'damaged' (size or sha256 differ) for the cached copy of `f`."""
    p = folder(ds) / f.name
    if not p.is_file():
        return "missing"
    if p.stat().st_size != f.size or sha256(p) != f.sha256:
        return "damaged"
    return "ok"


def installed(ds: Dataset) -> bool:
    return all(file_state(ds, f) == "ok" for f in ds.files)


def _offline_hint(ds: Dataset) -> str:
    return (f"without a network, copy the files onto this machine and run `rnnlab data get "
            f"{ds.name} --from DIR` (DIR/{ds.name}/FILE)")


def _download(ds: Dataset, url: str, fname: str, sha: str, dest: Path, progress: bool) -> Path:
    """`url` into dest/fname through pooch: retries, sha256 check, atomic move."""
    import pooch
    import requests

    pooch.get_logger().setLevel("WARNING")
    store = pooch.create(path=dest, base_url="", registry={fname: f"sha256:{sha}"},
                         urls={fname: url}, retry_if_failed=RETRIES)
    try:
        return Path(store.fetch(fname, downloader=pooch.HTTPDownloader(progressbar=progress,
                                                                        timeout=60)))
    except ValueError as e:  # pooch: the downloaded bytes' hash differs (file removed)
        raise RnnlabError(f"dataset {ds.name}: {url} gave bytes whose sha256 differs from the "
                          f"registry's {sha[:12]}...; nothing was kept. The source may have "
                          f"changed; {_offline_hint(ds)} ({e.__class__.__name__})") from None
    except (requests.RequestException, OSError) as e:
        raise RnnlabError(f"dataset {ds.name}: could not download {url} ({_reason(e, url)}); "
                          f"{_offline_hint(ds)}") from None


def _reason(e: BaseException, url: str) -> str:
    from urllib.parse import urlsplit

    import requests

    if isinstance(e, requests.HTTPError) and e.response is not None:
        return f"HTTP {e.response.status_code}"
    if isinstance(e, requests.ConnectionError) and "Read" not in e.__class__.__name__:
        return f"no connection to {urlsplit(url).hostname}, after {RETRIES + 1} tries"
    return f"{e.__class__.__name__}, after {RETRIES + 1} tries"


def _place(src: Path, dest: Path, f: DataFile, where: str) -> None:
    """Copy `src` to dest/f.name through a temporary file, only if its sha256 is `f`'s."""
    dest.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest, prefix=f".{f.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
            shutil.copyfileobj(inp, out, 1 << 20)
        got = sha256(Path(tmp))
        if got != f.sha256:
            raise RnnlabError(f"{where}: sha256 {got[:12]}... is not the registry's "
                              f"{f.sha256[:12]}... for {f.name}; that copy is damaged or "
                              "another version, so it was not used")
        os.replace(tmp, dest / f.name)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def fetch(ds: Dataset, progress: bool = True,
          say: Callable[[str], None] | None = None) -> Path:
    """Every file of `ds` in the cache, downloading what is missing or damaged; its folder."""
    dest = folder(ds)
    todo = [f for f in ds.files if file_state(ds, f) != "ok"]
    if not todo:
        return dest
    if say is not None:
        say(f"dataset {ds.name}: fetching {len(todo)} file(s) into {dest}")
    made = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    try:
        _fetch_files(ds, todo, dest, progress)
    finally:  # a fetch that failed before any file leaves no empty folder behind
        if made and not any(dest.iterdir()):
            dest.rmdir()
    return dest


def _fetch_files(ds: Dataset, todo: list[DataFile], dest: Path, progress: bool) -> None:
    members = [f for f in todo if f.member is not None]
    for f in todo:
        if f.member is None:
            got = _download(ds, ds.url(f), f.name, f.sha256, dest, progress)
            if got != dest / f.name:  # pooch names it as asked; be sure
                os.replace(got, dest / f.name)
    if members:
        origin = members[0].origin or ds.origin
        assert origin.archive is not None and origin.archive_sha256 is not None
        archives = data_home() / ".archives"
        zpath = archives / f"{ds.name}.zip"
        try:
            _download(ds, ds.url(members[0]), zpath.name, origin.archive_sha256, archives,
                      progress)
            with zipfile.ZipFile(zpath) as z, tempfile.TemporaryDirectory(dir=dest) as tmp:
                for f in members:
                    assert f.member is not None
                    out = Path(tmp) / f.name
                    with z.open(f.member) as inp, open(out, "wb") as o:
                        shutil.copyfileobj(inp, o, 1 << 20)
                    _place(out, dest, f, f"{ds.url(f)} -> {f.member}")
        finally:  # the files are what is kept, not the archive
            zpath.unlink(missing_ok=True)
            if archives.is_dir() and not any(archives.iterdir()):
                archives.rmdir()


def ensure(ds: Dataset, say: Callable[[str], None] | None = None) -> Path:
    """The dataset's folder, fetched first if any file is missing or damaged."""
    return fetch(ds, progress=True, say=say)


def install_from(ds: Dataset, source: Path) -> Path:
    """Copy `ds` from a local folder after checking every file's sha256 (DIR/NAME/FILE or
    DIR/FILE); nothing is copied unless every file matches."""
    base = source / ds.name if (source / ds.name).is_dir() else source
    if not base.is_dir():
        raise RnnlabError(f"--from {str(source)!r}: not a folder; give the folder that holds "
                          f"{ds.name}/ (or its files)")
    found = []
    for f in ds.files:
        p = base / f.name
        if not p.is_file():
            raise RnnlabError(f"--from {str(source)!r}: {str(p)!r} is missing; dataset "
                              f"{ds.name} needs {', '.join(x.name for x in ds.files)}")
        got = sha256(p)
        if got != f.sha256:
            raise RnnlabError(f"--from {str(source)!r}: {str(p)!r} has sha256 {got[:12]}..., "
                              f"not the registry's {f.sha256[:12]}...; that copy is damaged "
                              "or another version, so nothing was installed")
        found.append((p, f))
    dest = folder(ds)
    for p, f in found:
        _place(p, dest, f, str(p))
    return dest


def verify(names: list[str] | None = None) -> list[tuple[str, str, str]]:
    """(dataset, file, state) for every file of the named datasets (default: every dataset
    with a folder in the cache)."""
    chosen = ([get_dataset(n) for n in names] if names
              else [d for d in DATASETS.values() if folder(d).is_dir()])
    return [(d.name, f.name, file_state(d, f)) for d in chosen for f in d.files]
