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
            context equals KenLM's scoring after one <s>. The counts-of-counts behind D_j are
            lmplz's too, which count the last n-gram it visits at each lower order by its raw
            count (`ngram_counts.lmplz_last`).

<pad> and <bos> get probability 0 (logits -inf); all other ids, including <unk> (an ordinary
word here, as in PTB) and <eos> (= </s>), sum to 1 in every context.

Counting, smoothing and table lookups live in `ngram_counts.py`, Viterbi and beam search in
`ngram_decode.py` (public methods of the model only), ARPA files <-> tables in `arpa.py`; this
file holds the model. Imports run one way: ngram -> {arpa, ngram_decode} -> ngram_counts.

Memory, in bytes (S sentences of |s| words, order N, V vocabulary, M_n stored n-grams of
order n; L = sum_s (|s| + N) positions of the padded stream, T_n = sum_s max(0, |s| + 1 -
max(0, n - 2)) occurrences counted at order n by kn/mkn):
- `fit_counts` (kn/mkn), peak beside its input lists:
      max( max_{n>=2} [25 L + 43 T_n + 25 sum_{m<n} M_m + 37 M_n],    counting, order n
           49 sum_n M_n + 71 max_n M_n )                               smoothing
  (constants measured with tracemalloc: within 10% on PTB and Tatoeba French for N = 2..5;
  `benchmarks/ngram_large_vocab.py` prints predicted against measured). V enters only as
  the M_1 = V unigram rows.
- the fitted model: 24 sum_n M_n (int64 key, float64 log p and log bow per n-gram).
- `target_log_probs` / `metrics.evaluate` / `sentence_log10`: the model plus about 40 N per
  scored position of a batch (P = B T; `sentence_log10` takes SCORE_POSITIONS at a time).
  No V-wide row is built, so a 33k or 200k vocabulary costs its M_1 rows and nothing more.
- `forward`: its result, 4 B T V (float32 logits), plus 8 LOGIT_BUDGET of float64 work rows;
  `prefill` / `step`: 12 B V (the next-token distributions only).
- ARPA export / import: see `arpa.py` (O(sum M_n n), never contexts x V).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from rnnlab.data.tokenizers import BOS_ID, EOS_ID
from rnnlab.errors import expect
from rnnlab.losses import IGNORE_INDEX
from rnnlab.models import arpa, ngram_decode
from rnnlab.models.base import LMBatch, Output
from rnnlab.models.lm import LOGIT_BUDGET
from rnnlab.models.ngram_counts import (
    backoff_distributions,
    backoff_log_probs,
    context_indices,
    count_ngrams,
    kneser_ney,
    mle_add_k,
    ngram_windows,
    pad_stream,
)

SMOOTHINGS = ("mle", "add-k", "kn", "mkn", "arpa")
LN10 = float(np.log(10.0))
# Positions scored at once by `sentence_log10`: its transients are ~10 int64 per position
# and order, so 2^18 positions of a 5-gram stay near 100 MB whatever the corpus size.
SCORE_POSITIONS = 2**18


class NGramLM(torch.nn.Module):
    """An order-N Markov chain over token ids with mle / add-k / kn / mkn smoothing.

    Fitted by `fit_counts` (no gradients). `forward`, `prefill` and `step` return normalized
    log-probabilities as logits, so generate / score / evaluate treat it like any neural LM.
    The state is the last N-1 tokens (B, N-1); a </s> inside it starts a new sentence.
    """

    keys_1: Tensor  # the unigram keys buffer (one per order: keys_1 .. keys_N)

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
    def _load_from_state_dict(self, state_dict: dict[str, Tensor], prefix: str, *args: object,
                              **kwargs: object) -> None:
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
        is_kn = self.smoothing in ("kn", "mkn")
        # The padded stream is freed before smoothing, which then needs the counts alone.
        counts = count_ngrams(*pad_stream(sequences, self.vocab_size, self.order),
                              self.vocab_size, self.order, is_kn)
        if is_kn:
            tables, discounts = kneser_ney(counts, self.vocab_size, self.smoothing == "mkn")
            self.discounts = torch.from_numpy(discounts)
        else:
            tables = mle_add_k(counts, self.vocab_size, self.smoothing == "add-k", self.k)
        self._set_tables(tables)

    # ----------------------------------------------------------------- lookups
    def contexts(self, history: np.ndarray) -> np.ndarray:
        """history (P, >= N-1) token ids -> the last N-1 tokens (P, N-1), cut at the last </s>
        (what precedes a </s> becomes <s>: each line is its own sentence, as in KenLM)."""
        history = np.asarray(history, dtype=np.int64)
        if history.ndim != 2:  # (P,) is one token of context per position
            history = history.reshape(len(history), -1)
        ctx = np.array(history[:, history.shape[1] - (self.order - 1) :], dtype=np.int64)
        after = np.flip(np.cumsum(np.flip(ctx == EOS_ID, 1), 1), 1) > 0
        ctx[after] = BOS_ID
        return ctx

    # The old private names, kept for code written against them.
    _contexts = contexts

    def log_prob(self, context: np.ndarray, targets: np.ndarray | None = None) -> np.ndarray:
        """Float64 natural log-probs after `context` (P, >= N-1): of `targets` (P,) -> (P,),
        in O(P N) memory; with no targets the full distributions (P, V), 8 P V bytes."""
        ctx = self.contexts(context)
        if targets is None:
            return backoff_distributions(self.tables(), ctx, self.vocab_size)
        return backoff_log_probs(self.tables(), ctx, np.asarray(targets, np.int64), self.vocab_size)

    def state_ids(self, context: np.ndarray) -> np.ndarray:
        """(P,) int64 naming the longest stored suffix of each context (P, N-1) from
        `contexts`: equal ids have equal next-token distributions (the decoders' states)."""
        offset, key = 0, np.zeros(len(context), dtype=np.int64)
        tables = self.tables()
        for m, idx in enumerate(context_indices(tables, context, self.vocab_size), start=1):
            key = np.where(idx >= 0, offset + idx, key)
            offset += len(tables[m - 1][0])
        return key

    # ----------------------------------------------------------------- scoring
    def sentence_log10(self, sequences: Sequence[Sequence[int]]) -> np.ndarray:
        """log10 P(sentence + </s>) for each sentence, <s> context, as KenLM's `query`.
        Scores SCORE_POSITIONS positions at a time, so memory does not grow with V."""
        stream, pos = pad_stream(sequences, self.vocab_size, self.order, check=False)
        keep = np.flatnonzero(pos >= self.order - 1)  # every token after the <s> padding
        windows = ngram_windows(stream, self.order)  # (L-N+1, N), a view
        logp = np.empty(len(keep))
        for s in range(0, len(keep), SCORE_POSITIONS):
            grams = windows[keep[s : s + SCORE_POSITIONS] - (self.order - 1)]  # (c, N)
            logp[s : s + SCORE_POSITIONS] = self.log_prob(grams[:, :-1], grams[:, -1])
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

    def _positions(self, batch: LMBatch, state: Tensor | None) -> tuple[np.ndarray, Tensor]:
        """The context of every position (B*T, N-1) and the state after the batch (B, N-1)."""
        inputs = batch.inputs.detach().cpu().numpy().astype(np.int64)
        B, T = inputs.shape
        stream = np.concatenate([self._start(B, state), inputs], axis=1)  # (B, N-1+T)
        if self.order > 1:
            ctx = ngram_windows(stream, self.order - 1)[:, 1:]  # (B, T, N-1)
        else:
            ctx = np.zeros((B, T, 0), np.int64)
        ctx = self.contexts(ctx.reshape(B * T, self.order - 1))
        if batch.lengths is not None:
            # The state after each sequence's last real token, not after its padding.
            ends = batch.lengths.cpu().numpy().astype(np.int64) + self.order - 1
            cols = ends[:, None] - np.arange(self.order - 1, 0, -1)[None, :]
            last = stream[np.arange(B)[:, None], cols]
        else:
            last = stream[:, stream.shape[1] - (self.order - 1) :]
        return ctx, torch.from_numpy(np.ascontiguousarray(last))

    def target_log_probs(
        self, batch: LMBatch, state: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """(log p(targets) (B, T) float64, 0 where targets == IGNORE_INDEX; state (B, N-1)).

        Looks up the targets alone: O(B T N) memory whatever V is. `metrics.evaluate` uses it."""
        ctx, last = self._positions(batch, state)
        targets = batch.targets.detach().cpu().numpy().astype(np.int64).reshape(-1)
        real = targets != IGNORE_INDEX
        logp = np.zeros(len(targets))
        logp[real] = self.log_prob(ctx[real], targets[real])
        return torch.from_numpy(logp.reshape(batch.targets.shape)), last

    def forward(self, batch: LMBatch, state: Tensor | None = None) -> Output:
        """Logits (B, T, V) float32 = normalized log-probs, loss, state (B, N-1).

        The (B, T, V) logits are what this returns, so only call it when they are wanted:
        4 B T V bytes (26 GB for 200k positions at V = 33k). They are filled LOGIT_BUDGET
        floats at a time, so the float64 work arrays stay within 8 LOGIT_BUDGET bytes; the
        loss comes from `target_log_probs`. Evaluation and scoring never need this."""
        ctx, last = self._positions(batch, state)
        B, T = batch.inputs.shape
        V = self.vocab_size
        logits = torch.empty(B * T, V, dtype=torch.float32)
        rows = max(1, LOGIT_BUDGET // V)
        for s in range(0, B * T, rows):
            dist = backoff_distributions(self.tables(), ctx[s : s + rows], V)
            logits[s : s + rows] = torch.from_numpy(dist)
        loss = None
        if batch.targets is not None:
            logp, _ = self.target_log_probs(batch, state)
            n = int((batch.targets != IGNORE_INDEX).sum())
            loss = (-logp.sum() / n if n else logp.sum()).float()
        return Output(logits.reshape(B, T, V), loss, last)

    def prefill(self, prompt: Tensor) -> tuple[Tensor, Tensor]:
        """prompt (B, T) starting with <bos> -> (log-probs (B, V), state (B, N-1)).
        Only the last position's distribution is built: B V floats for any prompt length."""
        p = prompt.detach().cpu().numpy().astype(np.int64)
        stream = np.concatenate([self._start(len(p), None), p], axis=1)
        state = self.contexts(stream)
        dist = backoff_distributions(self.tables(), state, self.vocab_size)
        return torch.from_numpy(dist).float(), torch.from_numpy(state)

    def step(self, token: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """token (B,), state (B, N-1) -> (log-probs (B, V), new state)."""
        t = token.detach().cpu().numpy().astype(np.int64).reshape(-1, 1)
        stream = np.concatenate([self._start(len(t), state), t], axis=1)
        new = self.contexts(stream)
        dist = backoff_distributions(self.tables(), new, self.vocab_size)
        return torch.from_numpy(dist).float(), torch.from_numpy(new)

    # ---------------------------------------------------------------- decoding
    def most_likely_continuation(
        self, context: Sequence[int], length: int
    ) -> tuple[list[int], float]:
        """Viterbi: the `length` tokens maximizing log p given `context` (after <bos>);
        (tokens, natural log-probability). See `ngram_decode.viterbi`."""
        return ngram_decode.viterbi(self, list(context), length)

    def beam_search_continuation(
        self, context: Sequence[int], length: int, num_beams: int = 8
    ) -> tuple[list[int], float]:
        """Beam search over continuations of exactly `length` tokens; (tokens, log-prob)."""
        return ngram_decode.beam_search(self, list(context), length, num_beams)

    # -------------------------------------------------------------------- ARPA
    def to_arpa(self, path: str, itos: Sequence[str], comments: Sequence[str] = ()) -> list[int]:
        """Write the model as an ARPA backoff file (log10), readable by KenLM and SRILM, with
        `comments` as `# ...` lines before it; returns the n-grams written per order."""
        return arpa.write_arpa_tables(self.tables(), path, itos, comments)

    @classmethod
    def from_arpa(cls, path: str) -> tuple[NGramLM, list[str]]:
        """Read an ARPA file -> (model with smoothing='arpa', itos); <s>, </s>, <unk> map to
        rnnlab's specials."""
        tables, itos = arpa.read_arpa(path)
        model = cls(len(itos), len(tables), smoothing="arpa")
        model._set_tables(tables)
        return model, itos
