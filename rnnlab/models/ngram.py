"""Count-based Markov language models: P(x_t | x_{t-k}, ..., x_{t-1}) from n-gram counts.

Shapes: B batch, T time, V vocabulary, N order (context of N-1 tokens), P positions (B*T
flattened), M_n number of stored n-grams of order n, K active decoder states.

Every smoothing compiles to one backoff table per order n = 1..N, the form of an ARPA file:

    log p(w | h) = log P_n(h_{-(n-1):} w) + sum_{m=n}^{N-1} log bow(h_{-m:})

where n is the longest order whose n-gram (h_{-(n-1):} w) is stored and `bow` is 1 for contexts
that are not stored. Tables are a trie: the key of an n-gram is `index of its (n-1)-gram prefix
in table n-1 * V + last token`, so keys stay below 2^63 for any order, and every lookup is one
`np.searchsorted` per order over a whole batch.

Smoothings (`c` raw counts, `a` Kneser-Ney adjusted counts, V' = V - 2 predictable ids):
- `mle`:    p(w | h) = c(h w) / c(h ·); unseen contexts back off to their longest seen suffix.
- `add-k`:  p(w | h) = (c(h w) + k) / (c(h ·) + k V')  (Laplace for k = 1).
- `kn`:     interpolated Kneser-Ney (Kneser & Ney 1995) with one discount D = n1 / (n1 + 2 n2)
            per order (n_j: n-grams of that order with adjusted count j), as Chen & Goodman.
- `mkn`:    interpolated modified Kneser-Ney (Chen & Goodman 1998): D_j = j - (j+1) Y n_{j+1}/n_j
            for adjusted counts 1, 2, 3+ (Y = n1 / (n1 + 2 n2)), estimated as lmplz does:
              p_n(w | h) = (a(h w) - D(a)) / sum_x a(h x) + gamma(h) p_{n-1}(w | h_{-(n-2):}),
              gamma(h) = sum_j D_j N_j(h ·) / sum_x a(h x),  p_0(w) = 1 / V'.
            a = raw count for the highest order and for n-grams starting with <s>, else the
            number of distinct left extensions. A sentence contributes n-grams with <s> only in
            the first position (KenLM's "<s> <s>" collapse), so scoring with N-1 <s> tokens of
            context equals KenLM's scoring after one <s>.

<pad> and <bos> get probability 0 (logits -inf); all other ids, including <unk> (an ordinary
word here, as in PTB) and <eos> (= </s>), sum to 1 in every context.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from itertools import chain

import numpy as np
import torch
from torch import Tensor

from rnnlab.errors import RnnlabError, expect
from rnnlab.losses import IGNORE_INDEX
from rnnlab.models.base import LMBatch, Output
from rnnlab.tokenizers import BOS_ID, EOS_ID, PAD_ID

SMOOTHINGS = ("mle", "add-k", "kn", "mkn", "arpa")
# lmplz --discount_fallback defaults, used when counts-of-counts cannot give valid discounts.
FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)
LN10 = float(np.log(10.0))


class NGramLM(torch.nn.Module):
    """An order-N Markov chain over token ids with mle / add-k / kn / mkn smoothing.

    Fitted by `fit_counts` (no gradients). `forward`, `prefill` and `step` return normalized
    log-probabilities as logits, so generate / score / evaluate treat it like any neural LM.
    The state is the last N-1 tokens (B, N-1); a </s> inside it starts a new sentence.
    """

    def __init__(
        self, vocab_size: int, order: int = 3, smoothing: str = "mkn", k: float = 1.0
    ) -> None:
        super().__init__()
        expect(
            isinstance(order, int) and order >= 1,
            f"n-gram order must be an integer >= 1, got {order!r}; e.g. --order 3",
        )
        expect(
            smoothing in SMOOTHINGS,
            f"smoothing must be one of {', '.join(SMOOTHINGS[:4])}, got {smoothing!r}",
        )
        expect(k > 0, f"add-k smoothing needs k > 0, got {k}; for no smoothing use mle")
        expect(
            vocab_size > EOS_ID,
            f"vocab_size must include the 4 special ids, got {vocab_size}",
        )
        self.vocab_size, self.order, self.smoothing, self.k = vocab_size, order, smoothing, k
        self.hparams = {"vocab_size": vocab_size, "order": order, "smoothing": smoothing, "k": k}
        for n in range(1, order + 1):
            self.register_buffer(f"keys_{n}", torch.zeros(0, dtype=torch.int64))
            self.register_buffer(f"logp_{n}", torch.zeros(0, dtype=torch.float64))
            self.register_buffer(f"logbow_{n}", torch.zeros(0, dtype=torch.float64))
        # Row n-1: discounts D_0..D_3 of order n (kn/mkn), kept for inspection.
        self.register_buffer("discounts", torch.zeros(order, 4, dtype=torch.float64))
        self._np: list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None

    # ------------------------------------------------------------------ tables
    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Table sizes depend on the training data: adopt the shapes stored in the file.
        for name in list(self._buffers):
            saved = state_dict.get(prefix + name)
            if saved is not None:
                self._buffers[name] = torch.empty_like(saved, device="cpu")
        self._np = None
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _set_tables(self, tables: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
        for n, (keys, logp, logbow) in enumerate(tables, start=1):
            setattr(self, f"keys_{n}", torch.from_numpy(np.ascontiguousarray(keys, np.int64)))
            setattr(self, f"logp_{n}", torch.from_numpy(np.ascontiguousarray(logp, np.float64)))
            setattr(self, f"logbow_{n}", torch.from_numpy(np.ascontiguousarray(logbow, np.float64)))
        self._np = None

    def tables(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(keys (M_n,), natural-log probs (M_n,), natural-log backoffs (M_n,)) per order."""
        if self._np is None:
            expect(
                self.keys_1.numel() == self.vocab_size,
                "this NGramLM has no counts yet; call fit_counts(sequences) or load a "
                "checkpoint / ARPA file first",
            )
            self._np = [
                tuple(getattr(self, f"{b}_{n}").cpu().numpy() for b in ("keys", "logp", "logbow"))
                for n in range(1, self.order + 1)
            ]
        return self._np

    def num_ngrams(self) -> list[int]:
        return [len(keys) for keys, _, _ in self.tables()]

    # ---------------------------------------------------------------- training
    def fit_counts(self, sequences: Sequence[Sequence[int]]) -> None:
        """Count the n-grams of `sequences` (one sentence each, no <bos>/<eos>) and smooth."""
        expect(
            self.smoothing != "arpa",
            "a model loaded from an ARPA file has no counts to refit; build "
            "NGramLM(vocab_size, order, smoothing='mkn') instead",
        )
        stream, pos = _pad_stream(sequences, self.vocab_size, self.order)
        kneser_ney = self.smoothing in ("kn", "mkn")
        counts = _count_ngrams(stream, pos, self.vocab_size, self.order, kneser_ney)
        if kneser_ney:
            tables, discounts = _kneser_ney(counts, self.vocab_size, self.smoothing == "mkn")
            self.discounts = torch.from_numpy(discounts)
        else:
            tables = _mle_add_k(counts, self.vocab_size, self.smoothing == "add-k", self.k)
        self._set_tables(tables)

    # ----------------------------------------------------------------- lookups
    def _contexts(self, history: np.ndarray) -> np.ndarray:
        """history (P, >= N-1) -> the last N-1 tokens (P, N-1), cut at the last </s>."""
        ctx = np.array(history[:, history.shape[1] - (self.order - 1) :], dtype=np.int64)
        # Each line is its own sentence (KenLM): nothing before a </s> conditions what follows.
        after = np.flip(np.cumsum(np.flip(ctx == EOS_ID, 1), 1), 1) > 0
        ctx[after] = BOS_ID
        return ctx

    def _walk(self, ctx: np.ndarray) -> list[np.ndarray]:
        return _walk(self.tables(), ctx, self.vocab_size)

    def _target_logp(self, ctx: np.ndarray, targets: np.ndarray) -> np.ndarray:
        return _target_logp(self.tables(), ctx, targets, self.vocab_size)

    def _dist(self, ctx: np.ndarray) -> np.ndarray:
        return _dist(self.tables(), ctx, self.vocab_size)

    def log_prob(self, context: np.ndarray, targets: np.ndarray | None = None) -> np.ndarray:
        """Float64 natural log-probs: (P,) of `targets` after `context` (P, >=N-1), or (P, V)."""
        ctx = self._contexts(np.asarray(context, dtype=np.int64).reshape(len(context), -1))
        if targets is None:
            return self._dist(ctx)
        return self._target_logp(ctx, np.asarray(targets, dtype=np.int64))

    # ----------------------------------------------------------------- scoring
    def sentence_log10(self, sequences: Sequence[Sequence[int]]) -> np.ndarray:
        """log10 P(sentence + </s>) for each sentence, <s> context, as KenLM's `query`."""
        stream, pos = _pad_stream(sequences, self.vocab_size, self.order, check=False)
        keep = pos >= self.order - 1  # every token after the <s> padding, </s> included
        windows = _windows(stream, self.order)[keep[self.order - 1 :]]  # (P, N)
        logp = self._target_logp(self._contexts(windows[:, :-1]), windows[:, -1])
        sent = np.repeat(np.arange(len(sequences)), [len(s) + 1 for s in sequences])
        return np.bincount(sent, weights=logp, minlength=len(sequences)) / LN10

    def perplexity(self, sequences: Sequence[Sequence[int]]) -> float:
        """10^(-sum log10 p / tokens), </s> counted as a token and <s> not (KenLM's figure)."""
        tokens = sum(len(s) + 1 for s in sequences)
        return float(10.0 ** (-self.sentence_log10(sequences).sum() / tokens))

    def nll(self, sequences: Sequence[Sequence[int]]) -> float:
        """Mean negative log-likelihood in nats per token (</s> included)."""
        return float(np.log(self.perplexity(sequences)))

    # ---------------------------------------------------------------- contract
    def _start(self, batch_size: int, state: Tensor | None) -> np.ndarray:
        if state is None:
            return np.full((batch_size, self.order - 1), BOS_ID, dtype=np.int64)
        return state.detach().cpu().numpy().astype(np.int64).reshape(batch_size, self.order - 1)

    def forward(self, batch: LMBatch, state: Tensor | None = None) -> Output:
        inputs = batch.inputs.detach().cpu().numpy().astype(np.int64)
        B, T = inputs.shape
        stream = np.concatenate([self._start(B, state), inputs], axis=1)  # (B, N-1+T)
        ctx = _windows(stream, self.order - 1)[:, 1:] if self.order > 1 else None
        ctx = np.zeros((B, T, 0), np.int64) if ctx is None else ctx  # (B, T, N-1)
        ctx = self._contexts(ctx.reshape(B * T, self.order - 1))
        logits = torch.from_numpy(self._dist(ctx).reshape(B, T, self.vocab_size))
        loss = None
        if batch.targets is not None:
            targets = batch.targets.detach().cpu().reshape(B * T)
            real = targets != IGNORE_INDEX
            picked = logits.reshape(B * T, -1)[real, targets[real]]
            loss = -picked.mean() if len(picked) else picked.sum()
            loss = loss.float()
        if batch.lengths is not None:
            # The state after each sequence's last real token, not after its padding.
            ends = batch.lengths.cpu().numpy().astype(np.int64) + self.order - 1
            cols = ends[:, None] - np.arange(self.order - 1, 0, -1)[None, :]
            last = stream[np.arange(B)[:, None], cols]
        else:
            last = stream[:, stream.shape[1] - (self.order - 1) :]
        return Output(logits.float(), loss, torch.from_numpy(np.ascontiguousarray(last)))

    def prefill(self, prompt: Tensor) -> tuple[Tensor, Tensor]:
        """prompt (B, T) starting with <bos> -> (log-probs (B, V), state (B, N-1))."""
        p = prompt.detach().cpu().numpy().astype(np.int64)
        stream = np.concatenate([self._start(len(p), None), p], axis=1)
        state = self._contexts(stream)
        return torch.from_numpy(self._dist(state)).float(), torch.from_numpy(state)

    def step(self, token: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """token (B,), state (B, N-1) -> (log-probs (B, V), new state)."""
        t = token.detach().cpu().numpy().astype(np.int64).reshape(-1, 1)
        stream = np.concatenate([self._start(len(t), state), t], axis=1)
        new = self._contexts(stream)
        return torch.from_numpy(self._dist(new)).float(), torch.from_numpy(new)

    # ---------------------------------------------------------------- decoding
    def most_likely_continuation(
        self, context: Sequence[int], length: int
    ) -> tuple[list[int], float]:
        """Viterbi: the `length` tokens maximizing log p given `context` (after <bos>).

        delta_t(s) = max_{s'} delta_{t-1}(s') + log p(w | s'), over the states s of the
        order-(N-1) chain. Two histories whose longest stored suffix is the same have the same
        next-token distribution, so each is reduced to that suffix and the number of states
        stays bounded by the model's contexts rather than V^(N-1).
        Returns (tokens, natural log-probability).
        """
        return viterbi(self, list(context), length)

    def beam_search_continuation(
        self, context: Sequence[int], length: int, num_beams: int = 8
    ) -> tuple[list[int], float]:
        """Beam search over continuations of exactly `length` tokens; (tokens, log-prob)."""
        return beam_search(self, list(context), length, num_beams)

    # -------------------------------------------------------------------- ARPA
    def to_arpa(self, path: str, itos: Sequence[str]) -> None:
        """Write the model as an ARPA backoff file (log10), readable by KenLM and SRILM."""
        from rnnlab.models.arpa import write_arpa

        write_arpa(self, path, itos)

    @classmethod
    def from_arpa(cls, path: str) -> tuple[NGramLM, list[str]]:
        """Read an ARPA file -> (model, itos); <s>, </s>, <unk> map to rnnlab's specials."""
        from rnnlab.models.arpa import read_arpa

        return read_arpa(path)


# ----------------------------------------------------------------------- lookups
def _walk(tabs: list, ctx: np.ndarray, V: int) -> list[np.ndarray]:
    """ctx (P, N-1) -> for m = 1..N-1 the index of h_{-m:} in table m, -1 if absent."""
    width = ctx.shape[1]
    found = []
    for m in range(1, width + 1):
        idx = ctx[:, width - m].copy()
        for j in range(1, m):
            idx = _lookup(tabs[j][0], idx, ctx[:, width - m + j], V)
        found.append(idx)
    return found


def _target_logp(tabs: list, ctx: np.ndarray, targets: np.ndarray, V: int) -> np.ndarray:
    """Natural log p(target | ctx) (P,) without building V-wide distributions."""
    ctx_idx = _walk(tabs, ctx, V)
    best = tabs[0][1][targets]  # (P,) unigram log-probs
    best_n = np.ones(len(targets), dtype=np.int64)
    for n in range(2, ctx.shape[1] + 2):
        hit = _lookup(tabs[n - 1][0], ctx_idx[n - 2], targets, V)
        ok = hit >= 0
        best[ok] = tabs[n - 1][1][hit[ok]]
        best_n[ok] = n
    for m, idx in enumerate(ctx_idx, start=1):
        use = (idx >= 0) & (best_n <= m)
        best[use] += tabs[m - 1][2][idx[use]]
    return best


def _dist(tabs: list, ctx: np.ndarray, V: int) -> np.ndarray:
    """Full natural-log distributions (P, V) for contexts ctx (P, N-1)."""
    ctx_idx = _walk(tabs, ctx, V)
    bows = [np.where(i >= 0, tabs[m][2][np.maximum(i, 0)], 0.0) for m, i in enumerate(ctx_idx)]
    # tail[n-1] = sum_{m >= n} log bow(h_{-m:}): what a word predicted at order n still pays,
    # so one broadcast add replaces an add over (P, V) per order.
    tail = np.cumsum(np.stack([*bows, np.zeros(len(ctx))])[::-1], axis=0)[::-1]  # (N, P)
    out = tabs[0][1][None, :] + tail[0][:, None]  # (P, V)
    for n in range(2, ctx.shape[1] + 2):
        idx, (keys, logp, _) = ctx_idx[n - 2], tabs[n - 1]
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


# ---------------------------------------------------------------------- counting
def _lookup(keys: np.ndarray, parent: np.ndarray, last: np.ndarray, V: int) -> np.ndarray:
    """Index of the n-gram (parent, last) in sorted `keys`, -1 if absent or parent is -1."""
    query = parent * V + last
    at = np.searchsorted(keys, query)
    at_c = np.minimum(at, len(keys) - 1) if len(keys) else at
    ok = (parent >= 0) & (at < len(keys))
    if len(keys):
        ok &= keys[at_c] == query
    return np.where(ok, at_c, -1)


def _windows(stream: np.ndarray, width: int) -> np.ndarray:
    """Sliding windows along the last axis: (..., L) -> (..., L - width + 1, width)."""
    return np.lib.stride_tricks.sliding_window_view(stream, width, axis=-1)


def _pad_stream(
    sequences: Sequence[Sequence[int]], V: int, order: int, check: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """One stream of all sentences, each as [<s>]*(N-1) + words + [</s>], and the
    position of every token inside its sentence (the padding is at 0..N-2)."""
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    words = np.fromiter(chain.from_iterable(sequences), dtype=np.int64, count=int(lengths.sum()))
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


class _Counts:
    """Per-order n-gram tables from counting: sorted trie keys and statistics."""

    def __init__(self) -> None:
        self.keys: list[np.ndarray] = []  # (M_n,) sorted: prefix index * V + last token
        self.raw: list[np.ndarray] = []  # (M_n,) occurrences as a prediction
        self.left: list[np.ndarray] = []  # (M_n,) distinct left extensions (KN only)
        self.bos_first: list[np.ndarray] = []  # (M_n,) n-gram starts with <s>
        self.suffix: list[np.ndarray] = []  # (M_n,) index of the last n-1 tokens in table n-1


def _unique(key: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def _count_ngrams(stream: np.ndarray, pos: np.ndarray, V: int, N: int, kn: bool) -> _Counts:
    """Vectorized counting: each order is one np.unique over the packed keys of its windows."""
    c = _Counts()
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
        uniq, first, inv = _unique(key)
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
    return c


# --------------------------------------------------------------------- smoothing
def _predictable(V: int) -> np.ndarray:
    mask = np.ones(V, dtype=bool)
    mask[[PAD_ID, BOS_ID]] = False
    return mask


def _discounts(adjusted: np.ndarray, modified: bool, order: int) -> np.ndarray:
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
            f"discounts (small or artificial data); using lmplz's fallback {FALLBACK_DISCOUNTS}",
            stacklevel=3,
        )
        d = np.array([0.0, *FALLBACK_DISCOUNTS]) if modified else np.array([0.0, *[0.5] * 3])
    return d


def _kneser_ney(c: _Counts, V: int, modified: bool) -> tuple[list, np.ndarray]:
    """Interpolated (modified) Kneser-Ney as lmplz: returns backoff tables and discounts."""
    N = len(c.keys)
    tables, discounts = [], np.zeros((N, 4))
    prob_lower = None
    for n in range(1, N + 1):
        keys = c.keys[n - 1]
        # The highest order and n-grams starting with <s> have no left extensions to count.
        a = np.where(c.bos_first[n - 1] | (n == N), c.raw[n - 1], c.left[n - 1])
        if n == 1:
            a[[PAD_ID, BOS_ID]] = 0.0
        d = discounts[n - 1] = _discounts(a, modified, n)
        parent = keys // V if n > 1 else np.zeros(len(keys), dtype=np.int64)
        n_parents = len(c.keys[n - 2]) if n > 1 else 1
        denom = np.bincount(parent, weights=a, minlength=n_parents)  # sum_x a(h x)
        bucket = np.minimum(a, 3).astype(np.int64)  # 0 marks an unseen unigram
        mass = np.bincount(parent, weights=d[bucket] * (a > 0), minlength=n_parents)
        with np.errstate(divide="ignore", invalid="ignore"):
            gamma = np.where(denom > 0, mass / denom, 1.0)  # (n_parents,)
            u = np.where(a > 0, (a - d[bucket]) / denom[parent], 0.0)
        if n == 1:
            lower = np.where(_predictable(V), 1.0 / (V - 2), 0.0)
        else:
            lower = prob_lower[c.suffix[n - 1]]
        prob = u + gamma[parent] * lower
        if n == 1:
            prob[~_predictable(V)] = 0.0
        else:
            tables[n - 2][2][:] = np.log(gamma)  # backoff of each (n-1)-gram as a context
        with np.errstate(divide="ignore"):
            tables.append((keys, np.log(prob), np.zeros(len(keys))))
        prob_lower = prob
    return tables, discounts


def _mle_add_k(c: _Counts, V: int, add_k: bool, k: float) -> list:
    """Relative frequencies of every order; add-k smooths only the highest order and backs
    off to the uniform distribution, so p(w | h) = (c(h w) + k) / (c(h .) + k V')."""
    N, vp = len(c.keys), V - 2
    tables = []
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


# ---------------------------------------------------------------------- decoding
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
