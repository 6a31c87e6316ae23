"""`rnnlab gradcheck [--hidden-size H] [--seq-len T] [--vocab V] [--seed S] [--json]`: the
NumPy BPTT reference against autograd and central finite differences on a small Elman RNN
(rnnlab/reference/gradcheck.py). Exit 0 when every error is within its tolerance, else 1.
Imports no torch or numpy at module level: `rnnlab --help` stays fast."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rnnlab.options import Option

# the bounds keep the finite differences (2 forward passes per parameter entry) within a
# second or two
OPTIONS = (
    Option("hidden_size", "hidden units H", int, 4, ge=1, le=16),
    Option("seq_len", "time steps T of the sequence backpropagated through", int, 7, ge=1,
           le=32),
    Option("vocab", "input ids and output classes V", int, 6, ge=2, le=32),
    Option("seed", "seed of the weights and the data", int, 0, ge=0, le=(1 << 32) - 1),
)
EXIT_FAILED = 1


def add_gradcheck_parser(sub: Any) -> None:
    p = sub.add_parser(
        "gradcheck", help="check the NumPy BPTT reference against autograd and finite "
        "differences", description="Runs the hand-derived BPTT of rnnlab/reference/"
        "numpy_bptt.py on a small random Elman RNN (batch 3, float64) and compares each "
        "parameter's gradient with PyTorch autograd through rnnlab's Elman cell and with "
        "central finite differences. Error: max |a - b| / max(max |a|, max |b|). Exit status "
        "0 when all are within tolerance, 1 otherwise.")
    for o in OPTIONS:
        p.add_argument(o.flag, dest=o.name, metavar="N", help=o.describe())
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(command_name="gradcheck")


def cmd_gradcheck(args: argparse.Namespace) -> int:
    values = {}
    for o in OPTIONS:  # checked before any work: a bad value is one error line
        text = getattr(args, o.name)
        values[o.name] = o.default if text is None else o.parse(text)
    from rnnlab.reference.gradcheck import gradcheck

    r = gradcheck(**values)
    if args.json:
        print(json.dumps(r))
    else:
        for line in describe(r):
            print(line)
    return 0 if r["passed"] else EXIT_FAILED


def describe(r: dict[str, Any]) -> list[str]:
    s, tol = r["sizes"], r["tolerance"]
    lines = [f"Elman RNN: batch {s['batch']}, T {s['seq_len']}, V {s['vocab']}, H "
             f"{s['hidden_size']}, seed {s['seed']}; loss {r['loss']:.6f} (autograd "
             f"{r['autograd_loss']:.6f})",
             f"{'param':<6} {'vs autograd':>12} {'vs finite diff':>15}"]
    for name, e in r["errors"].items():
        lines.append(f"{name:<6} {e['autograd']:>12.2e} {e['finite_differences']:>15.2e}")
    lines.append(f"tolerance {tol['autograd']:.0e} (autograd), {tol['finite_differences']:.0e} "
                 f"(finite differences): {'passed' if r['passed'] else 'FAILED'}")
    return lines
