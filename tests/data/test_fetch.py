"""Fetching datasets by name (rnnlab/data/fetch.py) against a local HTTP server on the loopback
address: a download that completes, bytes with the wrong hash, a transfer cut short, no
network, an archive's members, installing from a folder with a damaged file, verify."""

from __future__ import annotations

import hashlib
import io
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rnnlab.cli import main
from rnnlab.data import fetch, registry
from rnnlab.data.registry import DataFile, Dataset, Origin
from rnnlab.errors import RnnlabError

GOOD = b"alpha\nbeta\ngamma\n"
OTHER = b"names\nof\nsomething else\n"


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


ARCHIVE = _zip({"pack/a.txt": GOOD, "pack/b.txt": OTHER})
# path on the server -> (bytes sent, Content-Length claimed)
SERVED: dict[str, tuple[bytes, int]] = {
    "/o/c/good.txt": (GOOD, len(GOOD)),
    "/o/c/bad.txt": (OTHER, len(OTHER)),  # the registry expects GOOD's hash
    "/o/c/cut.txt": (GOOD[:5], 1000),  # the connection closes after 5 of 1000 bytes
    "/o/c/pack.zip": (ARCHIVE, len(ARCHIVE)),
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path not in SERVED:
            self.send_error(404)
            return
        body, length = SERVED[self.path]
        self.send_response(200)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/{{repo}}/{{commit}}/{{path}}"
    httpd.shutdown()


def _dataset(name: str, files: tuple[DataFile, ...], archive: bool = False) -> Dataset:
    origin = (Origin("o", "c", archive="pack.zip", archive_sha256=_sha(ARCHIVE)) if archive
              else Origin("o", "c"))
    return Dataset(name, "test data", ("lm",), origin, files, "none", "none", "none",
                   roles={"data": files[0].name}, options={"format": "lines"})


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: str) -> Path:
    monkeypatch.setenv(fetch.ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(registry, "RAW", server)
    monkeypatch.setattr(fetch, "RETRIES", 0)
    return tmp_path / "cache"


def _left(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


def test_download_completes_and_verifies(cache: Path) -> None:
    ds = _dataset("good", (DataFile("good.txt", len(GOOD), _sha(GOOD)),))
    where = fetch.fetch(ds, progress=False)
    assert (where / "good.txt").read_bytes() == GOOD
    assert fetch.installed(ds)
    assert fetch.fetch(ds, progress=False) == where  # nothing to do the second time


def test_wrong_hash_refused_and_removed(cache: Path) -> None:
    ds = _dataset("bad", (DataFile("bad.txt", len(GOOD), _sha(GOOD)),))
    with pytest.raises(RnnlabError, match="sha256 differs") as e:
        fetch.fetch(ds, progress=False)
    assert "/o/c/bad.txt" in str(e.value) and "--from" in str(e.value)
    assert _left(cache) == []  # no file, no empty folder


def test_interrupted_transfer_leaves_nothing(cache: Path) -> None:
    ds = _dataset("cut", (DataFile("cut.txt", len(GOOD), _sha(GOOD)),))
    with pytest.raises(RnnlabError, match="could not download .*/o/c/cut.txt"):
        fetch.fetch(ds, progress=False)
    assert _left(cache) == []


def test_no_network_is_one_error_line(cache: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    # port 9 (discard) on the loopback address: nothing listens, the connection is refused
    monkeypatch.setattr(registry, "RAW", "http://127.0.0.1:9/{repo}/{commit}/{path}")
    ds = _dataset("offline", (DataFile("good.txt", len(GOOD), _sha(GOOD)),))
    monkeypatch.setitem(registry.DATASETS, "offline", ds)
    assert main(["data", "get", "offline", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: dataset offline: could not download")
    assert "http://127.0.0.1:9/o/c/good.txt" in err[0]
    assert "rnnlab data get offline --from DIR" in err[0]
    assert _left(cache) == []


def test_archive_members_extracted_and_archive_dropped(cache: Path) -> None:
    ds = _dataset("packed", (DataFile("a.txt", len(GOOD), _sha(GOOD), member="pack/a.txt"),
                             DataFile("b.txt", len(OTHER), _sha(OTHER), member="pack/b.txt")),
                  archive=True)
    where = fetch.fetch(ds, progress=False)
    assert (where / "a.txt").read_bytes() == GOOD and (where / "b.txt").read_bytes() == OTHER
    assert _left(cache) == ["a.txt", "b.txt", "packed"]  # no archive kept


def test_install_from_folder_refuses_a_damaged_file(cache: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    ds = _dataset("two", (DataFile("a.txt", len(GOOD), _sha(GOOD)),
                          DataFile("b.txt", len(OTHER), _sha(OTHER))))
    monkeypatch.setitem(registry.DATASETS, "two", ds)
    src = tmp_path / "copy" / "two"
    src.mkdir(parents=True)
    (src / "a.txt").write_bytes(GOOD)
    (src / "b.txt").write_bytes(OTHER[:-1] + b"!")
    assert main(["data", "get", "two", "--from", str(tmp_path / "copy")]) == 2
    err = capsys.readouterr().err
    assert "b.txt" in err and "nothing was installed" in err
    assert _left(cache) == []
    (src / "b.txt").write_bytes(OTHER)
    assert main(["data", "get", "two", "--from", str(tmp_path / "copy")]) == 0
    assert (cache / "two" / "b.txt").read_bytes() == OTHER
    # verify notices a file damaged in the cache, and a fetch would replace it
    (cache / "two" / "a.txt").write_bytes(b"x")
    assert fetch.verify(["two"]) == [("two", "a.txt", "damaged"), ("two", "b.txt", "ok")]
    assert main(["data", "verify", "two"]) == 1


def test_registry_matches_the_shared_copies() -> None:
    shared = Path(__file__).resolve().parents[3] / "shared" / "data"
    if not shared.is_dir():
        pytest.skip("../shared/data is not beside the repository")
    for ds in registry.DATASETS.values():
        for f in ds.files:
            data = (shared / ds.name / f.name).read_bytes()
            assert (len(data), _sha(data)) == (f.size, f.sha256), f"{ds.name}/{f.name}"
        for role in ds.roles.values():  # every role names a file of the dataset
            assert role == "." or ds.file(role) is not None
