"""Shared by the benchmark scripts: write a generated table into its own section of
BENCHMARKS.md, between `<!-- NAME:start -->` and `<!-- NAME:end -->`, leaving the rest; run
one `rnnlab` command from the repository root."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "BENCHMARKS.md"


def run_rnnlab(cmd: list[str]) -> str:
    """`python -m rnnlab CMD...` from the repository root: its stdout, or exit with the
    command and the end of its stderr when it fails."""
    r = subprocess.run([sys.executable, "-m", "rnnlab", *cmd], cwd=ROOT, capture_output=True,
                       text=True)
    if r.returncode != 0:
        sys.exit(f"failed: rnnlab {' '.join(cmd)}\n{r.stderr[-2000:]}")
    return r.stdout


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
