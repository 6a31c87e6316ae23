"""Peak resident memory of word-level training runs: PTB, and a synthetic 100M-token corpus.

Each run is a child process (`rnnlab train`, the PTB small config, a few hundred steps); its
peak RSS is the child's own `ru_maxrss` from `os.wait4`. The training split is tokenized in
a streaming pass into an int32 `train_ids.npy` in the run folder and read through a memory map
(`run.encode_file_to_npy`, `batching.BpttStream`), so memory should follow the model, not the
corpus. The synthetic corpus is PTB's training lines resampled with a fixed seed until it
holds `--tokens` tokens (same 10k vocabulary), written under /tmp, never into the repository.

    python benchmarks/memory.py --tokens 100000000 --steps 200 --write
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PTB = ROOT.parent / "shared" / "data" / "ptb"
SCRATCH = Path(tempfile.gettempdir()) / "rnnlab_memory"


def synthetic_corpus(tokens: int, seed: int = 0) -> Path:
    """PTB training lines drawn with replacement until `tokens` tokens (with `<eos>`)."""
    path = SCRATCH / f"ptb_resampled_{tokens}.txt"
    if path.is_file():
        return path
    SCRATCH.mkdir(parents=True, exist_ok=True)
    lines = (PTB / "ptb.train.txt").read_text().splitlines()
    sizes = [len(line.split()) + 1 for line in lines]
    rng = random.Random(seed)
    n = 0
    tmp = path.with_suffix(".partial")
    with open(tmp, "w") as f:
        while n < tokens:
            idx = rng.choices(range(len(lines)), k=100_000)
            f.write("\n".join(lines[i] for i in idx) + "\n")
            n += sum(sizes[i] for i in idx)
    tmp.rename(path)
    return path


def peak_rss(cmd: list[str], log: Path) -> tuple[float, float, int]:
    """(peak RSS in MiB, wall seconds, exit status) of one child process."""
    t = time.perf_counter()
    with open(log, "w") as out:
        p = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(p.pid, 0)
    return usage.ru_maxrss / 1024, time.perf_counter() - t, os.waitstatus_to_exitcode(status)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=100_000_000, help="synthetic corpus size")
    ap.add_argument("--steps", type=int, default=200, help="training steps per run")
    ap.add_argument("--write", action="store_true", help="write the table into BENCHMARKS.md")
    args = ap.parse_args()
    synth = synthetic_corpus(args.tokens)
    rows = []
    for name, train in (("PTB train", PTB / "ptb.train.txt"), ("synthetic", synth)):
        out = SCRATCH / f"run-{train.stem}-{os.getpid()}"
        cmd = [sys.executable, "-m", "rnnlab", "train", "--config", "configs/ptb_small.toml",
               "--data", str(train), "--max-steps", str(args.steps), "--max-epochs", "1",
               "--eval-every", str(args.steps), "--samples", "0", "--no-progress",
               "--out", str(out)]
        rss, secs, code = peak_rss(cmd, SCRATCH / f"{train.stem}.log")
        if code != 0:
            sys.exit(f"failed ({code}): {' '.join(cmd)}; see {SCRATCH / (train.stem + '.log')}")
        ids = out / "train_ids.npy"
        text_mb = train.stat().st_size / 2**20
        n_ids = len(np.load(ids, mmap_mode="r"))
        rows.append((name, n_ids, text_mb, ids.stat().st_size / 2**20, rss, secs))
        print(rows[-1], flush=True)
        for f in out.iterdir():  # the run folders are scratch: keep /tmp from filling up
            f.unlink()
        out.rmdir()
    md = ["Peak resident memory (`ru_maxrss` of the child) of `rnnlab train --config "
          f"configs/ptb_small.toml --data FILE --max-steps {args.steps}` (2 x 200 LSTM, "
          "4.65M parameters, the config's bf16-head + fused loss): the training split is "
          "tokenized in a "
          "streaming pass into an int32 memory-mapped `train_ids.npy`.", "",
          f"    python benchmarks/memory.py --tokens {args.tokens} --steps {args.steps} --write",
          "", "| training corpus | tokens | text MiB | train_ids.npy MiB | peak RSS MiB | "
          "wall s |", "|---|---:|---:|---:|---:|---:|"]
    for name, n, text_mb, ids_mb, rss, secs in rows:
        md.append(f"| {name} | {n:,} | {text_mb:,.0f} | {ids_mb:,.0f} | {rss:,.0f} | "
                  f"{secs:,.0f} |")
    text = "\n".join(md)
    print(text)
    if args.write:
        write_section("memory", text)


if __name__ == "__main__":
    main()
