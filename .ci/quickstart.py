"""The README's quickstart, as a newcomer runs it: install every dataset of the registry from
a local copy (`rnnlab data get all --from DIR`, every sha256 checked; default ../shared/data),
run each command of the README's quickstart block at a smoke budget (`--max-time` cut to a
few CPU seconds, a run folder of its own), check every file in configs/ with `--dry-run` (so
the configs themselves, naming their datasets, are exercised), and `rnnlab data verify`.

    python .ci/quickstart.py [--from DIR] [--seconds S]

Exits non-zero on the first command that fails; prints each command and its time.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def quickstart_commands(readme: Path) -> list[list[str]]:
    text = readme.read_text()
    block = re.search(r"<!-- quickstart:start -->(.*?)<!-- quickstart:end -->", text, re.S)
    if block is None:
        raise SystemExit("README.md has no quickstart block")
    return [shlex.split(line) for line in block.group(1).splitlines()
            if line.startswith("rnnlab ")]


def smoke(argv: list[str], seconds: float, out: Path) -> list[str]:
    """The command with its budget cut to `seconds` and a run folder in `out`."""
    argv = list(argv)
    if "--max-time" in argv:
        argv[argv.index("--max-time") + 1] = str(seconds)
    return [*argv, "--out", str(out), "--no-progress"]


def run(argv: list[str], env: dict[str, str]) -> None:
    exe = [sys.executable, "-m", "rnnlab", *argv[1:]] if argv[0] == "rnnlab" else argv
    print("$ " + shlex.join(argv), flush=True)
    t = time.time()
    r = subprocess.run(exe, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    print(f"  exit {r.returncode} in {time.time() - t:.0f} s", flush=True)
    if r.returncode != 0:
        raise SystemExit(f"failed: {shlex.join(argv)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from", dest="source", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--seconds", type=float, default=8.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="rnnlab-quickstart-") as tmp:
        env = {**os.environ, "RNNLAB_DATA": str(Path(tmp) / "data")}
        run(["rnnlab", "data", "get", "all", "--from", args.source], env)
        for i, argv in enumerate(quickstart_commands(ROOT / "README.md")):
            run(smoke(argv, args.seconds, Path(tmp) / "runs" / str(i)), env)
        for config in sorted((ROOT / "configs").glob("*.toml")):
            if 'data = "' in config.read_text():  # the configs that name their data
                run(["rnnlab", "train", "--config", str(config.relative_to(ROOT)),
                     "--dry-run"], env)
        run(["rnnlab", "data", "verify"], env)
    print("quickstart: every command ran")


if __name__ == "__main__":
    main()
