"""Look at the built site in a real browser: `python docs/site/look.py [--site site] [--out
DIR] [PAGE ...]` serves `site/` on a loopback port, opens each page in headless Chromium
(Debian's package: `apt-get install chromium`), saves a screenshot of it and counts what
rendered in its DOM: images (the figures of a chapter are PNGs inside the page), tables, code
blocks, typeset equations. It exits 1 when a page shows no figure where one was expected (a
chapter). The site loads MathJax from a CDN; on a machine offline, `--mathjax DIR` serves a
local copy in its place (`npm pack mathjax@3`, unpacked: DIR is its `package/es5`).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

PAGES = ["", "guide/06_vanishing_gradients/"]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    sys.exit("error: no Chromium found: apt-get install chromium")


MATHJAX_CDN = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/"


class Quiet(http.server.SimpleHTTPRequestHandler):
    mathjax: Path | None = None  # a local MathJax (es5 folder) served at /_mathjax/

    def log_message(self, format: str, *args: object) -> None:  # no line per request
        pass

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if self.mathjax and path.startswith("/_mathjax/"):
            return self._send(self.mathjax / path.removeprefix("/_mathjax/"))
        if self.mathjax and (path.endswith("/") or path.endswith(".html")):
            return self._send(Path(self.translate_path(path)), html=True)
        return super().do_GET()

    def _send(self, file: Path, html: bool = False) -> None:
        if file.is_dir():
            file = file / "index.html"
        if not file.is_file():
            return self.send_error(404)
        body = file.read_bytes()
        if html:
            body = body.replace(MATHJAX_CDN.encode(), b"/_mathjax/")
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(file)))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve(site: Path, mathjax: Path | None) -> tuple[http.server.ThreadingHTTPServer, int]:
    Quiet.mathjax = mathjax
    handler = functools.partial(Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def browse(url: str, png: Path, profile: str) -> str:
    """Screenshot of `url` into `png`; returns the DOM after scripts ran."""
    base = [chromium(), *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=5000"]
    subprocess.run([*base, "--window-size=1280,2400", f"--screenshot={png}", url],
                   check=True, capture_output=True, timeout=120)
    return subprocess.run([*base, "--dump-dom", url], check=True, capture_output=True,
                          text=True, timeout=120).stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pages", nargs="*", default=PAGES, help="paths under the site's root")
    ap.add_argument("--site", default="site", type=Path)
    ap.add_argument("--out", default="runs/site-look", type=Path)
    ap.add_argument("--mathjax", type=Path, help="a local MathJax es5 folder for the CDN's")
    args = ap.parse_args()
    if args.mathjax and not (args.mathjax / "tex-mml-chtml.js").is_file():
        print(f"error: --mathjax {args.mathjax}: no tex-mml-chtml.js there; expected the "
              "es5 folder of MathJax 3 (npm pack mathjax@3, then tar xzf)", file=sys.stderr)
        return 2
    if not (args.site / "index.html").is_file():
        print(f"error: {args.site}/index.html is missing: run `make docs` first", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    server, port = serve(args.site, args.mathjax)
    bad = 0
    try:
        with tempfile.TemporaryDirectory() as profile:
            for page in args.pages:
                url = f"http://127.0.0.1:{port}/{page}"
                png = args.out / ((page.strip("/").replace("/", "_") or "home") + ".png")
                dom = browse(url, png, profile)
                title = re.search(r"<title>(.*?)</title>", dom, re.S)
                figures = len(re.findall(r'<img[^>]+src="data:image/png', dom))
                images = len(re.findall(r"<img\b", dom))
                tables = len(re.findall(r"<table\b", dom))
                code = len(re.findall(r"<pre\b", dom))
                math = len(re.findall(r"<mjx-container\b", dom))
                print(f"{url}: title {title[1].strip() if title else '?'!r}, {images} images "
                      f"({figures} inline PNG figures), {tables} tables, {code} code blocks, "
                      f"{math} typeset equations -> {png}")
                if page.startswith("guide/") and not figures:
                    print(f"  a chapter without a figure: {page}")
                    bad += 1
    finally:
        server.shutdown()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
