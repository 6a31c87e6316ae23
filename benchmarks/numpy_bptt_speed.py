"""Speed of one forward + backward pass: the NumPy BPTT reference against torch.

Shapes: B batch, T time (one BPTT chunk), K vocabulary (one-hot inputs, softmax outputs),
H hidden.

The same character-LM step everywhere: inputs (B, T) ids, a_t = W h_{t-1} + U x_t + b,
o_t = V h_t + c, cross-entropy summed over B and T, gradients of every weight.
  numpy       `rnnlab.reference.numpy_bptt.forward` + `backward` (ids select columns of U)
  nn.RNN      torch.nn.RNN (fused C++ loop) on one-hot float inputs + nn.Linear head
  rnnlab loop `Recurrent("rnn", impl="loop")` (one Python step per t) + nn.Linear head
All in float32, same process; repetitions interleave the implementations so drifting load
from other processes hits each alike; the median of the repetitions is reported.

    python benchmarks/numpy_bptt_speed.py --threads 1 [--write]
"""

from __future__ import annotations

import argparse
import os
import sys


def _threads_from_argv(argv: list[str]) -> str:
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return "1"


# BLAS reads its thread count when it loads, so set it before numpy and torch are imported
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = _threads_from_argv(sys.argv)

import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from rnnlab.models.recurrent import Recurrent  # noqa: E402
from rnnlab.reference import numpy_bptt as nb  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def make_step_fns(B: int, T: int, K: int, H: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, K, (B, T))
    targets = rng.integers(0, K, (B, T))
    params = nb.init_params(K, H, K, seed=seed, dtype=np.float32)

    def numpy_step() -> None:
        cache = nb.forward(params, ids, None)
        nb.backward(params, cache, targets)

    x = F.one_hot(torch.from_numpy(ids), K).float()  # (B, T, K)
    y = torch.from_numpy(targets).reshape(-1)  # (B*T,)
    fused, loop = nn.RNN(K, H, batch_first=True), Recurrent("rnn", K, H, impl="loop")
    heads = nn.Linear(H, K), nn.Linear(H, K)

    def torch_step(rnn: nn.Module, head: nn.Module) -> None:
        out, _ = rnn(x)
        loss = F.cross_entropy(head(out).reshape(-1, K), y, reduction="sum")
        for p in (*rnn.parameters(), *head.parameters()):
            p.grad = None
        loss.backward()

    return {
        "numpy": numpy_step,
        "nn.RNN": lambda: torch_step(fused, heads[0]),
        "rnnlab loop": lambda: torch_step(loop, heads[1]),
    }


def measure(fns: dict, reps: int, inner: int) -> dict[str, float]:
    """Median over `reps` interleaved repetitions of the mean time of `inner` calls (ms)."""
    for fn in fns.values():  # warm-up: allocator, lazy init
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            times[name].append((time.perf_counter() - t0) / inner * 1e3)
    return {name: statistics.median(v) for name, v in times.items()}


def table(rows: list[tuple[int, dict[str, float]]], args: argparse.Namespace) -> str:
    out = ("| batch | NumPy ms | nn.RNN ms | rnnlab loop ms | nn.RNN / NumPy | "
           "rnnlab loop / NumPy |\n|---:|---:|---:|---:|---:|---:|\n")
    for B, t in rows:
        out += (f"| {B} | {t['numpy']:.2f} | {t['nn.RNN']:.2f} | {t['rnnlab loop']:.2f} | "
                f"{t['nn.RNN'] / t['numpy']:.2f} | {t['rnnlab loop'] / t['numpy']:.2f} |\n")
    out += (f"\nOne forward + backward of a character-LM chunk: T={args.seq_len}, vocabulary "
            f"K={args.vocab}, hidden H={args.hidden}, float32, {args.threads} thread(s), median "
            f"of {args.reps} interleaved repetitions of {args.inner} calls. A ratio above 1 "
            "means NumPy is faster. torch " + torch.__version__ + ", NumPy " + np.__version__
            + ".\n")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch-sizes", default="1,32")
    p.add_argument("--seq-len", type=int, default=32)
    p.add_argument("--vocab", type=int, default=65)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--reps", type=int, default=15)
    p.add_argument("--inner", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--write", action="store_true", help="fill the numpy_bptt section of "
                   "BENCHMARKS.md")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for B in (int(v) for v in args.batch_sizes.split(",")):
        rows.append((B, measure(make_step_fns(B, args.seq_len, args.vocab, args.hidden),
                                args.reps, args.inner)))
    md = table(rows, args)
    print(md)
    if args.write:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from report import write_section

        write_section("numpy_bptt", md, "NumPy BPTT speed against torch")


if __name__ == "__main__":
    main()
