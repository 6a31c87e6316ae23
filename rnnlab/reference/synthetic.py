"""Synthetic long-range-dependency tasks: the adding problem and the copy-memory task.

Shapes: B batch, T time (the delay the model must bridge), K symbol classes.

Adding problem (Hochreiter & Schmidhuber 1997, exp. 4; the form of Le et al. 2015):
    x_t = (u_t, m_t),  u_t ~ U(0, 1),  m_t = 1 at exactly two steps, one in each half, else 0
    y   = sum_t u_t m_t                                                 (B, 1)
A model that ignores the inputs predicts E[y] = 1 and scores MSE = Var(u_1 + u_2) = 2/12 = 1/6.

Copy memory (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016), ids in {0..K-1}:
    inputs  = s_1..s_n, 0 x (T - 1), DELIM, 0 x n          s_i ~ U{1..K-3}, length T + 2n
    targets = 0 x (T + n), s_1..s_n
0 is the blank and K - 1 the delimiter. A memoryless model outputs blanks and then the uniform
distribution over the K - 2 data symbols: cross-entropy log(K - 2) per recalled symbol.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from rnnlab.errors import RnnlabError

ADDING_BASELINE_MSE = 1.0 / 6.0
COPY_SYMBOLS = 8  # data symbols 1..8; 0 blank, 9 delimiter
COPY_LENGTH = 10


def adding_problem(
    batch_size: int, seq_len: int, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """x (B, T, 2) float32, y (B, 1): the sum of the two marked values."""
    if seq_len < 2:
        raise RnnlabError(f"seq_len must be >= 2 for the two markers, got {seq_len}")
    values = torch.rand(batch_size, seq_len, generator=generator)  # (B, T)
    half = seq_len // 2
    # one marker in each half, so the first one is always at least ~T/2 steps before the end
    first = torch.randint(0, half, (batch_size,), generator=generator)
    second = torch.randint(half, seq_len, (batch_size,), generator=generator)
    markers = torch.zeros(batch_size, seq_len)
    rows = torch.arange(batch_size)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = torch.stack([values, markers], dim=-1)  # (B, T, 2)
    y = (values * markers).sum(dim=1, keepdim=True)  # (B, 1)
    return x, y


def copy_memory(
    batch_size: int,
    delay: int,
    n_symbols: int = COPY_SYMBOLS,
    copy_length: int = COPY_LENGTH,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """inputs, targets (B, delay + 2 * copy_length) int64 ids in {0 .. n_symbols + 1}."""
    if delay < 1:
        raise RnnlabError(f"delay must be >= 1, got {delay}")
    total = delay + 2 * copy_length
    delim = n_symbols + 1
    data = torch.randint(1, n_symbols + 1, (batch_size, copy_length), generator=generator)
    inputs = torch.zeros(batch_size, total, dtype=torch.long)
    inputs[:, :copy_length] = data
    inputs[:, copy_length + delay - 1] = delim  # "now recall", n steps before the end
    targets = torch.zeros(batch_size, total, dtype=torch.long)
    targets[:, -copy_length:] = data
    return inputs, targets


def copy_baseline_ce(n_symbols: int = COPY_SYMBOLS) -> float:
    """Cross-entropy (nats) per recalled symbol of a model without memory: log(n_symbols)."""
    return math.log(n_symbols)
