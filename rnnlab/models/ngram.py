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

Counting and smoothing live in `ngram_counts.py`, Viterbi and beam search in `ngram_decode.py`,
ARPA io in `arpa.py`; this file holds the model and its lookups.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from rnnlab.errors import expect
from rnnlab.losses import IGNORE_INDEX
from rnnlab.models.base import LMBatch, Output
from rnnlab.models.ngram_counts import (
    count_ngrams,
    kneser_ney,
    lookup,
    mle_add_k,
    ngram_windows,
    pad_stream,
)
from rnnlab.tokenizers import BOS_ID, EOS_ID

SMOOTHINGS = ("mle", "add-k", "kn", "mkn", "arpa")
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
        stream, pos = pad_stream(sequences, self.vocab_size, self.order)
        is_kn = self.smoothing in ("kn", "mkn")
        counts = count_ngrams(stream, pos, self.vocab_size, self.order, is_kn)
        if is_kn:
            tables, discounts = kneser_ney(counts, self.vocab_size, self.smoothing == "mkn")
            self.discounts = torch.from_numpy(discounts)
        else:
            tables = mle_add_k(counts, self.vocab_size, self.smoothing == "add-k", self.k)
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
        stream, pos = pad_stream(sequences, self.vocab_size, self.order, check=False)
        keep = pos >= self.order - 1  # every token after the <s> padding, </s> included
        grams = ngram_windows(stream, self.order)[keep[self.order - 1 :]]  # (P, N)
        logp = self._target_logp(self._contexts(grams[:, :-1]), grams[:, -1])
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
        ctx = ngram_windows(stream, self.order - 1)[:, 1:] if self.order > 1 else None
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
        from rnnlab.models.ngram_decode import viterbi

        return viterbi(self, list(context), length)

    def beam_search_continuation(
        self, context: Sequence[int], length: int, num_beams: int = 8
    ) -> tuple[list[int], float]:
        """Beam search over continuations of exactly `length` tokens; (tokens, log-prob)."""
        from rnnlab.models.ngram_decode import beam_search

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
            idx = lookup(tabs[j][0], idx, ctx[:, width - m + j], V)
        found.append(idx)
    return found


def _target_logp(tabs: list, ctx: np.ndarray, targets: np.ndarray, V: int) -> np.ndarray:
    """Natural log p(target | ctx) (P,) without building V-wide distributions."""
    ctx_idx = _walk(tabs, ctx, V)
    best = tabs[0][1][targets]  # (P,) unigram log-probs
    best_n = np.ones(len(targets), dtype=np.int64)
    for n in range(2, ctx.shape[1] + 2):
        hit = lookup(tabs[n - 1][0], ctx_idx[n - 2], targets, V)
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
