"""Shared by the benchmark scripts: write a generated table into its own section of
BENCHMARKS.md, between `<!-- NAME:start -->` and `<!-- NAME:end -->`, leaving the rest."""

from __future__ import annotations

from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"


def write_section(name: str, markdown: str, heading: str | None = None,
                  path: Path = BENCHMARKS) -> None:
    """Replace the text between NAME's markers; a section not there yet is appended, under
    `## heading` when one is given."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{markdown.rstrip()}\n{end}"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    else:
        title = f"## {heading}\n\n" if heading else ""
        text = text.rstrip() + "\n\n" + title + block + "\n"
    path.write_text(text)
