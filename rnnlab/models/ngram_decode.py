"""Most likely continuations of an n-gram model: Viterbi over the states of the order-(N-1)
chain, and beam search (both checked against brute-force enumeration in the tests).

Shapes: K live states or beams, V vocabulary, N order, k states per chunk.

Both read the model through its public methods only (`BackoffModel`), so this module imports
nothing from `ngram.py` and `NGramLM` can call it. Memory: the (K, V) scores of a step are
built k = `models.lm.LOGIT_BUDGET` // ((N + 3) V) states at a time (each candidate (state,
word) holds about N + 3 int64/float64 values while it is reduced), and only the best path into
each state is kept, so a step holds O(LOGIT_BUDGET + K N) values at any vocabulary.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from rnnlab.data.tokenizers import BOS_ID
from rnnlab.errors import RnnlabError, expect
from rnnlab.models import lm

# Viterbi's work per step is (live states K) x V scores; past this the exact search would take
# minutes (a word 3-gram at V 6.5k reached it within a few tokens), so it stops with advice
MAX_STEP_SCORES = 1 << 27


class BackoffModel(Protocol):
    order: int
    vocab_size: int

    def contexts(self, history: np.ndarray) -> np.ndarray: ...

    def log_prob(self, context: np.ndarray, targets: np.ndarray | None = None) -> np.ndarray: ...

    def state_ids(self, context: np.ndarray) -> np.ndarray: ...


def _chunk_rows(model: BackoffModel, budget: int | None) -> int:
    return max(1, (budget or lm.LOGIT_BUDGET) // ((model.order + 3) * model.vocab_size))


def viterbi(
    model: BackoffModel, context: list[int], length: int, budget: int | None = None
) -> tuple[list[int], float]:
    """Viterbi: the `length` tokens maximizing log p given `context` (after <bos>).

    delta_t(s) = max_{s'} delta_{t-1}(s') + log p(w | s'), over the states s of the
    order-(N-1) chain. Two histories whose longest stored suffix is the same have the same
    next-token distribution, so each is reduced to that suffix and the number of states
    stays bounded by the model's contexts rather than V^(N-1).
    Exact pruning: log-probs are <= 0, so every prefix of the best path scores at least as
    much as the whole path, hence at least a lower bound taken from a narrow beam search;
    candidates below it are dropped before their states are looked up. At a large V this
    leaves a few states per step instead of K V candidates.
    Returns (tokens, natural log-probability)."""
    N = model.order
    if length == 0:
        return [], 0.0
    bound = beam_search(model, context, length, 4, budget)[1]
    bound -= 1e-9 * (1.0 + abs(bound))  # the beam's own path must survive rounding
    ctx = model.contexts(np.array([[BOS_ID] * N + context], dtype=np.int64))  # (1, N-1)
    score, back = np.zeros(1), []
    rows = _chunk_rows(model, budget)
    for t in range(length):
        if len(ctx) * model.vocab_size > MAX_STEP_SCORES:
            raise RnnlabError(
                f"the exact most likely continuation grew to {len(ctx):,} live states x "
                f"{model.vocab_size:,} words at token {t + 1} of {length}; ask for fewer "
                "tokens (--max-new-tokens) or use --strategy beam_search")
        # running best per state: (state id, score, predecessor, word, context)
        best: tuple[np.ndarray, ...] = (
                np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64),
                np.zeros(0, np.int64), np.zeros((0, N - 1), np.int64))
        for s in range(0, len(ctx), rows):
            total = score[s : s + rows, None] + model.log_prob(ctx[s : s + rows])  # (k, V)
            k_idx, w = np.nonzero(total >= bound)
            if not len(k_idx):
                continue
            cand = total[k_idx, w]
            k_idx = k_idx + s
            nxt = model.contexts(np.concatenate([ctx[k_idx], w[:, None]], axis=1))
            state = np.concatenate([best[0], model.state_ids(nxt)])
            cand = np.concatenate([best[1], cand])
            k_idx, w = np.concatenate([best[2], k_idx]), np.concatenate([best[3], w])
            nxt = np.concatenate([best[4], nxt])
            # Keep the best path into each distinct state; lexsort is stable, so ties go to
            # the earlier predecessor, as one pass over all states would.
            order = np.lexsort((-cand, state))
            keep = order[np.r_[True, state[order][1:] != state[order][:-1]]]
            keep.sort()  # back in candidate order: the tie rule holds across chunks
            best = (state[keep], cand[keep], k_idx[keep], w[keep], nxt[keep])
        by_state = np.argsort(best[0])  # states in id order, as the unchunked reduction gives
        best = tuple(b[by_state] for b in best)
        back.append((best[2], best[3]))
        ctx, score = best[4], best[1]
    best_i = int(np.argmax(score))
    tokens = []
    for k_idx, w in reversed(back):
        tokens.append(int(w[best_i]))
        best_i = int(k_idx[best_i])
    return tokens[::-1], float(score.max())


def beam_search(
    model: BackoffModel, context: list[int], length: int, num_beams: int,
    budget: int | None = None,
) -> tuple[list[int], float]:
    """Keep the `num_beams` best prefixes at every step; exact when num_beams >= V'^(L-1).
    Ties go to the lower (beam, token) index."""
    expect(num_beams >= 1, f"num_beams must be >= 1, got {num_beams}")
    V = model.vocab_size
    hist = np.array([[BOS_ID] * model.order + context], dtype=np.int64)  # (K, t)
    score = np.zeros(1)
    rows = _chunk_rows(model, budget)
    for _ in range(length):
        flat_all, cand_all = [], []
        for s in range(0, len(hist), rows):
            total = score[s : s + rows, None] + model.log_prob(hist[s : s + rows])  # (k, V)
            flat = np.argsort(-total, axis=None, kind="stable")[:num_beams]
            flat = flat[np.isfinite(total.reshape(-1)[flat])]
            flat_all.append(flat + s * V)
            cand_all.append(total.reshape(-1)[flat])
        flat, cand = np.concatenate(flat_all), np.concatenate(cand_all)
        pick = np.lexsort((flat, -cand))[:num_beams]
        k_idx, w = np.divmod(flat[pick], V)
        hist = np.concatenate([hist[k_idx], w[:, None]], axis=1)
        score = cand[pick]
    return hist[0, hist.shape[1] - length :].tolist(), float(score[0])
