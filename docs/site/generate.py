"""Pages the site builds from the code (mkdocs-gen-files runs this at `make docs`): the command
reference from the parser, the Python API reference from the docstrings of every public name,
one page per source module (what the guide's code links open), and BENCHMARKS.md."""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from pathlib import Path

import mkdocs_gen_files

import rnnlab
from rnnlab.cli.parser import build_parser

ROOT = Path(__file__).resolve().parents[2]


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """name -> parser of each `rnnlab NAME` (and `rnnlab data NAME`)."""
    out: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out[name] = sub
                for inner, subsub in subcommands(sub).items():
                    out[f"{name} {inner}"] = subsub
    return out


def commands_page() -> str:
    parser = build_parser()
    parts = ["# Command reference", "",
             "Every subcommand's `--help`, as the installed parser prints it (this page is "
             "generated from `rnnlab.cli.parser.build_parser`). The guide shows them in use; "
             "[the command line](../cli.md) gives an overview.", ""]
    for name, sub in subcommands(parser).items():
        sub.prog = f"rnnlab {name}"
        parts += [f"## rnnlab {name}", "", "```text", sub.format_help().rstrip(), "```", ""]
    return "\n".join(parts)


def public_by_module() -> dict[str, list[str]]:
    """The public names of `rnnlab`, by the module that defines each."""
    by_module: dict[str, list[str]] = defaultdict(list)
    for name in rnnlab.__all__:
        by_module[rnnlab._EXPORTS[name]].append(name)
    return by_module


def api_page() -> str:
    by_module = public_by_module()
    parts = ["# Python API reference", "",
             "Every public name of `rnnlab` (`rnnlab.__all__`), importable as "
             "`from rnnlab import NAME`, grouped by the module that defines it; generated from "
             "the docstrings. [The Python API chapter](../guide/14_python_api.ipynb) uses "
             "them.", ""]
    for module in sorted(by_module):
        parts += [f"## `{module}`", ""]
        for name in sorted(by_module[module]):
            parts += [f"::: {module}.{name}", "    options:", "      heading_level: 3", ""]
    return "\n".join(parts)


def modules() -> list[str]:
    """Dotted names of every module of the package."""
    out = []
    for path in sorted((ROOT / "rnnlab").rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        if not any(p.startswith("_") and p != "__init__" for p in parts):
            out.append(".".join(parts))
    return out


def module_pages() -> None:
    """A page per module. Public names are documented on the API page only (one anchor per
    object); a module page lists them with a link there."""
    public = public_by_module()
    index = ["# Source modules", "",
             "One page per module of the package, with its docstring (what it does, with the "
             "shapes of its data) and its documented functions and classes; the public names "
             "are on [the API page](../api.md).", ""]
    for name in modules():
        index.append(f"- [`{name}`]({name}.md)")
        own = sorted(public.get(name, []))
        filters = ", ".join(['"!^_"', *(f'"!^{n}$"' for n in own)])
        page = [f"# `{name}`", ""]
        if own:
            page += ["Public names defined here: " + ", ".join(
                f"[`{n}`](../api.md#{name}.{n})" for n in own) + ".", ""]
        page += [f"::: {name}", "    options:", "      show_root_heading: false",
                 "      show_submodules: false", "      heading_level: 2",
                 f"      filters: [{filters}]", ""]
        with mkdocs_gen_files.open(f"reference/modules/{name}.md", "w") as f:
            f.write("\n".join(page))
    with mkdocs_gen_files.open("reference/modules/index.md", "w") as f:
        f.write("\n".join(index) + "\n")


LINK = re.compile(r"(\]\()(?!https?:|#|mailto:)([^)\s]+)(\))")


def benchmarks_page() -> str:
    """BENCHMARKS.md, its links made relative to docs/ (the hook maps them to pages)."""
    text = (ROOT / "BENCHMARKS.md").read_text()
    return LINK.sub(lambda m: f"{m[1]}../{m[2]}{m[3]}", text)


with mkdocs_gen_files.open("reference/commands.md", "w") as f:
    f.write(commands_page())
with mkdocs_gen_files.open("reference/api.md", "w") as f:
    f.write(api_page())
with mkdocs_gen_files.open("benchmarks.md", "w") as f:
    f.write(benchmarks_page())
module_pages()
