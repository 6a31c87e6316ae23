"""Training steps per wall-second and per CPU-second of recurrent LMs with 1 and 2 torch
threads: the figures behind rnnlab/threads.py (MIN_GEMM_SIZE).

    python benchmarks/threads.py [--seconds 8] [--hidden 256 512 1024] [--json OUT]

Each model trains (AdamW, fp32, batch 32 x 64 characters, vocabulary 60) for `--seconds`
wall seconds per thread count after 5 warm-up steps. Run it on a quiet machine and again with
one CPU-bound process beside it (`python -c "while True: pass" &`) to see the stall.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from rnnlab.config import TrainConfig
from rnnlab.models.base import LMBatch
from rnnlab.models.lm import RecurrentLM
from rnnlab.threads import model_gemm_size
from rnnlab.trainer import make_loss_fn, make_optimizer


def measure(hidden: int, threads: int, seconds: float, batch: int = 32, seq: int = 64,
            vocab: int = 60, cell: str = "lstm") -> dict[str, float]:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = RecurrentLM(vocab, cell, 64, hidden)
    cfg = TrainConfig(batch_size=batch)
    opt, loss_fn = make_optimizer(model, cfg), make_loss_fn(model, cfg)
    x = torch.randint(1, vocab, (batch, seq + 1))
    b = LMBatch(x[:, :-1], x[:, 1:], None)

    def step() -> None:
        loss, _ = loss_fn(b, None)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(5):
        step()
    n, w0, c0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - w0 < seconds:
        step()
        n += 1
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return {"hidden": hidden, "threads": threads, "gemm_size": model_gemm_size(model, batch),
            "steps": n, "steps_per_wall_s": n / wall, "steps_per_cpu_s": n / cpu}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--hidden", type=int, nargs="+", default=[256, 512, 1024])
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    rows = []
    for h in args.hidden:
        for t in (1, 2):
            r = measure(h, t, args.seconds)
            rows.append(r)
            print(f"hidden {h:5d}  threads {t}  gemm size {r['gemm_size']:>11,}  "
                  f"steps/wall-s {r['steps_per_wall_s']:7.2f}  "
                  f"steps/CPU-s {r['steps_per_cpu_s']:7.2f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
