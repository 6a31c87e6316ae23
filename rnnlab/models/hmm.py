"""A hidden Markov model tagger (TnT, Brants 2000): the classic dynamic Bayesian network.

Shapes: T sentence length, K tags, S = K the sentence-boundary tag (extended tag set K+1),
W known word types, P distinct (word, tag) pairs, X stored suffixes (both case classes),
Q distinct (suffix, tag) pairs, n the order (1: bigram transitions, 2: trigram).

The DBN: one hidden tag y_t per token emits the word x_t; the tags form a Markov chain of
order n with boundary tags y_{-1} = y_0 = y_{T+1} = S (Brants 2000, eq. 1):

    p(x_1..T, y_1..T) = prod_{t=1}^{T} p(y_t | y_{t-n}..y_{t-1}) p(x_t | y_t)
                        * p(S | y_{T-n+1}..y_T)

Transitions, from counts f of tag n-grams over the boundary-padded tag sequences, interpolated
(eq. 2-5, l1 + l2 + l3 = 1; l3 = 0 for order 1):

    p(y3 | y1, y2) = l1 f(y3) / N + l2 f(y2 y3) / f(y2 .) + l3 f(y1 y2 y3) / f(y1 y2 .)

with N the number of predicted tags (tokens + sentence ends). The lambdas come from deleted
interpolation (Brants 2000, fig. 1): every tag n-gram adds its count to the lambda whose
estimate with that n-gram taken out, (f(y1 y2 y3) - 1) / (f(y1 y2 .) - 1), (f(y2 y3) - 1) /
(f(y2 .) - 1), (f(y3) - 1) / (N - 1), is largest (0 when a denominator is 0; ties split the
count equally). An estimate whose context was never seen is replaced by the next lower order,
so each row is a distribution.

Emissions. Known words: p(x | y) = f(x, y) / f(y), looked up by the exact form and, if that
was never seen, by its lowercased form (sentence-initial "Rotten", shouted "WANTS": +0.1 UPOS
accuracy on EWT dev; a lowercased lookup of every word would merge PROPN "Apple" into NOUN).
`is_known` is true when either lookup succeeds. Unknown words: a suffix model over the
lowercased word, trained on words of frequency <= rare_threshold
and kept apart for capitalized (first character upper case) and other words (section 2.3):
with l_i the last i characters, i = 0..min(m, |x|), P^ maximum-likelihood estimates and
theta the standard deviation of the K unconditioned tag probabilities P^(y),

    P(y | l_0) = P^(y | rare words of the case class),
    P(y | l_i) = (P^(y | l_i) + theta P(y | l_{i-1})) / (1 + theta)

up to the longest suffix seen, then Bayes' rule: p(x | y) = P(y | suffix) / P^(y) * p_unk.
p_unk = n1 / N_tok (Good-Turing's mass of unseen words: words seen once over tokens) is the
same for every tag, so tags and posteriors ignore it; it only puts log_likelihood on a
scale comparable to known words (the emissions of unknown words are not normalized over
strings, so log_likelihood of a sentence with unknown words is a score, not a probability).

Inference, over states s_t = (y_{t-n+1}..y_t) of the extended tag set ((K+1)^n of them):
Viterbi in log space, and forward-backward scaled per step (see `posteriors`) for
p(y_t = k | x_1..T), the hidden path summed out. Each step is one numpy operation over the
(K+1)^(n+1) transitions: O(T (K+1)^(n+1)) time, O(T (K+1)^n) memory for back-pointers or
alphas (order 2, K = 50 XPOS: 0.25 ms and 21 kB per token).

Memory of the fitted model (all in buffers, so a checkpoint is a plain state_dict read with
weights_only=True): 8 (K+1)^3 tag-trigram counts + 16 (W + X + 2) string and row offsets +
16 (P + Q) sparse (tag, count) pairs + the UTF-8 bytes of the words and suffixes (EWT train,
K = 17 UPOS: W = 19,674, P = 21,978, X = 53,357, Q = 62,567; a 3.1 MB checkpoint).
Emissions stay sparse: the dense (W, K) float64 table of a 50k vocabulary with 50 tags would
be 20 MB, the pairs are about 16 P ~ 1 MB. The lookup dictionaries are rebuilt on first use
after loading (about 150 bytes per word or suffix; 0.04 s for EWT).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor, nn

from rnnlab.errors import expect

ORDERS = (1, 2)
UNKNOWN_CACHE = 1 << 16  # unknown-word emission rows memoized between calls, then cleared


def encode_strings(strings: Sequence[str]) -> tuple[Tensor, Tensor]:
    """Strings -> (uint8 concatenated UTF-8 bytes, int64 offsets (len + 1,))."""
    data = [s.encode("utf-8") for s in strings]
    offsets = np.zeros(len(data) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(b) for b in data])
    raw = np.frombuffer(b"".join(data), dtype=np.uint8).copy()
    return torch.from_numpy(raw), torch.from_numpy(offsets)


def decode_strings(raw: Tensor, offsets: Tensor) -> list[str]:
    blob, off = raw.cpu().numpy().tobytes(), offsets.tolist()
    return [blob[off[i] : off[i + 1]].decode("utf-8") for i in range(len(off) - 1)]


def _sparse(rows: dict[str, Counter[int]]) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """{key: Counter(tag -> count)} -> sorted keys, row offsets, tags, counts (CSR)."""
    keys = sorted(rows)
    lengths = [len(rows[k]) for k in keys]
    offsets = np.zeros(len(keys) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(lengths)
    tags = np.fromiter((t for k in keys for t in sorted(rows[k])), np.int64, int(offsets[-1]))
    counts = np.fromiter(
        (rows[k][t] for k in keys for t in sorted(rows[k])), np.int64, int(offsets[-1])
    )
    return keys, offsets, tags, counts


def deleted_interpolation(f3: np.ndarray, order: int) -> np.ndarray:
    """Brants (2000) fig. 1: lambdas (l1, l2, l3) from tag-trigram counts f3 (K+1,)*3.
    For order 1 the bigrams f(y2 y3) vote between l1 and l2 (l3 = 0)."""
    f23 = f3.sum(0)  # (y2, y3)
    f2, f1, n = f23.sum(1), f23.sum(0), f3.sum()

    def est(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        return np.where(den > 1, (num - 1) / np.maximum(den - 1, 1), 0.0)

    if order == 2:
        a, b, c = np.nonzero(f3)
        weight = f3[a, b, c]
        cases = [est(f1[c], np.full(len(c), n)), est(f23[b, c], f2[b]),
                 est(weight, f3.sum(2)[a, b])]
    else:
        b, c = np.nonzero(f23)
        weight = f23[b, c]
        cases = [est(f1[c], np.full(len(c), n)), est(weight, f2[b])]
    stacked = np.stack(cases, 1)  # (grams, order + 1)
    top = stacked == stacked.max(1, keepdims=True)  # ties share the count equally
    lam = (top * (weight / top.sum(1))[:, None]).sum(0)
    out = np.zeros(3)
    out[: order + 1] = lam / lam.sum()
    return out


class HMMTagger(nn.Module):
    """A TnT-style HMM part-of-speech tagger of order 1 or 2, fitted by counting."""

    word_offsets: Tensor  # a count buffer (registered in __init__), read before the tables

    def __init__(
        self, num_tags: int, order: int = 2, max_suffix: int = 10, rare_threshold: int = 10
    ) -> None:
        super().__init__()
        expect(isinstance(num_tags, int) and num_tags >= 1,
               f"num_tags must be an integer >= 1, got {num_tags!r}")
        expect(order in ORDERS, f"HMM order must be 1 (bigram) or 2 (trigram), got {order!r}")
        expect(isinstance(max_suffix, int) and max_suffix >= 0,
               f"max_suffix must be an integer >= 0, got {max_suffix!r}; TnT uses 10")
        expect(isinstance(rare_threshold, int) and rare_threshold >= 0,
               f"rare_threshold must be an integer >= 0, got {rare_threshold!r}; TnT uses 10")
        self.num_tags, self.order = num_tags, order
        self.max_suffix, self.rare_threshold = max_suffix, rare_threshold
        self.hparams = {"num_tags": num_tags, "order": order, "max_suffix": max_suffix,
                        "rare_threshold": rare_threshold}
        K1 = num_tags + 1
        self.register_buffer("trigram_counts", torch.zeros(K1, K1, K1, dtype=torch.float64))
        self.register_buffer("lambdas", torch.zeros(3, dtype=torch.float64))
        for table in ("word", "suffix"):  # strings, then CSR rows of (tag, count)
            self.register_buffer(f"{table}_bytes", torch.zeros(0, dtype=torch.uint8))
            self.register_buffer(f"{table}_offsets", torch.zeros(1, dtype=torch.int64))
            self.register_buffer(f"{table}_rows", torch.zeros(1, dtype=torch.int64))
            self.register_buffer(f"{table}_tags", torch.zeros(0, dtype=torch.int64))
            self.register_buffer(f"{table}_counts", torch.zeros(0, dtype=torch.int64))
        self._t: dict[str, Any] | None = None

    def _load_from_state_dict(self, state_dict: dict[str, Tensor], prefix: str, *args: object,
                              **kwargs: object) -> None:
        # Table sizes depend on the training data: adopt the shapes stored in the file.
        for name in list(self._buffers):
            saved = state_dict.get(prefix + name)
            if saved is not None:
                self._buffers[name] = torch.empty_like(saved, device="cpu")
        self._t = None
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # ----------------------------------------------------------------- fitting
    def fit_counts(self, sentences: Sequence[tuple[Sequence[str], Sequence[int]]]) -> None:
        """Count tag n-grams, word/tag pairs and rare-word suffixes of (words, tag ids)."""
        K, S = self.num_tags, self.num_tags
        expect(len(sentences) > 0, "fit_counts needs at least one (words, tags) sentence")
        grams: list[int] = []
        lexicon: dict[str, Counter[int]] = defaultdict(Counter)
        for i, (words, tags) in enumerate(sentences):
            expect(len(words) == len(tags),
                   f"sentence {i} has {len(words)} words but {len(tags)} tags; give one tag "
                   "per word")
            for w, t in zip(words, tags, strict=True):
                expect(isinstance(t, int | np.integer) and 0 <= t < K,
                       f"sentence {i}: tag id {t!r} is outside 0..{K - 1} (num_tags = {K})")
                lexicon[w][int(t)] += 1
            seq = np.array([S, S, *tags, S], dtype=np.int64)
            grams.extend(((seq[:-2] * (K + 1) + seq[1:-1]) * (K + 1) + seq[2:]).tolist())
        f3 = np.bincount(np.array(grams, np.int64), minlength=(K + 1) ** 3)
        self.trigram_counts = torch.from_numpy(f3.reshape((K + 1,) * 3).astype(np.float64))
        self.lambdas = torch.from_numpy(deleted_interpolation(f3.reshape((K + 1,) * 3),
                                                              self.order))
        suffixes: dict[str, Counter[int]] = defaultdict(Counter)
        for w, tag_counts in lexicon.items():
            if sum(tag_counts.values()) > self.rare_threshold:
                continue
            low, case = w.lower(), _case(w)
            for i in range(min(self.max_suffix, len(low)) + 1):
                suffixes[case + low[len(low) - i :]].update(tag_counts)
        for table, rows in (("word", lexicon), ("suffix", suffixes)):
            keys, offsets, tag_ids, counts = _sparse(rows)
            raw, string_offsets = encode_strings(keys)
            setattr(self, f"{table}_bytes", raw)
            setattr(self, f"{table}_offsets", string_offsets)
            setattr(self, f"{table}_rows", torch.from_numpy(offsets))
            setattr(self, f"{table}_tags", torch.from_numpy(tag_ids))
            setattr(self, f"{table}_counts", torch.from_numpy(counts))
        self._t = None

    # ---------------------------------------------------------------- tables
    def _tables(self) -> dict[str, Any]:
        """Probabilities and lookup dictionaries derived from the count buffers (lazily)."""
        if self._t is not None:
            return self._t
        expect(self.word_offsets.numel() > 1,
               "this HMMTagger has no counts yet; call fit_counts(sentences) or load a "
               "checkpoint first")
        K = self.num_tags
        f3 = self.trigram_counts.numpy()
        f23 = f3.sum(0)
        f2, f1 = f23.sum(1, keepdims=True), f23.sum(0)
        p1 = f1 / f1.sum()  # (K+1,)
        p2 = np.where(f2 > 0, f23 / np.maximum(f2, 1), p1[None, :])  # (K+1, K+1)
        lam = self.lambdas.numpy()
        if self.order == 2:
            f12 = f3.sum(2, keepdims=True)
            p3 = np.where(f12 > 0, f3 / np.maximum(f12, 1), p2[None, :, :])
            trans = lam[0] * p1 + lam[1] * p2[None] + lam[2] * p3  # (K+1,)*3
        else:
            trans = lam[0] * p1 + lam[1] * p2  # (K+1, K+1)
        tag_tokens = f1[:K]  # tokens per tag (sentence ends excluded)
        prior = tag_tokens / tag_tokens.sum()
        t: dict[str, Any] = {"trans": trans}
        with np.errstate(divide="ignore"):
            t["log_trans"] = np.log(trans)
            t["log_tag_tokens"] = np.log(tag_tokens)
            t["log_prior"] = np.log(prior)
        t["prior"] = prior
        t["theta"] = float(np.std(prior, ddof=1)) if K > 1 else 0.0
        for table in ("word", "suffix"):
            keys = decode_strings(getattr(self, f"{table}_bytes"),
                                  getattr(self, f"{table}_offsets"))
            t[table] = {k: i for i, k in enumerate(keys)}
            for part in ("rows", "tags", "counts"):
                t[f"{table}_{part}"] = getattr(self, f"{table}_{part}").numpy()
        word_totals = np.add.reduceat(t["word_counts"], t["word_rows"][:-1])
        t["log_p_unk"] = float(np.log(max(int((word_totals == 1).sum()), 1) / tag_tokens.sum()))
        t["unknown"] = {}
        self._t = t
        return t

    def _row(self, table: str, i: int) -> np.ndarray:
        t = cast(dict[str, Any], self._t)  # _tables() has filled it
        lo, hi = t[f"{table}_rows"][i], t[f"{table}_rows"][i + 1]
        out = np.zeros(self.num_tags)
        out[t[f"{table}_tags"][lo:hi]] = t[f"{table}_counts"][lo:hi]
        return out

    def _lexicon_row(self, word: str) -> int | None:
        """The lexicon row of the exact form, else of the lowercased form, else None."""
        lexicon = self._tables()["word"]
        row = lexicon.get(word)
        return lexicon.get(word.lower()) if row is None else row

    def is_known(self, word: str) -> bool:
        """Whether the word's emissions come from the lexicon (exact or lowercased form)."""
        return self._lexicon_row(word) is not None

    def suffix_distribution(self, word: str) -> np.ndarray:
        """P(y | longest seen suffix of word) (K,) by successive abstraction."""
        t = self._tables()
        low, case = word.lower(), _case(word)
        base = t["suffix"].get(case)
        p = t["prior"] if base is None else _normalized(self._row("suffix", base))
        for i in range(1, min(self.max_suffix, len(low)) + 1):
            row = t["suffix"].get(case + low[len(low) - i :])
            if row is None:  # longer suffixes were not seen either
                break
            p = (_normalized(self._row("suffix", row)) + t["theta"] * p) / (1 + t["theta"])
        return p

    def log_emissions(self, words: Sequence[str]) -> np.ndarray:
        """log p(x_t | y) (T, K); -inf where a known word never had the tag."""
        t = self._tables()
        out = np.empty((len(words), self.num_tags))
        for i, w in enumerate(words):
            row = self._lexicon_row(w)
            if row is not None:
                with np.errstate(divide="ignore"):
                    out[i] = np.log(self._row("word", row)) - t["log_tag_tokens"]
                continue
            cached = t["unknown"].get(w)
            if cached is None:
                with np.errstate(divide="ignore", invalid="ignore"):
                    cached = np.log(self.suffix_distribution(w)) - t["log_prior"]
                cached = np.where(np.isfinite(t["log_prior"]), cached, -np.inf) + t["log_p_unk"]
                if len(t["unknown"]) >= UNKNOWN_CACHE:
                    t["unknown"].clear()
                t["unknown"][w] = cached
            out[i] = cached
        return out

    # --------------------------------------------------------------- inference
    def _extended(self, words: Sequence[str]) -> np.ndarray:
        """log emissions over the extended tag set (T, K+1): the boundary tag emits nothing."""
        e = np.full((len(words), self.num_tags + 1), -np.inf)
        e[:, : self.num_tags] = self.log_emissions(words)
        return e

    def _viterbi(self, words: Sequence[str]) -> list[int]:
        t, n, S = self._tables(), self.order, self.num_tags
        if len(words) == 0:
            return []
        log_a, e = t["log_trans"], self._extended(words)
        delta = np.full((S + 1,) * n, -np.inf)  # best log score of each state (y_{t-n+1}..y_t)
        delta[(S,) * n] = 0.0
        back = []
        for i in range(len(words)):
            scores = delta[..., None] + log_a  # (K+1,)*(n+1): [y_{t-n}, .., y_t]
            arg = scores.argmax(0)  # (K+1,)*n: the best y_{t-n} of every state
            delta = np.take_along_axis(scores, arg[None], 0)[0] + e[i]
            back.append(arg)
        final = delta + log_a[..., S]
        state = np.unravel_index(int(final.argmax()), final.shape)
        path = [int(s) for s in state]
        for i in range(len(words) - 1, n - 1, -1):
            prev = int(back[i][tuple(path[:n])])  # y_{i-n}
            path.insert(0, prev)
        return path[len(path) - len(words) :]

    def tag(self, sentences: Iterable[Sequence[str]]) -> list[list[int]]:
        """The Viterbi (most likely) tag ids of each sentence; [] for an empty one."""
        return [self._viterbi(list(words)) for words in sentences]

    def _forward_backward(self, words: Sequence[str]) -> tuple[np.ndarray, float]:
        """Posteriors (T, K) and log p(x_1..T), scaled forward-backward (Rabiner 1989):
        alpha^_t = alpha_t / (c_1..c_t), beta^_t = beta_t / (c_{t+1}..c_T c_end), so
        alpha^_t beta^_t = alpha_t beta_t / p(x) and log p(x) = sum_t (log c_t + m_t) +
        log c_end, with m_t the largest log emission of token t, taken out before exp."""
        t, n, S, T = self._tables(), self.order, self.num_tags, len(words)
        a, le = t["trans"], self._extended(words)
        m = le.max(1)  # (T,)
        e = np.exp(le - m[:, None])  # (T, K+1), each row's largest entry is 1
        alpha = np.zeros((S + 1,) * n)
        alpha[(S,) * n] = 1.0
        alphas, scales = [], []
        for i in range(T):
            # alpha_t(y_{t-n+1}..y_t) = sum_{y_{t-n}} alpha_{t-1} a(y_t | ..) e_t(y_t)
            alpha = (alpha[..., None] * a).sum(0) * e[i]
            scales.append(alpha.sum())
            alpha = alpha / scales[-1]
            alphas.append(alpha)
        c_end = float((alpha * a[..., S]).sum())
        log_px = float(np.sum(np.log(scales)) + m.sum() + np.log(c_end))
        beta = a[..., S] / c_end
        post = np.zeros((T, S))
        for i in range(T - 1, -1, -1):
            post[i] = (alphas[i] * beta).reshape(-1, S + 1).sum(0)[:S]
            # beta_{t-1}(y_{t-n}..y_{t-1}) = sum_{y_t} a(y_t | ..) e_t(y_t) beta_t(.., y_t)
            beta = (a * (e[i] * beta)[None]).sum(-1) / scales[i]
        return post, log_px

    def posteriors(self, words: Sequence[str]) -> np.ndarray:
        """p(y_t = k | x_1..T) (T, K) float64, the hidden path summed out; rows sum to 1."""
        return self._forward_backward(list(words))[0]

    def log_likelihood(self, words: Sequence[str]) -> float:
        """log p(x_1..T) = log sum_y p(x, y), the forward sum (natural log)."""
        return self._forward_backward(list(words))[1]

    def joint_log_prob(self, words: Sequence[str], tags: Sequence[int]) -> float:
        """log p(x_1..T, y_1..T) including the transition into the closing boundary tag."""
        expect(len(words) == len(tags),
               f"got {len(words)} words but {len(tags)} tags; give one tag per word")
        t, n, S = self._tables(), self.order, self.num_tags
        e = self.log_emissions(list(words))
        seq = [S] * n + [int(y) for y in tags] + [S]
        total = float(sum(e[i, y] for i, y in enumerate(seq[n:-1])))
        for i in range(n, len(seq)):
            total += float(t["log_trans"][tuple(seq[i - n : i + 1])])
        return total


def _case(word: str) -> str:
    """The suffix model's case class, stored as the first character of each suffix key."""
    return "C" if word[:1].isupper() else "c"


def _normalized(counts: np.ndarray) -> np.ndarray:
    return counts / counts.sum()
