"""The guide's chapters (docs/guide) run at a smoke budget, and each executed notebook the
site shows was made from its chapter's current text (`make guide` refreshes them)."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guide"
needs_jupyter = pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("jupytext", "nbclient", "ipykernel")),
    reason="the guide's runner needs the docs extra: pip install -e '.[docs]'")


def _build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("guide_build", GUIDE / "build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CHAPTERS = sorted(GUIDE.glob("[0-9][0-9]_*.py"))


def _datasets(text: str) -> list[str]:
    """Registry datasets a chapter names (`--data NAME`, `data="NAME"`)."""
    from rnnlab.data.registry import DATASETS

    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))
    return sorted(n for n in DATASETS if n in words)


def test_the_guide_has_its_chapters() -> None:
    assert len(CHAPTERS) >= 12


@needs_jupyter
@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_runs_at_a_smoke_budget(chapter: Path,
                                        shared_dataset: Callable[[str], Path]) -> None:
    for name in _datasets(chapter.read_text()):
        shared_dataset(name)
    _build().execute(chapter, "smoke")


@needs_jupyter
@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_the_site_shows_the_chapter_as_written(chapter: Path) -> None:
    """The paired .ipynb (with outputs) holds the same cells as the text; if not, the
    chapter changed after `make guide` ran, and its figures may not be its own."""
    import jupytext

    executed = chapter.with_suffix(".ipynb")
    assert executed.is_file(), f"run `make guide` to execute {chapter.name}"
    text, shown = jupytext.read(chapter), jupytext.read(executed)
    assert [(c.cell_type, c.source) for c in shown.cells] == [
        (c.cell_type, c.source) for c in text.cells]
    code = [c for c in shown.cells if c.cell_type == "code"]
    assert code and all(c.get("execution_count") for c in code), (
        f"{executed.name} holds cells that were never run: run `make guide`")
