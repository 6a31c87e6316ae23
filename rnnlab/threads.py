"""How many CPU threads a training run uses when `--threads` is not given.

torch's default (one thread per core) stalls on a loaded machine: its threads meet at a
barrier after every matrix product, and when another process holds a core the product waits
for a time slice. A recurrent model makes thousands of small products a second, so the waits
dominate. One thread never waits. A second thread pays only where each product is large
enough that splitting it gains more than the meeting costs, and only on the wall clock:
under `--clock cpu` both threads' seconds count against the budget, and two threads never
do more than twice the work of one. Measurements behind `MIN_GEMM_SIZE` are in
BENCHMARKS.md ("Time budget and threads"): on a loaded 2-core machine a second thread cut the
steps per wall-second of a character LSTM 6.7x (hidden 256), 3.5x (512), 2.9x (1024) and
1.2x (2048); on a quiet one it gained 1.36x on PTB small ("Data-parallel training"), which
stalled to 0.08x under load. A 1.4x gain is not worth a 3-12x loss, so the second thread is
kept for products larger than any measured (none of rnnlab's models reaches the threshold):
`--threads 2` on a machine known to be quiet.
"""

from __future__ import annotations

import os
from typing import Any

# the size (rows x columns x batch rows) of the largest matrix product per step from which a
# second thread is used: twice the largest measured (an LSTM of 2048 at batch 32, 2^29),
# which still lost 1.2x under load
MIN_GEMM_SIZE = 1 << 30


def model_gemm_size(model: Any, batch_size: int) -> int:
    """The size of the model's largest matrix product per time step: its largest matrix
    (weights of two or more dimensions) times the batch rows that pass through it."""
    params = getattr(model, "parameters", None)  # a model of counts may have none
    sizes = [p.numel() for p in params() if p.dim() >= 2] if callable(params) else []
    return max(sizes, default=0) * batch_size


def choose_threads(gemm_size: int, clock: str = "wall", cpus: int | None = None) -> int:
    """1, or 2 for a model whose products pay for a second thread under the wall clock
    (`gemm_size` from `model_gemm_size`) on a machine of two cores or more."""
    cpus = cpus if cpus is not None else (os.cpu_count() or 1)
    if cpus < 2 or clock == "cpu":
        return 1
    return 2 if gemm_size >= MIN_GEMM_SIZE else 1
