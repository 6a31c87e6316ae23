"""Translation defaults (`--defaults auto`): the best recipe BENCHMARKS.md "Translation" measured
on more than one pair, applied to the fields the user did not set.

The recipe is `configs/translate_eng_fra.toml` with BPE pieces and no input feeding: it leads
on English-French at 60 CPU-minutes (40.0 BLEU beam 5 against 38.9 for words with input
feeding) and on held-out English-Swedish at 4 CPU-minutes (37.2 against 30.9). Its output
layer runs fused with the cross-entropy, its products in bfloat16 (`--fused-loss --precision
bf16-head`: 1.6x the steps per CPU-second; the recurrence stays float32) on a CPU that
multiplies bfloat16 natively (AVX512-BF16 or AMX); elsewhere bfloat16 is emulated, 12x slower
than float32 (AVX2, held-out English-Swedish: 6 steps against 77 in 15 CPU-s), so the
defaults keep float32 there (`trainer.native_bf16`). `--defaults fixed` keeps the
documented field defaults (words, input feeding, fp32, plain loss).

Pieces per side (`subword_pieces`): 8,000 (the measured rows), but never more than the side
has distinct whitespace words in the training part (more pieces than words only adds whole
words nobody reads twice) and never fewer than its distinct characters + 8 (SentencePiece
keeps a piece per character at coverage 1.0), nor than 16 (the flag's floor). A tiny pairs
file gets a small vocabulary that SentencePiece can learn.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

PIECES = 8000
# Word-level options: given by the user, they ask for words (subword stays "none").
WORD_FIELDS = ("data.min_freq", "data.max_vocab")
# {section: {field: value}} of the recipe (configs/translate_eng_fra.toml + the two flags).
RECIPE: dict[str, dict[str, Any]] = {
    "data": {"subword": "bpe"},
    "model": {"input_feeding": False},
    "train": {"batch_size": 64, "eval_batch_size": 64, "lr": 2e-3, "weight_decay": 0.01,
              "schedule": "cosine", "warmup": 100, "eval_every": 400, "patience": 6,
              "fused_loss": True, "precision": "bf16-head"},
}


def subword_pieces(texts: Iterable[str]) -> int:
    """Pieces to learn from one side's training sentences (the rule in the docstring)."""
    words: set[str] = set()
    chars: set[str] = set()
    for t in texts:
        words.update(t.split())
        chars.update(t)
    chars.discard(" ")
    return max(min(PIECES, len(words)), len(chars) + 8, 16)


def recipe(given: set[str]) -> dict[str, dict[str, Any]]:
    """The recipe's values for the fields not in `given` ("section.key" names)."""
    out: dict[str, dict[str, Any]] = {}
    for section, values in RECIPE.items():
        for key, value in values.items():
            name = f"{section}.{key}"
            if name in given or (key == "subword" and any(w in given for w in WORD_FIELDS)):
                continue
            out.setdefault(section, {})[key] = value
    return out
