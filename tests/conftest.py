"""Shared test fixtures: small slices of the real datasets, deterministic torch."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
NAMES = SHARED / "names" / "names.txt"
TIMEMACHINE = SHARED / "timemachine" / "timemachine.txt"

torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def _data_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every test sees its own dataset cache, never the user's (and never the network)."""
    old = os.environ.get("RNNLAB_DATA")
    path = tmp_path_factory.mktemp("rnnlab-data")
    os.environ["RNNLAB_DATA"] = str(path)
    yield path
    if old is None:
        os.environ.pop("RNNLAB_DATA", None)
    else:
        os.environ["RNNLAB_DATA"] = old


def _install_shared(name: str) -> Path:
    from rnnlab.data.fetch import folder, get_dataset, install_from, installed

    ds = get_dataset(name)
    if not installed(ds):
        if not (SHARED / name).is_dir():
            pytest.skip(f"../shared/data/{name} is not beside the repository")
        install_from(ds, SHARED)
    return folder(ds)


@pytest.fixture
def shared_dataset() -> Callable[[str], Path]:
    """`shared_dataset(NAME)`: registry dataset NAME in the test cache, installed from
    ../shared/data (sha256 checked, as `rnnlab data get NAME --from` does); skips the test
    when ../shared is absent."""
    return _install_shared


@pytest.fixture
def names_file(tmp_path: Path) -> Path:
    """The first 300 names of names.txt (or embedded names when ../shared is absent)."""
    if NAMES.is_file():
        lines = NAMES.read_text().splitlines()[:300]
    else:
        from rnnlab.data.readers import embedded_names

        lines = [n.lower() for n in embedded_names()[:300]]
    p = tmp_path / "names.txt"
    p.write_text("\n".join(lines) + "\n")
    return p


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    """About 6k characters of The Time Machine."""
    if TIMEMACHINE.is_file():
        text = TIMEMACHINE.read_text()[:6000]
    else:
        text = "the time traveller was expounding a recondite matter to us. " * 100
    p = tmp_path / "tm.txt"
    p.write_text(text)
    return p


@pytest.fixture
def user_error(capsys):
    """Run the CLI and require a user error: exit 2, one `error: ...` line, no traceback.
    Returns that line."""
    from rnnlab.cli import main

    def run(argv: list[str]) -> str:
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), err
        assert "Traceback" not in err
        return lines[0]

    return run


@pytest.fixture
def labeled_tsv(tmp_path: Path) -> Path:
    """Sixteen surnames of two languages as TEXT<TAB>LABEL lines."""
    f = tmp_path / "d.tsv"
    f.write_text("".join(f"{w}\t{lab}\n" for lab, ws in (
        ("it", ["rossi", "russo", "ferrari", "bianchi", "romano", "greco", "gallo", "conti"]),
        ("ja", ["sato", "suzuki", "tanaka", "ito", "kato", "abe", "yamada", "sasaki"]))
        for w in ws))
    return f


@pytest.fixture(scope="session")
def task_files(tmp_path_factory) -> dict[str, Path]:
    """Tiny files every task trains on: names (lm), a monthly series (forecast), surnames
    of two languages with their label (classify, conditional)."""
    d = tmp_path_factory.mktemp("data")
    names = d / "names.txt"
    names.write_text("\n".join(["anna", "emma", "olivia", "ava", "mia", "liam", "noah",
                                 "sofia", "lucas", "ella", "mateo", "lena"] * 20) + "\n")
    series = d / "s.csv"
    series.write_text("month,v\n" + "\n".join(
        f"{1990 + i // 12}-{i % 12 + 1:02d},{50 + 40 * math.sin(i / 3):.3f}"
        for i in range(120)) + "\n")
    labeled = d / "l.tsv"  # surnames of two languages, one per line with its label
    labeled.write_text("".join(f"{n}\t{lab}\n" for lab, ns in (
        ("Italian", ["Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo",
                     "Ricci", "Marino", "Greco", "Bruno", "Gallo", "Conti", "Costa"]),
        ("Japanese", ["Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto",
                      "Nakamura", "Kobayashi", "Kato", "Yoshida", "Yamada", "Sasaki", "Abe"]))
        for n in ns))
    return {"names": names, "series": series, "labeled": labeled}
