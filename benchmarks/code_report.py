"""The shape of a source tree: its Python files as a tree with line counts (folders with their
totals), and its longest functions by line count (read with `ast`).

    python benchmarks/code_report.py rnnlab                  # tree and the ten longest
    python benchmarks/code_report.py rnnlab --longest 20
    python benchmarks/code_report.py /some/checkout/rnnlab --duplicates 20

`--duplicates N` appends the `duplicates --most N` report of the folder's repository (the
`duplicates` program must be on PATH). Reads files only; writes nothing.
"""

from __future__ import annotations

import argparse
import ast
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Function:
    name: str  # qualified: Class.method, outer.inner
    path: str
    start: int
    end: int

    @property
    def lines(self) -> int:
        return self.end - self.start + 1


def python_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def line_count(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def tree_lines(root: Path) -> list[str]:
    """One row a folder (its total) and a file (its count), indented by depth."""
    files = python_files(root)
    counts = {p: line_count(p) for p in files}
    totals: dict[Path, int] = {}
    for p, n in counts.items():
        for d in p.relative_to(root).parents:
            totals[d] = totals.get(d, 0) + n
    rows = []
    seen: set[Path] = set()
    for p in files:
        rel = p.relative_to(root)
        for d in reversed(rel.parents[:-1]):  # folders above the file, outermost first
            if d not in seen:
                seen.add(d)
                rows.append((len(d.parts) - 1, f"{d.name}/", totals[d], True))
        rows.append((len(rel.parts) - 1, rel.name, counts[p], False))
    out = [f"{root.name}/  {totals.get(Path('.'), 0):,} lines in {len(files)} files"]
    for depth, name, n, is_dir in rows:
        label = "  " * (depth + 1) + name
        out.append(f"{label:<48}{n:>7,}" + ("  (folder total)" if is_dir else ""))
    return out


def functions(root: Path) -> list[Function]:
    found: list[Function] = []
    for p in python_files(root):
        tree = ast.parse(p.read_text(encoding="utf-8"), filename=str(p))
        rel = str(Path(root.name) / p.relative_to(root))

        def visit(node: ast.AST, prefix: str, rel: str = rel) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                    name = prefix + child.name
                    found.append(Function(name, rel, child.lineno, child.end_lineno or 0))
                    visit(child, name + ".")
                elif isinstance(child, ast.ClassDef):
                    visit(child, prefix + child.name + ".")
                else:
                    visit(child, prefix)

        visit(tree, "")
    return found


def longest_lines(root: Path, n: int) -> list[str]:
    top = sorted(functions(root), key=lambda f: (-f.lines, f.path, f.start))[:n]
    out = [f"{'lines':>5}  {'function':<40} where"]
    out += [f"{f.lines:>5}  {f.name:<40} {f.path}:{f.start}-{f.end}" for f in top]
    return out


def duplicates_lines(root: Path, most: int) -> list[str]:
    exe = shutil.which("duplicates")
    if exe is None:
        return ["(the `duplicates` program is not on PATH)"]
    repo = subprocess.run(["git", "-C", str(root), "rev-parse", "--show-toplevel"],
                          capture_output=True, text=True).stdout.strip() or str(root)
    r = subprocess.run([exe, "--repo", repo, "--most", str(most), "--seconds", "120"],
                       capture_output=True, text=True, cwd=repo)
    return [f"$ duplicates --most {most}   (in {repo})", *r.stdout.splitlines()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", nargs="?", default="rnnlab", help="the package folder to read")
    ap.add_argument("--longest", type=int, default=10, help="how many functions to list")
    ap.add_argument("--duplicates", type=int, metavar="N", default=0,
                    help="also print `duplicates --most N` of the folder's repository")
    a = ap.parse_args(argv)
    root = Path(a.folder).resolve()
    if not root.is_dir():
        print(f"error: {a.folder!r} is not a folder", file=sys.stderr)
        return 2
    print("## File tree (Python files, line counts)\n")
    print("\n".join(tree_lines(root)))
    print(f"\n## The {a.longest} longest functions\n")
    print("\n".join(longest_lines(root, a.longest)))
    if a.duplicates:
        print("\n## Duplicate code\n")
        print("\n".join(duplicates_lines(root, a.duplicates)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
