"""Look at the built site in a real browser: `python docs/site/look.py [--site site] [--out
DIR] [PAGE ...]` serves `site/` on a loopback port, opens each page in headless Chromium
(Debian's package: `apt-get install chromium`), saves a screenshot of it and counts what
rendered in its DOM: images (the figures of a chapter are PNGs inside the page), tables, code
blocks. It exits 1 when a page shows no figure where one was expected (a chapter).
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


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # no line per request
        pass


def serve(site: Path) -> tuple[http.server.ThreadingHTTPServer, int]:
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
    args = ap.parse_args()
    if not (args.site / "index.html").is_file():
        print(f"error: {args.site}/index.html is missing: run `make docs` first", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    server, port = serve(args.site)
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
                print(f"{url}: title {title[1].strip() if title else '?'!r}, {images} images "
                      f"({figures} inline PNG figures), {tables} tables, {code} code blocks "
                      f"-> {png}")
                if page.startswith("guide/") and not figures:
                    print(f"  a chapter without a figure: {page}")
                    bad += 1
    finally:
        server.shutdown()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
