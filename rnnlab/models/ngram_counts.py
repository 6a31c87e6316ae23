"""Counting, smoothing and table lookups for `NGramLM`: n-gram keys packed into a trie of int64
keys, counted with one sort per order, turned into ARPA-form backoff tables, and looked up.

Shapes: P positions (of the padded stream, or scored positions), N order, V vocabulary,
K stored n-grams of an order.

A backoff table of order n is (keys (M_n,) sorted int64, natural-log p (M_n,), natural-log
bow (M_n,)); `tables` is the list of them for n = 1..N. This module imports nothing else of
rnnlab's models, so both `ngram.py` (the model) and `arpa.py` (files) build on it.

Smoothing: maximum likelihood, add-k, interpolated Kneser-Ney (Kneser & Ney 1995) and
interpolated modified Kneser-Ney (Chen & Goodman 1998) with discounts from counts-of-counts
per order, as KenLM's lmplz estimates them.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from itertools import chain
from typing import cast

import numpy as np

from rnnlab.data.tokenizers import BOS_ID, EOS_ID, PAD_ID
from rnnlab.errors import RnnlabError

Table = tuple[np.ndarray, np.ndarray, np.ndarray]  # keys, log probs, log backoffs of an order

# lmplz --discount_fallback defaults, used when counts-of-counts cannot give valid discounts.
FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)

# ---------------------------------------------------------------------- counting
def lookup(keys: np.ndarray, parent: np.ndarray, last: np.ndarray, V: int) -> np.ndarray:
    """Index of the n-gram (parent, last) in sorted `keys`, -1 if absent or parent is -1."""
    query = parent * V + last
    at = np.searchsorted(keys, query)
    at_c = np.minimum(at, len(keys) - 1) if len(keys) else at
    ok = (parent >= 0) & (at < len(keys))
    if len(keys):
        ok &= keys[at_c] == query
    return np.where(ok, at_c, -1)


def context_indices(tables: list[Table], ctx: np.ndarray, V: int) -> list[np.ndarray]:
    """ctx (P, w) -> for m = 1..w the index of the suffix h_{-m:} in table m, -1 if absent."""
    width = ctx.shape[1]
    found = []
    for m in range(1, width + 1):
        idx = ctx[:, width - m].copy()
        for j in range(1, m):
            idx = lookup(tables[j][0], idx, ctx[:, width - m + j], V)
        found.append(idx)
    return found


def backoff_log_probs(tables: list[Table], ctx: np.ndarray, targets: np.ndarray, V: int
                      ) -> np.ndarray:
    """Natural log p(target | ctx) (P,) for ctx (P, w <= N-1): O(P N) memory, no V-wide rows.

    The longest stored n-gram (h_{-(n-1):} target) gives log P_n; every stored context longer
    than n-1 adds its log backoff."""
    ctx_idx = context_indices(tables, ctx, V)
    best = tables[0][1][targets]  # (P,) unigram log-probs (a copy: fancy indexing)
    best_n = np.ones(len(targets), dtype=np.int64)
    for n in range(2, ctx.shape[1] + 2):
        hit = lookup(tables[n - 1][0], ctx_idx[n - 2], targets, V)
        ok = hit >= 0
        best[ok] = tables[n - 1][1][hit[ok]]
        best_n[ok] = n
    for m, idx in enumerate(ctx_idx, start=1):
        use = (idx >= 0) & (best_n <= m)
        best[use] += tables[m - 1][2][idx[use]]
    return best


def backoff_distributions(tables: list[Table], ctx: np.ndarray, V: int) -> np.ndarray:
    """Full natural-log distributions (P, V) float64 for contexts ctx (P, w <= N-1).

    8 P V bytes: callers bound P (see `NGramLM.forward`, `ngram_decode`)."""
    ctx_idx = context_indices(tables, ctx, V)
    bows = [np.where(i >= 0, tables[m][2][np.maximum(i, 0)], 0.0) for m, i in enumerate(ctx_idx)]
    # tail[n-1] = sum_{m >= n} log bow(h_{-m:}): what a word predicted at order n still pays,
    # so one broadcast add replaces an add over (P, V) per order.
    tail = np.cumsum(np.stack([*bows, np.zeros(len(ctx))])[::-1], axis=0)[::-1]  # (w+1, P)
    out = tables[0][1][None, :] + tail[0][:, None]  # (P, V)
    for n in range(2, ctx.shape[1] + 2):
        idx, (keys, logp, _) = ctx_idx[n - 2], tables[n - 1]
        seen = idx >= 0
        # All stored n-grams with context idx form one run of the sorted keys.
        lo = np.searchsorted(keys, np.where(seen, idx, -1) * V)
        hi = np.searchsorted(keys, np.where(seen, idx + 1, 0) * V)
        lengths = np.maximum(hi - lo, 0)
        rows = np.repeat(np.arange(len(ctx)), lengths)
        starts = np.repeat(lo - np.cumsum(lengths) + lengths, lengths)
        entry = np.arange(len(rows)) + starts
        out[rows, keys[entry] % V] = logp[entry] + tail[n - 1][rows]
    return out


def ngram_windows(stream: np.ndarray, width: int) -> np.ndarray:
    """Sliding windows along the last axis: (..., L) -> (..., L - width + 1, width)."""
    return np.lib.stride_tricks.sliding_window_view(stream, width, axis=-1)


def pad_stream(
    sequences: Sequence[Sequence[int]], V: int, order: int, check: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """One stream of all sentences, each as [<s>]*(N-1) + words + [</s>], and the
    position of every token inside its sentence (the padding is at 0..N-2)."""
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    if sequences and all(isinstance(s, np.ndarray) for s in sequences):
        # views of one id stream (a text's sentences): one copy, not one Python int per id
        words = np.concatenate([np.zeros(0, np.int64), *sequences]).astype(np.int64, copy=False)
    else:
        words = np.fromiter(chain.from_iterable(sequences), dtype=np.int64,
                            count=int(lengths.sum()))
    if check and len(words):
        bad = (words < 0) | (words >= V) | (words == PAD_ID) | (words == BOS_ID)
        bad |= words == EOS_ID
        if bad.any():
            raise RnnlabError(
                f"n-gram training ids must be words in [0, {V}) other than <pad>, <bos>, "
                f"<eos>; got {int(words[bad][0])}. Pass sentences without special tokens; "
                "the model adds <s> and </s> itself"
            )
    sizes = lengths + order  # N-1 <s>, the words, one </s>
    total = int(sizes.sum())
    starts = np.cumsum(sizes) - sizes
    pos = np.arange(total, dtype=np.int64) - np.repeat(starts, sizes)
    stream = np.full(total, BOS_ID, dtype=np.int64)
    is_word = pos >= order - 1
    stream[np.flatnonzero(is_word)] = EOS_ID
    word_at = np.flatnonzero(is_word & (pos < np.repeat(sizes - 1, sizes)))
    stream[word_at] = words
    return stream, pos


class Counts:
    """Per-order n-gram tables from counting: sorted trie keys and statistics."""

    def __init__(self) -> None:
        self.keys: list[np.ndarray] = []  # (M_n,) sorted: prefix index * V + last token
        self.raw: list[np.ndarray] = []  # (M_n,) occurrences as a prediction
        self.left: list[np.ndarray] = []  # (M_n,) distinct left extensions (KN only)
        self.bos_first: list[np.ndarray] = []  # (M_n,) n-gram starts with <s>
        self.suffix: list[np.ndarray] = []  # (M_n,) index of the last n-1 tokens in table n-1
        self.last: list[int] = []  # per order n < N: lmplz's last n-gram (`lmplz_last`), or -1


def unique_keys(key: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """np.unique(key, return_index, return_inverse) with an unstable sort: any occurrence will
    do as the representative, and quicksort is ~2x faster than the stable sort np.unique uses."""
    perm = np.argsort(key)
    ordered = key[perm]
    new = np.empty(len(key), dtype=bool)
    new[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    inv = np.empty(len(key), dtype=np.int64)
    inv[perm] = np.cumsum(new) - 1
    return ordered[new], perm[new], inv


def count_ngrams(stream: np.ndarray, pos: np.ndarray, V: int, N: int, kn: bool) -> Counts:
    """Vectorized counting: each order is one np.unique over the packed keys of its windows."""
    c = Counts()
    predicted = pos >= N - 1  # <s> is context only, never a prediction
    c.keys.append(np.arange(V, dtype=np.int64))
    c.raw.append(np.bincount(stream[predicted], minlength=V).astype(np.float64))
    c.bos_first.append(np.arange(V) == BOS_ID)
    c.suffix.append(np.zeros(V, dtype=np.int64))
    idx_prev = stream  # index of the (n-1)-gram ending at each position
    for n in range(2, N + 1):
        if kn:
            # KenLM drops n-grams with <s> after their first token: a window may start at
            # the last <s> of the padding at the earliest.
            t = np.flatnonzero(predicted & (pos - n + 1 >= N - 2))
        else:
            t = np.flatnonzero(pos >= n - 1)
        key = idx_prev[t - 1] * V + stream[t]
        uniq, first, inv = unique_keys(key)
        c.keys.append(uniq)
        c.raw.append(np.bincount(inv, weights=predicted[t], minlength=len(uniq)))
        c.bos_first.append(stream[t[first] - n + 1] == BOS_ID)
        c.suffix.append(idx_prev[t[first]])  # the window of length n-1 ending at t
        idx_prev = np.full(len(stream), -1, dtype=np.int64)
        idx_prev[t] = inv
    if kn:
        for n in range(1, N):
            c.left.append(np.bincount(c.suffix[n], minlength=len(c.keys[n - 1])).astype(float))
        c.left.append(c.raw[N - 1])
        c.last = lmplz_last(c, stream, V)
    return c


def lmplz_last(c: Counts, stream: np.ndarray, V: int) -> list[int]:
    """Index of the n-gram that lmplz (KenLM 0.3.0) visits last at each order n < N, -1 if
    none. lmplz's `AdjustCounts` adds these few n-grams to the counts-of-counts with their
    raw count instead of their adjusted count (its final loop reads `actual_counts`), which
    moves the discounts of an order when the two fall in different classes (1, 2, 3+): on a
    character text, whose last new character is often rare, the unigram discounts.

    lmplz visits n-grams in suffix order of its word ids: <unk> 0, <s> 1, </s> 2, then the
    words in order of first appearance. Its last n-gram of order n is the suffix of its last
    full n-gram: the word with the highest id, then, order by order, the extension to the
    left by the highest id; an extension by <s> ends the chain (such n-grams keep raw counts
    anyway)."""
    N = len(c.keys)
    words = stream[stream > EOS_ID]
    seen, first = np.unique(words, return_index=True)
    kid = np.zeros(V, dtype=np.int64)  # <pad> and <unk> sort first, <s> 1, </s> 2
    kid[BOS_ID], kid[EOS_ID] = 1, 2
    kid[seen[np.argsort(first)]] = 3 + np.arange(len(seen))
    last = [-1] * (N - 1)
    if N < 2:
        return last
    present = np.flatnonzero(c.raw[0] > 0)
    if not len(present):
        return last
    row = int(present[np.argmax(kid[present])])
    for n in range(1, N):
        last[n - 1] = row
        if n == N - 1 or c.bos_first[n - 1][row]:
            break
        ext = np.flatnonzero(c.suffix[n] == row)  # (n+1)-grams whose last n tokens are row
        if not len(ext):
            break
        head = ext.copy()  # the first token of each extension
        for m in range(n + 1, 1, -1):
            head = c.keys[m - 1][head] // V
        row = int(ext[np.argmax(kid[head])])
    return last


# --------------------------------------------------------------------- smoothing
def predictable(V: int) -> np.ndarray:
    mask = np.ones(V, dtype=bool)
    mask[[PAD_ID, BOS_ID]] = False
    return mask


def discounts_of(adjusted: np.ndarray, modified: bool, order: int) -> np.ndarray:
    """D_0..D_3 from counts-of-counts n_1..n_4 of the adjusted counts (C&G 1998 eq. 26)."""
    n = np.bincount(np.minimum(adjusted[adjusted > 0].astype(np.int64), 5), minlength=6)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = n[1] / (n[1] + 2.0 * n[2])
        if modified:
            d = np.array([0.0] + [j - (j + 1) * y * n[j + 1] / n[j] for j in (1, 2, 3)])
        else:
            d = np.array([0.0, y, y, y])
    if not (np.all(np.isfinite(d)) and np.all((d[1:] >= 0) & (d[1:] <= [1, 2, 3]))):
        warnings.warn(
            f"{order}-gram counts-of-counts {n[1:5].tolist()} give no valid Kneser-Ney "
            "discounts (too few n-grams seen 1 to 4 times: small data, or the unigrams of a "
            f"character model, each seen often); using lmplz's fallback {FALLBACK_DISCOUNTS}",
            stacklevel=3,
        )
        d = np.array([0.0, *FALLBACK_DISCOUNTS]) if modified else np.array([0.0, *[0.5] * 3])
    return d


def kneser_ney(c: Counts, V: int, modified: bool) -> tuple[list[Table], np.ndarray]:
    """Interpolated (modified) Kneser-Ney as lmplz: returns backoff tables and discounts."""
    N = len(c.keys)
    tables: list[Table] = []
    discounts = np.zeros((N, 4))
    prob_lower: np.ndarray | None = None
    for n in range(1, N + 1):
        keys = c.keys[n - 1]
        # The highest order and n-grams starting with <s> have no left extensions to count.
        a = np.where(c.bos_first[n - 1] | (n == N), c.raw[n - 1], c.left[n - 1])
        if n == 1:
            a[[PAD_ID, BOS_ID]] = 0.0
        stats = a
        if n < N and c.last and c.last[n - 1] >= 0:  # lmplz's counts-of-counts, see lmplz_last
            stats = a.copy()
            stats[c.last[n - 1]] = c.raw[n - 1][c.last[n - 1]]
        d = discounts[n - 1] = discounts_of(stats, modified, n)
        parent = keys // V if n > 1 else np.zeros(len(keys), dtype=np.int64)
        n_parents = len(c.keys[n - 2]) if n > 1 else 1
        denom = np.bincount(parent, weights=a, minlength=n_parents)  # sum_x a(h x)
        bucket = np.minimum(a, 3).astype(np.int64)  # 0 marks an unseen unigram
        mass = np.bincount(parent, weights=d[bucket] * (a > 0), minlength=n_parents)
        with np.errstate(divide="ignore", invalid="ignore"):
            gamma = np.where(denom > 0, mass / denom, 1.0)  # (n_parents,)
            u = np.where(a > 0, (a - d[bucket]) / denom[parent], 0.0)
        if n == 1:
            lower = np.where(predictable(V), 1.0 / (V - 2), 0.0)
        else:
            lower = cast(np.ndarray, prob_lower)[c.suffix[n - 1]]  # set at n - 1
        prob = u + gamma[parent] * lower
        if n == 1:
            prob[~predictable(V)] = 0.0
        else:
            tables[n - 2][2][:] = np.log(gamma)  # backoff of each (n-1)-gram as a context
        with np.errstate(divide="ignore"):
            tables.append((keys, np.log(prob), np.zeros(len(keys))))
        prob_lower = prob
    return tables, discounts


def mle_add_k(c: Counts, V: int, add_k: bool, k: float) -> list[Table]:
    """Relative frequencies of every order; add-k smooths only the highest order and backs
    off to the uniform distribution, so p(w | h) = (c(h w) + k) / (c(h .) + k V')."""
    N, vp = len(c.keys), V - 2
    tables: list[Table] = []
    for n in range(1, N + 1):
        keys, raw = c.keys[n - 1], c.raw[n - 1]
        parent = keys // V if n > 1 else np.zeros(len(keys), dtype=np.int64)
        n_parents = len(c.keys[n - 2]) if n > 1 else 1
        total = np.bincount(parent, weights=raw, minlength=n_parents)
        ends_bos = (keys % V == BOS_ID) | (keys % V == PAD_ID)
        with np.errstate(divide="ignore", invalid="ignore"):
            if add_k and n == N:
                logp = np.log((raw + k) / (total[parent] + k * vp))
                bow = np.log(k * vp / (total + k * vp))
            elif add_k:
                logp, bow = np.full(len(keys), -np.log(vp)), np.zeros(n_parents)
            else:
                logp = np.log(raw / total[parent])
                bow = np.where(total > 0, -np.inf, 0.0)
        logp[ends_bos] = -np.inf
        if n > 1:
            tables[n - 2][2][:] = bow
        tables.append((keys, logp, np.zeros(len(keys))))
    return tables
