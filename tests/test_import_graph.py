"""The import graph of rnnlab/, read from the source with `ast`: every import counts, at
module level, inside functions and under `if TYPE_CHECKING:`. It has no cycle; no task
package imports another; nothing under cli/ compares a task name; and what `rnnlab --help`
imports brings in no torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "rnnlab"
TASKS_DIR = PACKAGE / "tasks"


@dataclass(frozen=True)
class Edge:
    source: str  # importing module
    target: str  # imported rnnlab module (a package stands for its __init__.py)
    line: int
    where: str  # "module", "function" or "type-checking"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


MODULES = all_modules()
TASK_NAMES = sorted(p.parent.name for p in TASKS_DIR.glob("*/__init__.py"))


def _resolve(target: str) -> str | None:
    """The module a dotted name lands in: itself, or the longest prefix that is a module."""
    parts = target.split(".")
    while parts:
        name = ".".join(parts)
        if name in MODULES:
            return name
        parts.pop()
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _absolute(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    is_package = MODULES[module].name == "__init__.py"
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(module: str) -> list[Edge]:
    """Every rnnlab module that `module` imports, with where the import sits."""
    tree = ast.parse(MODULES[module].read_text(), filename=str(MODULES[module]))
    edges: list[Edge] = []

    def add(target: str, line: int, where: str) -> None:
        if target == "rnnlab" or target.startswith("rnnlab."):
            resolved = _resolve(target)
            if resolved is not None and resolved != module:
                edges.append(Edge(module, resolved, line, where))

    def visit(node: ast.AST, where: str) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno, where)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, node)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                # `from pkg import sub` imports the submodule; `from pkg import name`, pkg
                add(sub if sub in MODULES else base, node.lineno, where)
        elif isinstance(node, ast.Call) and _is_import_module(node):
            add(node.args[0].value, node.lineno, where)  # type: ignore[attr-defined]
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, "type-checking")
            for child in node.orelse:
                visit(child, where)
            return
        inner = "function" if isinstance(
            node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) else where
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(tree, "module")
    return edges


def _is_import_module(node: ast.Call) -> bool:
    f = node.func
    named = (isinstance(f, ast.Attribute) and f.attr == "import_module") or (
        isinstance(f, ast.Name) and f.id == "import_module")
    return named and bool(node.args) and isinstance(node.args[0], ast.Constant) and isinstance(
        node.args[0].value, str)


GRAPH: dict[str, list[Edge]] = {m: imports_of(m) for m in MODULES}


def find_cycles(graph: dict[str, list[Edge]]) -> tuple[list[list[str]], list[list[str]]]:
    """Strongly connected components with more than one module (Tarjan): one cycle through
    each, in import order, and the members of each."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for e in graph[v]:
            if e.target not in index:
                connect(e.target)
                low[v] = min(low[v], low[e.target])
            elif e.target in on_stack:
                low[v] = min(low[v], index[e.target])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(sorted(comp))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph) + 100))
    try:
        for v in sorted(graph):
            if v not in index:
                connect(v)
    finally:
        sys.setrecursionlimit(limit)
    return [_one_cycle(graph, comp) for comp in components], components


def _one_cycle(graph: dict[str, list[Edge]], comp: list[str]) -> list[str]:
    """A shortest cycle through the first module of a strongly connected component."""
    members, start = set(comp), comp[0]
    prev: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for e in graph[v]:
                if e.target == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(prev[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if e.target in members and e.target not in prev:
                    prev[e.target] = v
                    nxt.append(e.target)
        frontier = nxt
    return comp


def describe(cycle: list[str]) -> str:
    steps = []
    for a, b in zip(cycle, cycle[1:], strict=False):
        e = next(e for e in GRAPH[a] if e.target == b)
        steps.append(f"{a} -> {b} (line {e.line}, {e.where})")
    return "\n  ".join(steps)


def test_the_graph_reader_sees_every_kind_of_import() -> None:
    # anchors the reader on imports known to exist, so an empty graph cannot pass
    assert "rnnlab.cli.entry" in MODULES and len(TASK_NAMES) >= 6
    assert {e.where for edges in GRAPH.values() for e in edges} >= {"module", "function"}
    registry = {e.target for e in GRAPH["rnnlab.tasks"]}
    assert {f"rnnlab.tasks.{t}" for t in TASK_NAMES} <= registry


def test_no_cycle_among_rnnlab_modules() -> None:
    cycles, components = find_cycles(GRAPH)
    assert not cycles, "import cycles:\n" + "\n".join(
        f"- {' -> '.join(c)}\n  {describe(c)}\n  ({len(m)} modules in this knot: "
        f"{', '.join(m)})" for c, m in zip(cycles, components, strict=True))


def task_of(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) >= 3 and parts[:2] == ["rnnlab", "tasks"] and parts[2] in TASK_NAMES:
        return parts[2]
    return None


def test_no_task_package_imports_another() -> None:
    crossings = [
        f"{e.source} imports {e.target} (line {e.line}, {e.where})"
        for edges in GRAPH.values() for e in edges
        if task_of(e.source) and task_of(e.target) and task_of(e.source) != task_of(e.target)
    ]
    assert not crossings, "\n".join(crossings)


def _subcommand_side(node: ast.expr) -> bool:
    """`args.command == "translate"` names a subcommand, which may share a task's name."""
    text = ast.unparse(node).lower()
    return "command" in text or "cmd" in text


def task_name_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []

    def names_in(node: ast.expr) -> list[str]:
        consts = [node] if isinstance(node, ast.Constant) else (
            list(node.elts) if isinstance(node, ast.Tuple | ast.List | ast.Set) else [])
        return [c.value for c in consts
                if isinstance(c, ast.Constant) and c.value in TASK_NAMES]

    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            hits = [n for op in operands for n in names_in(op)]
            others = [op for op in operands if not names_in(op)]
            if hits and not any(_subcommand_side(o) for o in others):
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Subscript) and names_in(node.slice):
            value = ast.unparse(node.value)
            if value.split(".")[-1] in ("TASKS", "tasks"):
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.match_case) and isinstance(node.pattern, ast.MatchValue):
            if names_in(node.pattern.value):
                found.append(f"line {node.pattern.lineno}: case {ast.unparse(node.pattern)}")
    return sorted(found, key=lambda h: int(h.split(":")[0].split()[1]))


def test_the_task_name_search_finds_what_it_looks_for(tmp_path: Path) -> None:
    f = tmp_path / "m.py"
    f.write_text("if loaded.task == 'lm':\n    pass\nx = cfg.task in ('tag', 'other')\n"
                 "t = TASKS['classify']\nok = args.command == 'translate'\n")
    assert [h.split(":")[0] for h in task_name_uses(f)] == ["line 1", "line 3", "line 4"]


@pytest.mark.parametrize(
    "path", sorted((PACKAGE / "cli").rglob("*.py")), ids=lambda p: p.name)
def test_the_command_line_compares_no_task_name(path: Path) -> None:
    hits = task_name_uses(path)
    assert not hits, f"{path.relative_to(PACKAGE.parent)} names tasks:\n" + "\n".join(hits)


def _ancestors(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def loaded_by(start: str) -> set[str]:
    """The rnnlab modules executed by `import start`: module-level imports (not those in
    functions or under TYPE_CHECKING), followed through, with every parent package."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        todo += _ancestors(m)
        todo += [e.target for e in GRAPH[m] if e.where == "module"]
    return seen


def imports_torch_at_module_level(module: str) -> list[int]:
    tree = ast.parse(MODULES[module].read_text())
    lines = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            return
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import) and any(
                a.name.split(".")[0] == "torch" for a in node.names):
            lines.append(node.lineno)
        if isinstance(node, ast.ImportFrom) and not node.level and (
                (node.module or "").split(".")[0] == "torch"):
            lines.append(node.lineno)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return lines


HELP_CHAIN = ["rnnlab.config", "rnnlab.runconfig", "rnnlab.tasks.base"] + [
    f"rnnlab.tasks.{t}.config" for t in TASK_NAMES]


def test_what_help_loads_imports_no_torch_at_module_level() -> None:
    loaded = loaded_by("rnnlab.cli")
    assert {"rnnlab", "rnnlab.cli.entry", "rnnlab.cli.parser"} <= loaded
    checked = sorted(loaded | {m for m in HELP_CHAIN if m in MODULES}
                     | {m for m in MODULES if m.startswith("rnnlab.cli")})
    offenders = {m: imports_torch_at_module_level(m) for m in checked}
    offenders = {m: lines for m, lines in offenders.items() if lines}
    assert not offenders, "torch imported at module level by: " + ", ".join(
        f"{m} (line {', '.join(map(str, lines))})" for m, lines in offenders.items())


@pytest.mark.parametrize("argv", [["--help"], ["train", "--task", "lm", "--help"],
                                  ["data", "list"]])
def test_help_runs_without_torch_in_a_fresh_process(argv: list[str]) -> None:
    code = ("import sys\nfrom rnnlab.cli import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            "bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))\n"
            "assert not bad, bad[:5]\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert ("usage" if "--help" in argv else "ptb") in r.stdout.lower()
