"""Subword units (SentencePiece, Kudo & Richardson 2018): BPE or unigram pieces learned from
the training text, so that every word, unseen ones included, reads as known pieces.

`SubwordSplitter` has the splitters' interface (`split(text) -> pieces`, `join(pieces) ->
text`); `tokenizers.Tokenizer` pairs it with a `Vocab` of the pieces and keeps the trained
model's bytes in its `to_dict`, so a checkpoint decodes without the training data.
The `sentencepiece` package is a dependency of rnnlab (translation learns BPE pieces by
default; the extra `pip install 'rnnlab[subword]'` still names it); it trains offline from the
sentences given.

Memory of training: SentencePiece holds the sentences it learns from; at most
MAX_SENTENCES of them (a fixed random sample beyond that) are given to it.
"""

from __future__ import annotations

import base64
import io
import random
from collections.abc import Sequence
from typing import Any

from rnnlab.errors import RnnlabError

KINDS = ("bpe", "unigram")
MAX_SENTENCES = 1_000_000
MARK = "\u2581"  # SentencePiece's word-start marker


def _spm() -> Any:
    try:
        import sentencepiece
    except ImportError:
        raise RnnlabError("--subword needs the sentencepiece package, a dependency of "
                          "rnnlab that is missing here: pip install sentencepiece (or pip "
                          "install 'rnnlab[subword]'), or use --subword none") from None
    return sentencepiece


class SubwordSplitter:
    """Text <-> SentencePiece pieces of one trained model."""

    level = "subword"

    def __init__(self, model: bytes, kind: str) -> None:
        self.model, self.kind = model, kind
        self._sp = _spm().SentencePieceProcessor(model_proto=model)

    @classmethod
    def train(cls, texts: Sequence[str], kind: str, vocab_size: int,
              what: str = "--subword-vocab") -> SubwordSplitter:
        """Learn `vocab_size` pieces of kind 'bpe' or 'unigram' from `texts` (deterministic:
        one thread, a seeded sample past MAX_SENTENCES)."""
        if kind not in KINDS:
            raise RnnlabError(f"--subword must be one of none, {', '.join(KINDS)}; got {kind!r}")
        texts = [t for t in texts if t.strip()]
        if not texts:
            raise RnnlabError("--subword: the training part has no text to learn pieces from")
        if len(texts) > MAX_SENTENCES:
            texts = random.Random(0).sample(texts, MAX_SENTENCES)
        buf = io.BytesIO()
        try:
            _spm().SentencePieceTrainer.train(
                sentence_iterator=iter(texts), model_writer=buf, vocab_size=vocab_size,
                model_type=kind, character_coverage=1.0, normalization_rule_name="identity",
                bos_id=-1, eos_id=-1, num_threads=1, minloglevel=2,
                hard_vocab_limit=False, max_sentence_length=1 << 16)
        except RuntimeError as e:
            raise RnnlabError(f"{what} {vocab_size}: SentencePiece could not train on these "
                              f"{len(texts)} sentences ({e}); lower it") from None
        return cls(buf.getvalue(), kind)

    def split(self, text: str) -> list[str]:
        return list(self._sp.encode(text, out_type=str))

    def join(self, tokens: Sequence[str]) -> str:
        # pieces the vocabulary lacks decode as <unk>: keep them readable as such
        return "".join(tokens).replace(MARK, " ").strip()

    def to_dict(self) -> dict[str, str]:
        return {"subword": self.kind, "model": base64.b64encode(self.model).decode("ascii")}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SubwordSplitter:
        return cls(base64.b64decode(d["model"]), d["subword"])
