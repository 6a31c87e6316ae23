"""Run the guide's chapters: `python docs/guide/build.py [--smoke] [CHAPTER ...]`.

Each chapter is a notebook kept as text (`NN_name.py`, jupytext's percent format). Run at
the full budget (`make guide`), a chapter is executed top to bottom in a fresh kernel and its
outputs (printed figures, plots) are written to the paired `NN_name.ipynb`, which the
documentation site shows. `--smoke` runs it at a smoke budget and writes nothing (the tests).
The kernel starts in the chapter's folder, as Jupyter does for a reader.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

GUIDE = Path(__file__).resolve().parent
TIMEOUT = {"full": 1800, "smoke": 300}  # seconds a cell may run


def chapters() -> list[Path]:
    """The chapters' text files, in reading order."""
    return sorted(p for p in GUIDE.glob("[0-9][0-9]_*.py"))


def read(path: Path) -> Any:
    """A chapter as a notebook (no outputs)."""
    import jupytext

    return jupytext.read(path)


def execute(path: Path, mode: str) -> Any:
    """Run one chapter in a fresh kernel at budget `mode` (full or smoke); returns the
    notebook with its outputs. A cell that raises stops it (nbclient's CellExecutionError)."""
    from nbclient import NotebookClient

    nb = read(path)
    old = os.environ.get("RNNLAB_GUIDE")
    os.environ["RNNLAB_GUIDE"] = mode  # the kernel inherits it
    try:
        NotebookClient(nb, timeout=TIMEOUT[mode], kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        if old is None:
            os.environ.pop("RNNLAB_GUIDE", None)
        else:
            os.environ["RNNLAB_GUIDE"] = old
    return nb


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("chapters", nargs="*", help="chapter files or name prefixes (default: all)")
    ap.add_argument("--smoke", action="store_true", help="smoke budget; write nothing")
    args = ap.parse_args()
    todo = chapters()
    if args.chapters:
        todo = [p for p in todo if any(p.name.startswith(Path(c).name.removesuffix(".py"))
                                       for c in args.chapters)]
        if not todo:
            print(f"error: no chapter matches {' '.join(args.chapters)}", file=sys.stderr)
            return 2
    import jupytext

    mode = "smoke" if args.smoke else "full"
    total = time.perf_counter()
    for path in todo:
        t0 = time.perf_counter()
        nb = execute(path, mode)
        if mode == "full":
            jupytext.write(nb, path.with_suffix(".ipynb"))
        print(f"{path.name}: {time.perf_counter() - t0:.0f} s ({mode})", flush=True)
    print(f"guide: {len(todo)} chapters in {time.perf_counter() - total:.0f} s ({mode})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
