"""Classification defaults (`--defaults auto`): the best recipe BENCHMARKS.md measured, for the
fields the user did not set, chosen by the kind of text.

Texts of several words (a mean of `WORD_MIN_TOKENS` or more whitespace tokens per training
example: reviews, messages, sentences) read as words with the MR row's recipe ("Classification:
sentence polarity (MR)": words seen twice or more, a bidirectional GRU with max pooling,
E = H = 128, dropout 0.5 on the states and on the embeddings, word dropout 0.25, the weights of
the lowest validation error rate kept, patience 8): 77.45% on 10 folds, against 73.4% for a
mean-pooled bi-GRU at dropout 0.2, 74.2% with dropout 0.5 and 76.4% with embedding dropout
added. Names and other one-
or two-token texts keep the character-level GRU of `--defaults fixed` (the names_by_language
rows: a character GRU at 81.6%, above character n-gram naive Bayes at 79.2%; a word vocabulary
of names would read every unseen name as <unk>).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

WORD_MIN_TOKENS = 3.0
# evaluations over a --max-time budget (the shared rule's 20 is for costlier validation)
BUDGET_EVALS = 50
# {section: {field: value}} of the MR recipe at word level
WORD_RECIPE: dict[str, dict[str, Any]] = {
    "data": {"level": "word", "min_freq": 2},
    "model": {"model": "gru", "bidirectional": True, "pool": "max", "embedding_dim": 128,
              "hidden_size": 128, "dropout": 0.5, "embedding_dropout": 0.5,
              "word_dropout": 0.25},
    "train": {"monitor": "error_rate", "patience": 8},
}


def mean_tokens(texts: Iterable[str]) -> float:
    """Mean whitespace tokens per text."""
    n = total = 0
    for t in texts:
        n += 1
        total += len(t.split())
    return total / max(n, 1)


def level_for(texts: Iterable[str]) -> str:
    """word for texts of several words, char for names and other short single tokens."""
    return "word" if mean_tokens(texts) >= WORD_MIN_TOKENS else "char"


def recipe(level: str, given: set[str]) -> dict[str, dict[str, Any]]:
    """The values for the fields not in `given` ("section.key") at `level`."""
    out: dict[str, dict[str, Any]] = {}
    if level == "word":
        for section, values in WORD_RECIPE.items():
            for key, value in values.items():
                if f"{section}.{key}" not in given:
                    out.setdefault(section, {})[key] = value
    return out
