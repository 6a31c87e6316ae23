"""Evaluation: NLL (nats per token), perplexity, bits per token, over any batch source.

`evaluate` sums the log-loss of every real target (the `<eos>` of each line included, padding
excluded) and divides once at the end, so the figure is per token, not a mean of batch means.
State is carried across stream chunks exactly as in training (`reset` flags).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

from rnnlab.losses import count_targets, masked_cross_entropy
from rnnlab.models.base import LMBatch, State
from rnnlab.models.lm import repackage


def nll_to_metrics(total_nll: float, tokens: int) -> dict[str, float | int]:
    nll = total_nll / max(tokens, 1)
    return {"nll": nll, "ppl": math.exp(min(nll, 700.0)), "bpc": nll / math.log(2),
            "tokens": tokens}


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable[LMBatch]) -> dict[str, float | int]:
    """{"nll", "ppl", "bpc", "tokens"} of `model` on `batches`."""
    was_training = model.training
    model.eval()
    total, tokens = 0.0, 0
    state: State | None = None
    for batch in batches:
        if batch.reset:
            state = None
        out = model(batch, state)
        state = repackage(out.state)
        total += float(masked_cross_entropy(out.logits.float(), batch.targets, "sum"))
        tokens += count_targets(batch.targets)
    model.train(was_training)
    return nll_to_metrics(total, tokens)
