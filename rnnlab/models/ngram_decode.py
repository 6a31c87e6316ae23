"""Most likely continuations of an n-gram model: Viterbi over the states of the order-(N-1)
chain, and beam search (both checked against brute-force enumeration in the tests).

Shapes: K live states or beams, V vocabulary, N order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from rnnlab.errors import expect
from rnnlab.tokenizers import BOS_ID

if TYPE_CHECKING:
    from rnnlab.models.ngram import NGramLM


def _state_ids(model: NGramLM, ctx: np.ndarray) -> np.ndarray:
    """A key per context (K, N-1) naming its longest stored suffix: contexts with equal keys
    have equal next-token distributions."""
    offset, key = 0, np.zeros(len(ctx), dtype=np.int64)
    for m, idx in enumerate(model._walk(ctx), start=1):
        key = np.where(idx >= 0, offset + idx, key)
        offset += len(model.tables()[m - 1][0])
    return key


def viterbi(model: NGramLM, context: list[int], length: int) -> tuple[list[int], float]:
    """Max-product DP over the chain's states; see NGramLM.most_likely_continuation."""
    N = model.order
    start = model._contexts(np.array([[BOS_ID] * N + context], dtype=np.int64))  # (1, N-1)
    ctx, score, back = start, np.zeros(1), []
    for _ in range(length):
        total = score[:, None] + model._dist(ctx)  # (K, V)
        k_idx, w = np.nonzero(np.isfinite(total))
        nxt = model._contexts(np.concatenate([ctx[k_idx], w[:, None]], axis=1))
        cand = total[k_idx, w]
        # Keep the best path into each distinct state (max over predecessors).
        state = _state_ids(model, nxt)
        order = np.lexsort((-cand, state))
        keep = order[np.r_[True, state[order][1:] != state[order][:-1]]]
        back.append((k_idx[keep], w[keep]))
        ctx, score = nxt[keep], cand[keep]
    if length == 0:
        return [], 0.0
    best = int(np.argmax(score))
    tokens = []
    for k_idx, w in reversed(back):
        tokens.append(int(w[best]))
        best = int(k_idx[best])
    return tokens[::-1], float(score.max())


def beam_search(
    model: NGramLM, context: list[int], length: int, num_beams: int
) -> tuple[list[int], float]:
    """Keep the `num_beams` best prefixes at every step; exact when num_beams >= V'^(L-1)."""
    expect(num_beams >= 1, f"num_beams must be >= 1, got {num_beams}")
    hist = np.array([[BOS_ID] * model.order + context], dtype=np.int64)  # (K, t)
    score = np.zeros(1)
    for _ in range(length):
        total = score[:, None] + model._dist(model._contexts(hist))  # (K, V)
        flat = np.argsort(-total, axis=None, kind="stable")[:num_beams]
        flat = flat[np.isfinite(total.reshape(-1)[flat])]
        k_idx, w = np.divmod(flat, model.vocab_size)
        hist = np.concatenate([hist[k_idx], w[:, None]], axis=1)
        score = total[k_idx, w]
    return hist[0, hist.shape[1] - length :].tolist(), float(score[0])
