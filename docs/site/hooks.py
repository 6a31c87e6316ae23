"""Links on the site (an mkdocs hook). Pages are written to read well on the repository too,
so they link to files of the repository; on the site those links are mapped to pages:

    README.md -> the home page          BENCHMARKS.md -> benchmarks.md
    rnnlab/<path>.py -> that module's page in reference/modules/
    guide/NN_name.ipynb -> the chapter's page
    any other file of the repository (configs/, benchmarks/) -> its path as text
    a target that exists nowhere -> left as it is: the strict build fails on it

Markdown pages are rewritten before mkdocs validates their links; the guide's notebooks
(HTML from mkdocs-jupyter, which mkdocs does not validate) are rewritten and checked here.
"""

from __future__ import annotations

import html
import logging
import posixpath
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
log = logging.getLogger("mkdocs.hooks.links")

MD_LINK = re.compile(r"(!?)\[([^\]\n]*)\]\((?!https?:|#|mailto:)([^)\s]+)\)")
HTML_LINK = re.compile(r'<a\s+href="(?!https?:|#|mailto:|data:)([^"]+)"([^>]*)>(.*?)</a>', re.S)


def target(src_uri: str, link: str) -> tuple[str, str]:
    """("page", docs-relative uri) for a page or file of the site, ("text", repository path)
    for a repository file the site does not hold, ("missing", link) otherwise."""
    path = link.split("#", 1)[0]
    if not path:
        return "page", src_uri
    full = Path(posixpath.normpath((DOCS / posixpath.dirname(src_uri) / path).as_posix()))
    if full.is_relative_to(DOCS) and (full.exists() or full.suffix == ".md"):
        return "page", full.relative_to(DOCS).as_posix()
    if full == ROOT / "README.md":
        return "page", "index.md"
    if full == ROOT / "BENCHMARKS.md":
        return "page", "benchmarks.md"
    if full.is_relative_to(ROOT / "rnnlab") and full.suffix == ".py" and full.exists():
        rel = full.relative_to(ROOT).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        return "page", f"reference/modules/{'.'.join(parts)}.md"
    if full.is_relative_to(ROOT) and full.exists():
        return "text", full.relative_to(ROOT).as_posix()
    return "missing", link


def _fragment(link: str) -> str:
    return "#" + link.split("#", 1)[1] if "#" in link else ""


def _as_text(text: str, path: str) -> str:
    return text if Path(path).name in text else f"{text} (`{path}`)"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    src = page.file.src_uri

    def swap(m: re.Match[str]) -> str:
        bang, text, link = m.groups()
        kind, where = target(src, link)
        if kind == "page":
            rel = posixpath.relpath(where, posixpath.dirname(src) or ".")
            return f"{bang}[{text}]({rel}{_fragment(link)})"
        if kind == "text" and not bang:
            return _as_text(text, where)
        return m.group(0)  # missing: mkdocs reports it

    return MD_LINK.sub(swap, markdown)


def on_page_content(content: str, page: Any, config: Any, files: Any) -> str:
    src = page.file.src_uri
    if not src.endswith(".ipynb"):
        return content

    def swap(m: re.Match[str]) -> str:
        link, rest, text = html.unescape(m[1]), m[2], m[3]
        kind, where = target(src, link)
        if kind == "page":
            if where.endswith(".ipynb") or where.endswith(".md"):
                found = files.get_file_from_path(where)
                if found is None:
                    log.warning(f"{src}: link to {link!r}: {where} is not a page of the site")
                    return m.group(0)
                url = found.url
            else:
                url = where  # an image or file copied as is
            here = page.url if page.url.endswith("/") else posixpath.dirname(page.url)
            rel = posixpath.relpath(url or ".", here or ".")
            if url.endswith("/") and not rel.endswith("/"):
                rel += "/"
            return f'<a href="{html.escape(rel + _fragment(link))}"{rest}>{text}</a>'
        if kind == "text":
            return f"{text} (<code>{html.escape(where)}</code>)"
        log.warning(f"{src}: link to {link!r}, which exists neither in docs/ nor in the "
                    "repository")
        return m.group(0)

    return HTML_LINK.sub(swap, content)
