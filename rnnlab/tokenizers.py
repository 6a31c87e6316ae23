"""Vocabularies and tokenizers: strings <-> token ids.

`Vocab` reserves four special tokens at fixed ids: `<pad>`=0, `<unk>`=1, `<bos>`=2, `<eos>`=3.
`CharTokenizer` splits text into characters, `WordTokenizer` on whitespace. A `Tokenizer`
pairs a splitter with a fitted `Vocab` and travels inside every checkpoint (`to_dict`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Literal

from rnnlab.errors import RnnlabError

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS: tuple[str, ...] = (PAD, UNK, BOS, EOS)
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3

Level = Literal["char", "word"]


class Vocab:
    """An ordered token list; ids are positions. The first four entries are `SPECIALS`."""

    def __init__(self, tokens: Sequence[str]) -> None:
        if tuple(tokens[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"a Vocab must start with {SPECIALS}, got {tuple(tokens[:4])}")
        self.itos: list[str] = list(tokens)
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("a Vocab must not repeat a token")

    @classmethod
    def build(
        cls, sequences: Iterable[Sequence[str]], min_freq: int = 1, max_size: int | None = None
    ) -> Vocab:
        """Most frequent first (ties broken alphabetically so builds are deterministic)."""
        counts = Counter(tok for seq in sequences for tok in seq)
        for special in SPECIALS:
            counts.pop(special, None)
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        kept = [tok for tok, n in ranked if n >= min_freq]
        if max_size is not None:
            kept = kept[: max(0, max_size - len(SPECIALS))]
        return cls([*SPECIALS, *kept])

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Unknown tokens map to `<unk>`."""
        stoi = self.stoi
        return [stoi.get(t, UNK_ID) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.itos[i] for i in ids]

    def unknown(self, tokens: Iterable[str]) -> list[str]:
        """Distinct tokens of `tokens` missing from the vocabulary, in order of appearance."""
        seen: dict[str, None] = {}
        for t in tokens:
            if t not in self.stoi:
                seen.setdefault(t, None)
        return list(seen)


class CharTokenizer:
    """One token per Unicode character."""

    level: Level = "char"

    @staticmethod
    def split(text: str) -> list[str]:
        return list(text)

    @staticmethod
    def join(tokens: Sequence[str]) -> str:
        return "".join(tokens)


class WordTokenizer:
    """Whitespace-separated words (PTB style: `<unk>` in the text is the vocabulary's `<unk>`)."""

    level: Level = "word"

    @staticmethod
    def split(text: str) -> list[str]:
        return text.split()

    @staticmethod
    def join(tokens: Sequence[str]) -> str:
        return " ".join(tokens)


_SPLITTERS: dict[str, type[CharTokenizer] | type[WordTokenizer]] = {
    "char": CharTokenizer,
    "word": WordTokenizer,
}


class Tokenizer:
    """A splitter (char or word) with its fitted vocabulary."""

    def __init__(self, level: Level, vocab: Vocab) -> None:
        if level not in _SPLITTERS:
            raise RnnlabError(f"tokenizer level must be 'char' or 'word', got {level!r}")
        self.level: Level = level
        self.splitter = _SPLITTERS[level]
        self.vocab = vocab

    @classmethod
    def fit(
        cls, texts: Iterable[str], level: Level, min_freq: int = 1, max_size: int | None = None
    ) -> Tokenizer:
        splitter = _SPLITTERS[level]
        vocab = Vocab.build((splitter.split(t) for t in texts), min_freq, max_size)
        return cls(level, vocab)

    def __len__(self) -> int:
        return len(self.vocab)

    def split(self, text: str) -> list[str]:
        return self.splitter.split(text)

    def encode(self, text: str) -> list[int]:
        return self.vocab.encode(self.split(text))

    def encode_strict(self, text: str, what: str = "text") -> list[int]:
        """Encode, refusing tokens the model has never seen (for prompts)."""
        missing = self.vocab.unknown(self.split(text))
        if missing:
            shown = ", ".join(repr(t) for t in missing[:10])
            raise RnnlabError(
                f"{what} {text!r} contains {len(missing)} {self.level}(s) outside the model's "
                f"vocabulary ({shown}); use only {self.level}s seen in training"
            )
        return self.encode(text)

    def decode(self, ids: Iterable[int], strip_specials: bool = True) -> str:
        toks = self.vocab.decode(ids)
        if strip_specials:
            toks = [t for t in toks if t not in (PAD, BOS, EOS)]
        return self.splitter.join(toks)

    def to_dict(self) -> dict:
        return {"level": self.level, "tokens": list(self.vocab.itos)}

    @classmethod
    def from_dict(cls, d: dict) -> Tokenizer:
        return cls(d["level"], Vocab(d["tokens"]))
