"""The most-frequent-tag baseline: each word's most frequent training tag; a word never seen
in training gets the most frequent tag overall. Counting only (no tensors, no nn.Module): it
is a figure `finish` computes beside the trained model, on the same split."""

from __future__ import annotations

from collections import Counter


class MostFrequentTag:
    def __init__(self) -> None:
        self.best: dict[str, int] = {}
        self.default = 0

    def fit(self, sentences: list[tuple[list[str], list[int]]]) -> MostFrequentTag:
        by_word: dict[str, Counter[int]] = {}
        overall: Counter[int] = Counter()
        for words, tags in sentences:
            for w, t in zip(words, tags, strict=True):
                by_word.setdefault(w, Counter())[t] += 1
                overall[t] += 1
        # ties go to the smaller tag id, so a fit is deterministic
        self.best = {w: min(c, key=lambda t: (-c[t], t)) for w, c in by_word.items()}
        self.default = min(overall, key=lambda t: (-overall[t], t)) if overall else 0
        return self

    def tag(self, sentences: list[list[str]]) -> list[list[int]]:
        return [[self.best.get(w, self.default) for w in words] for words in sentences]
