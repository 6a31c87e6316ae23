"""Multinomial naive Bayes over character or word n-grams, and the majority-class baseline.

Shapes: N documents, K classes, F distinct features (n-grams) seen in training.

A document d is the bag of its n-gram features f with counts c_f(d). With N_k training
documents of class k (out of N), N_kf occurrences of feature f in them and add-alpha
smoothing over the training vocabulary of F features (Manning, Raghavan & Schuetze,
Introduction to Information Retrieval, 2008, ch. 13, eq. 13.3 and 13.7):

    P(k)       = N_k / N
    P(f | k)   = (N_kf + alpha) / (sum_g N_kg + alpha F)        alpha = 1: Laplace
    log P(k | d) = log P(k) + sum_f c_f(d) log P(f | k) - log Z(d)

where Z(d) normalizes over the K classes, computed in log space (log-sum-exp). Features not
seen in training are ignored at prediction, as scikit-learn's CountVectorizer +
MultinomialNB do. A class without training documents has P(k) = 0 and is never predicted.
Naive Bayes over n-grams is the strong count baseline for short-text classification and
sentiment (Wang & Manning 2012, "Baselines and Bigrams").

Memory: the fitted model holds one string per feature and a (K, F) int64 count table;
fitting adds a bounded buffer of feature ids (COUNT_BUFFER), never the corpus's n-gram list.
The model is an `nn.Module` without parameters so checkpoints treat it as every other model:
its tables travel as plain Python lists (`to_dict`, also its `get_extra_state`), readable
with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from torch import nn

from rnnlab.errors import RnnlabError

LEVELS = ("char", "word")
# Boundary marks around a text for character n-grams, so "^a" (a word-initial a) differs
# from "a" inside: control characters STX / ETX, which do not occur in ordinary text.
START, END = "\x02", "\x03"
COUNT_BUFFER = 1 << 20  # feature ids collected before they are added to the count table
SCORE_BUFFER = 1 << 22  # (document, feature) pairs scored at once in `predict_log_proba`


def ngrams(text: str, level: str = "char", n_min: int = 1, n_max: int = 3) -> list[str]:
    """The n-grams of `text` for n = n_min..n_max, shortest first, in text order.

    char: n-grams of START + text + END that hold at least one real character (so the marks
          alone are no feature): "ab", 1..2 -> a b ^a ab b$ (^ = START, $ = END).
    word: n-grams of whitespace-separated words joined by one space: "a b c", 1..2 ->
          a b c "a b" "b c". No marks: a word n-gram is already a multi-character unit.
    """
    _check_range(level, n_min, n_max)
    if level == "char":
        units: Sequence[str] = START + text + END
        first, last = 1, len(units) - 1  # positions of real characters: [first, last)
    else:
        units = text.split()
        first, last = 0, len(units)
    sep = "" if level == "char" else " "
    out: list[str] = []
    if first >= last:  # no real characters or words: no features
        return out
    for n in range(n_min, n_max + 1):
        for i in range(len(units) - n + 1):
            if i + n <= first or i >= last:  # the window holds marks only
                continue
            out.append(sep.join(units[i : i + n]))
    return out


def majority_class(labels: Sequence[int]) -> int:
    """The most frequent label (the smallest id among ties): the floor every model must beat."""
    if len(labels) == 0:
        raise RnnlabError("majority_class needs at least one label, got none; check the split")
    counts = Counter(int(y) for y in labels)
    return min(counts, key=lambda y: (-counts[y], y))


class NaiveBayes(nn.Module):
    def __init__(
        self, level: str = "char", n_min: int = 1, n_max: int = 3, alpha: float = 1.0
    ) -> None:
        super().__init__()
        _check_range(level, n_min, n_max)
        if not alpha > 0:
            raise RnnlabError(
                f"naive Bayes smoothing needs alpha > 0, got {alpha}; alpha = 1 is Laplace"
            )
        self.hparams = dict(level=level, n_min=n_min, n_max=n_max, alpha=float(alpha))
        self.level, self.n_min, self.n_max, self.alpha = level, n_min, n_max, float(alpha)
        self.num_classes = 0
        self.index: dict[str, int] = {}  # feature -> column of the count table
        self.counts = np.zeros((0, 0), dtype=np.int64)  # (K, F) N_kf
        self.class_counts = np.zeros(0, dtype=np.int64)  # (K,) N_k
        self._log_theta: np.ndarray | None = None  # (K, F) log P(f | k), cached

    @property
    def fitted(self) -> bool:
        return self.num_classes > 0

    def features(self, text: str) -> list[str]:
        return ngrams(text, self.level, self.n_min, self.n_max)

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, texts: Sequence[str], labels: Sequence[int], num_classes: int) -> NaiveBayes:
        """Count features per class; replaces any earlier fit. Returns self."""
        if len(texts) != len(labels) or len(texts) == 0:
            raise RnnlabError(
                f"naive Bayes needs one label per text and at least one text, got "
                f"{len(texts)} texts and {len(labels)} labels; check the data reader"
            )
        if num_classes < 2:
            raise RnnlabError(f"a classifier needs num_classes >= 2, got {num_classes}")
        bad = [y for y in labels if not 0 <= int(y) < num_classes]
        if bad:
            raise RnnlabError(
                f"labels must lie in 0..{num_classes - 1}, got {int(bad[0])}; encode labels "
                "with the label vocabulary"
            )
        self.num_classes = num_classes
        self.index = {}
        self.counts = np.zeros((num_classes, 0), dtype=np.int64)
        self.class_counts = np.bincount(np.asarray(labels, dtype=np.int64),
                                        minlength=num_classes)
        ids: list[int] = []
        rows: list[int] = []
        for text, y in zip(texts, labels, strict=True):
            for g in self.features(text):
                ids.append(self.index.setdefault(g, len(self.index)))
            rows.extend([int(y)] * (len(ids) - len(rows)))
            if len(ids) >= COUNT_BUFFER:
                self._add(rows, ids)
                ids, rows = [], []
        self._add(rows, ids)
        self._log_theta = None
        return self

    def _add(self, rows: list[int], ids: list[int]) -> None:
        F = len(self.index)
        if self.counts.shape[1] < F:  # new features since the last flush: widen the table
            grown = np.zeros((self.num_classes, F), dtype=np.int64)
            grown[:, : self.counts.shape[1]] = self.counts
            self.counts = grown
        if ids:
            flat = np.asarray(rows, dtype=np.int64) * F + np.asarray(ids, dtype=np.int64)
            self.counts += np.bincount(flat, minlength=self.num_classes * F).reshape(-1, F)

    # -- prediction ------------------------------------------------------------------------
    def log_theta(self) -> np.ndarray:
        """log P(f | k) (K, F), float64."""
        if self._log_theta is None:
            F = self.counts.shape[1]
            totals = self.counts.sum(1, keepdims=True)  # (K, 1)
            self._log_theta = np.log(self.counts + self.alpha) - np.log(totals + self.alpha * F)
        return self._log_theta

    def log_prior(self) -> np.ndarray:
        """log P(k) (K,); -inf for a class without training documents."""
        with np.errstate(divide="ignore"):
            return np.log(self.class_counts) - np.log(self.class_counts.sum())

    def joint_log_likelihood(self, texts: Sequence[str]) -> np.ndarray:
        """log P(k) + sum_f c_f(d) log P(f | k) (N, K), unnormalized."""
        if not self.fitted:
            raise RnnlabError("this naive Bayes model is not fitted; call fit(texts, labels, K)")
        log_theta = self.log_theta()
        out = np.empty((len(texts), self.num_classes))
        start = 0
        while start < len(texts):
            # documents in chunks of at most SCORE_BUFFER known features: the gathered
            # (K, pairs) block stays bounded whatever N is
            docs: list[int] = []
            ids: list[int] = []
            stop = start
            while stop < len(texts) and (stop == start or len(ids) < SCORE_BUFFER):
                known = [self.index[g] for g in self.features(texts[stop]) if g in self.index]
                ids.extend(known)
                docs.extend([stop - start] * len(known))
                stop += 1
            n = stop - start
            d = np.asarray(docs, dtype=np.int64)
            picked = log_theta[:, np.asarray(ids, dtype=np.int64)]  # (K, pairs)
            for k in range(self.num_classes):
                out[start:stop, k] = np.bincount(d, weights=picked[k], minlength=n)
            start = stop
        return out + self.log_prior()  # (N, K)

    def predict_log_proba(self, texts: Sequence[str]) -> np.ndarray:
        """log P(k | d) (N, K), normalized: exp sums to 1 over k."""
        jll = self.joint_log_likelihood(texts)
        m = jll.max(1, keepdims=True)  # finite: some class has documents
        return jll - (m + np.log(np.exp(jll - m).sum(1, keepdims=True)))

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """The most probable class per text (N,) int64."""
        return self.joint_log_likelihood(texts).argmax(1).astype(np.int64)

    # -- serialization ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain Python (str, int, float, lists): hparams, features and sparse counts."""
        order = sorted(self.index, key=self.index.__getitem__)
        rows = []
        for k in range(self.num_classes):
            nz = np.flatnonzero(self.counts[k])  # a feature's count is zero in most classes
            rows.append([nz.tolist(), self.counts[k, nz].tolist()])
        return {**self.hparams, "num_classes": self.num_classes, "features": order,
                "class_counts": self.class_counts.tolist(), "counts": rows}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NaiveBayes:
        model = cls(d["level"], d["n_min"], d["n_max"], d["alpha"])
        model._load_tables(d)
        return model

    def _load_tables(self, d: dict[str, Any]) -> None:
        self.num_classes = int(d["num_classes"])
        self.index = {g: i for i, g in enumerate(d["features"])}
        self.class_counts = np.asarray(d["class_counts"], dtype=np.int64)
        self.counts = np.zeros((self.num_classes, len(self.index)), dtype=np.int64)
        for k, (cols, vals) in enumerate(d["counts"]):
            self.counts[k, np.asarray(cols, dtype=np.int64)] = np.asarray(vals, dtype=np.int64)
        self._log_theta = None

    # the tables ride in the state dict, so rebuild(class, hparams) + load_state_dict works
    def get_extra_state(self) -> dict[str, Any]:
        return self.to_dict()

    def set_extra_state(self, state: dict[str, Any]) -> None:
        for key in self.hparams:
            if state[key] != self.hparams[key]:
                raise RnnlabError(
                    f"naive Bayes tables were fitted with {key}={state[key]!r}, the model has "
                    f"{self.hparams[key]!r}; rebuild the model from the checkpoint's hparams"
                )
        self._load_tables(state)


def _check_range(level: str, n_min: int, n_max: int) -> None:
    if level not in LEVELS:
        raise RnnlabError(f"n-gram level must be 'char' or 'word', got {level!r}")
    if not 1 <= n_min <= n_max:
        raise RnnlabError(
            f"n-gram range needs 1 <= n_min <= n_max, got {n_min}..{n_max}; e.g. 1..3 for "
            "characters, 1..2 for words"
        )
