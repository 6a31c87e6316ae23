"""Dataset names wherever a path goes (rnnlab/data/resolve.py): `--data NAME` reads the
dataset's files and split and sets its data options unless given; NAME/FILE names one file; a
path stays a path; a word that is both is an error; a dataset of another task is refused."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from rnnlab.cli import main
from rnnlab.data import fetch, registry
from rnnlab.data.registry import DataFile, Dataset, Origin
from rnnlab.data.resolve import resolve_path
from rnnlab.errors import RnnlabError
from rnnlab.runconfig import make_config

TRAIN = b"the cat sat\non the mat\n" * 20
VALID = b"a cat\n" * 5
TEST = b"the mat\n" * 5


def _f(name: str, data: bytes) -> DataFile:
    return DataFile(name, len(data), hashlib.sha256(data).hexdigest())


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A dataset `tiny` (train/valid/test, word-level text) installed in a fresh cache."""
    monkeypatch.setenv(fetch.ENV, str(tmp_path / "cache"))
    ds = Dataset("tiny", "a tiny text", ("lm",), Origin("o", "c"),
                 (_f("t.train", TRAIN), _f("t.valid", VALID), _f("t.test", TEST),
                  _f("other.txt", TEST)),
                 "none", "none", "given",
                 roles={"data": "t.train", "val_data": "t.valid", "test_data": "t.test"},
                 options={"format": "text", "level": "word"})
    monkeypatch.setitem(registry.DATASETS, "tiny", ds)
    src = tmp_path / "src"
    src.mkdir()
    for name, data in (("t.train", TRAIN), ("t.valid", VALID), ("t.test", TEST),
                       ("other.txt", TEST)):
        (src / name).write_bytes(data)
    fetch.install_from(ds, src)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "cache" / "tiny"


def test_a_name_reads_the_dataset_split_and_options(tiny: Path) -> None:
    cfg, given = make_config("lm", flags={"data": {"data": "tiny"}})
    d = cfg.data
    assert (d.data, d.val_data, d.test_data) == (str(tiny / "t.train"), str(tiny / "t.valid"),
                                                 str(tiny / "t.test"))
    assert (d.format, d.level) == ("text", "word")
    assert {"data.val_data", "data.format", "data.level"} <= given


def test_what_the_user_gives_wins(tiny: Path) -> None:
    cfg, _ = make_config("lm", flags={"data": {"data": "tiny", "level": "char",
                                               "test_data": "tiny/other.txt"}})
    assert cfg.data.level == "char" and cfg.data.test_data == str(tiny / "other.txt")
    assert cfg.data.val_data == str(tiny / "t.valid")


def test_a_path_stays_a_path_and_an_ambiguous_word_is_refused(tiny: Path) -> None:
    Path("mine.txt").write_bytes(TRAIN)
    cfg, _ = make_config("lm", flags={"data": {"data": "mine.txt", "format": "text"}})
    assert cfg.data.data == "mine.txt" and cfg.data.val_data is None
    Path("tiny").mkdir()
    with pytest.raises(RnnlabError, match=r"both a path here and the name of the dataset"):
        make_config("lm", flags={"data": {"data": "tiny"}})
    cfg, _ = make_config("lm", flags={"data": {"data": "./tiny/../mine.txt",
                                               "format": "text"}})
    assert cfg.data.data == "./tiny/../mine.txt"


def test_another_tasks_dataset_and_unknown_files_are_refused(tiny: Path) -> None:
    with pytest.raises(RnnlabError, match=r"dataset tiny is read by --task lm, not tag"):
        make_config("tag", flags={"data": {"data": "tiny"}})
    # NAME/FILE that the dataset does not hold is a path (which does not exist)
    cfg, _ = make_config("lm", flags={"data": {"data": "tiny/nope.txt"}})
    assert cfg.data.data == "tiny/nope.txt"


def test_subcommands_read_the_test_file(tiny: Path) -> None:
    assert resolve_path("tiny", "lm") == str(tiny / "t.test")
    assert resolve_path("tiny/other.txt", "lm") == str(tiny / "other.txt")
    assert resolve_path("elsewhere.txt", "lm") == "elsewhere.txt"


def test_toml_and_dry_run_name_the_dataset(tiny: Path, capsys: pytest.CaptureFixture[str]
                                           ) -> None:
    Path("c.toml").write_text('task = "lm"\n[data]\ndata = "tiny"\n')
    assert main(["train", "--config", "c.toml", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert str(tiny / "t.valid") in out and '"level": "word"' in out


def test_data_path_and_info(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "path", "tiny"]) == 0
    assert capsys.readouterr().out.strip() == str(tiny)
    assert main(["data", "path", "tiny/t.test"]) == 0
    assert capsys.readouterr().out.strip() == str(tiny / "t.test")
    assert main(["data", "info", "tiny"]) == 0
    assert "val-data=t.valid" in capsys.readouterr().out
    assert main(["data", "path", "nosuch"]) == 2
    assert "no dataset named 'nosuch'" in capsys.readouterr().err
