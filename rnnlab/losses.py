"""The one loss convention: targets equal to `IGNORE_INDEX` are padding and never counted.

Shapes: B batch, T time, V vocabulary.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

IGNORE_INDEX = -100


def masked_cross_entropy(logits: Tensor, targets: Tensor, reduction: str = "mean") -> Tensor:
    """Cross-entropy in nats of logits (..., V) against targets (...), skipping IGNORE_INDEX."""
    return F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]),  # (B*T, V)
        targets.reshape(-1),  # (B*T,)
        ignore_index=IGNORE_INDEX,
        reduction=reduction,
    )


def count_targets(targets: Tensor) -> int:
    return int((targets != IGNORE_INDEX).sum().item())


def token_log_probs(logits: Tensor, targets: Tensor) -> Tensor:
    """log p(target) per position (B, T); 0 where the target is padding."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    safe = targets.clamp_min(0)
    out = logp.gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    return out.masked_fill(targets == IGNORE_INDEX, 0.0)
