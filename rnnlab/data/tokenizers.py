"""Vocabularies and tokenizers: strings <-> token ids.

`Vocab` reserves four special tokens at fixed ids: `<pad>`=0, `<unk>`=1, `<bos>`=2, `<eos>`=3.
`CharTokenizer` splits text into characters, `WordTokenizer` on whitespace, `PunctTokenizer`
into words and punctuation marked for exact detokenization (translation). A `Tokenizer`
pairs a splitter with a fitted `Vocab` and travels inside every checkpoint (`to_dict`).

Encoding a split (`encode_split`) follows the data format: one id list per line, or one id
stream (word level: one `<eos>` per line). Large word-level training files are fitted and
encoded in one lazy pass each (`fit_tokenizer_streamed`, `encode_file_to_npy`), so the corpus
never has to fit in memory: the ids go to an int32 .npy opened as a memory map.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

from rnnlab.data.readers import iter_file_lines, text_lines
from rnnlab.errors import RnnlabError

if TYPE_CHECKING:
    import numpy as np

    from rnnlab.data.subword import SubwordSplitter

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS: tuple[str, ...] = (PAD, UNK, BOS, EOS)
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3

Level = Literal["char", "word", "punct", "subword"]


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


JOINER = "\uffed"  # "￭": glues a token to its neighbour (the OpenNMT Tokenizer's marker)
_PIECES = re.compile(r"\w+|[^\w\s]")  # runs of letters/digits, or one other character
_WORD = re.compile(r"\w")


class PunctTokenizer:
    """Words with punctuation split off, marked so that detokenization is exact for any
    language: a punctuation token that touched the word before it starts with JOINER, one
    that touched the word after it ends with JOINER; spaced punctuation stays bare.

        Go!            -> Go ￭!
        Va !           -> Va !            (French spacing is kept: a bare "!")
        J'ai 20 ans.   -> J ￭'￭ ai 20 ans ￭.
        Est-ce vrai ?  -> Est ￭-￭ ce vrai ?

    `join(split(t)) == t` for every text with single spaces and no JOINER (what
    `datasets.normalize` returns), so a hypothesis is scored as plain text."""

    level = "punct"

    @staticmethod
    def split(text: str) -> list[str]:
        out: list[str] = []
        for chunk in text.split():
            pieces = _PIECES.findall(chunk)
            words = [bool(_WORD.match(p)) for p in pieces]
            for k, piece in enumerate(pieces):
                if words[k]:  # words stay bare; each boundary's joiner sits on punctuation
                    out.append(piece)
                    continue
                left = k > 0  # touches the piece before (a word, or punctuation)
                right = k + 1 < len(pieces) and words[k + 1]
                out.append((JOINER if left else "") + piece + (JOINER if right else ""))
        return out

    @staticmethod
    def join(tokens: Sequence[str]) -> str:
        text, glue = "", True  # no space before the first token
        for tok in tokens:
            if tok.startswith(JOINER):
                glue = True
            text += ("" if glue else " ") + tok.strip(JOINER)
            glue = tok.endswith(JOINER) and len(tok) > 1
        return text


_SPLITTERS: dict[str, type[CharTokenizer] | type[WordTokenizer] | type[PunctTokenizer]] = {
    "char": CharTokenizer,
    "word": WordTokenizer,
    "punct": PunctTokenizer,
}


class Splitter(Protocol):
    """Text <-> tokens: the char/word/punct classes above, or a fitted SubwordSplitter."""

    def split(self, text: str) -> list[str]: ...

    def join(self, tokens: Sequence[str]) -> str: ...


class Tokenizer:
    """A splitter (char or word) with its fitted vocabulary."""

    def __init__(self, level: Level, vocab: Vocab, splitter: Splitter | None = None) -> None:
        if splitter is None and level not in _SPLITTERS:
            raise RnnlabError(f"tokenizer level must be one of {', '.join(_SPLITTERS)}, got "
                              f"{level!r}")
        self.level: Level = level
        self.splitter: Splitter = splitter if splitter is not None else _SPLITTERS[level]
        self.vocab = vocab

    @classmethod
    def fit_subword(cls, texts: Sequence[str], kind: str, vocab_size: int) -> Tokenizer:
        """SentencePiece pieces (`subword.SubwordSplitter`, 'bpe' or 'unigram') learned from
        `texts`; the vocabulary holds every piece the training texts use."""
        from rnnlab.data.subword import SubwordSplitter

        splitter = SubwordSplitter.train(texts, kind, vocab_size)
        vocab = Vocab.build(splitter.split(t) for t in texts)
        return cls("subword", vocab, splitter)

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

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"level": self.level, "tokens": list(self.vocab.itos)}
        if self.level == "subword":
            d.update(cast("SubwordSplitter", self.splitter).to_dict())
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Tokenizer:
        if d["level"] == "subword":
            from rnnlab.data.subword import SubwordSplitter

            return cls("subword", Vocab(d["tokens"]), SubwordSplitter.from_dict(d))
        return cls(d["level"], Vocab(d["tokens"]))


class LabelVocab:
    """Class labels <-> ids 0..K-1, in sorted order (the same labels give the same ids)."""

    def __init__(self, labels: Iterable[str]) -> None:
        self.itos = sorted(set(labels))
        self.stoi = {s: i for i, s in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, labels: Iterable[str], what: str = "label") -> list[int]:
        out = []
        for label in labels:
            if label not in self.stoi:
                shown = ", ".join(self.itos[:10]) + (" ..." if len(self.itos) > 10 else "")
                raise RnnlabError(f"{what} {label!r} is not a class the model knows ({shown}); "
                                  "use one of them or train with examples of it")
            out.append(self.stoi[label])
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"labels": list(self.itos)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LabelVocab:
        return cls(d["labels"])


# -- encoding splits -------------------------------------------------------------------------
DIRECTIONS = ("l2r", "r2l")


def unk_untrained(data: object) -> bool:
    """Whether a run's vocabulary (its data config: level, min_freq, max_vocab) holds every
    character of its training text, so `<unk>` never occurred in training: a character
    vocabulary that --min-freq and --max-vocab did not cut. Such a model refuses unseen
    characters, and its samplers never emit `<unk>`. (At word level unseen words are normal
    and read as `<unk>`.)"""
    return (getattr(data, "level", "word") != "word" and getattr(data, "min_freq", 1) == 1
            and getattr(data, "max_vocab", None) is None)


def fit_tokenizer(
    train: list[str] | str, level: Level, min_freq: int = 1, max_vocab: int | None = None
) -> Tokenizer:
    """The vocabulary of a training split. A stream is fitted whole: at character level its
    newlines are tokens too."""
    texts = train if isinstance(train, list) else [str(train)]
    tok = Tokenizer.fit(texts, level, min_freq, max_vocab)
    if len(tok) <= len(SPECIALS):
        raise RnnlabError("the training split holds no tokens; pass a file with text in it")
    return tok


def encode_line(tok: Tokenizer, line: str, direction: str = "l2r") -> list[int]:
    """One line's ids in reading order ("l2r") or reversed ("r2l")."""
    ids = tok.encode(line)
    return ids[::-1] if direction == "r2l" else ids


def encode_split(
    tok: Tokenizer, fmt: str, part: list[str] | str, direction: str = "l2r"
) -> list[list[int]] | list[int]:
    """lines -> one id list per line; text -> one id stream (word level: `<eos>` per line).

    `direction="r2l"` (the notes' order of decoding) reverses the tokens *within* each line
    and keeps the line order and every line's end marker (`<eos>` at word level, the newline
    at char level) at the end of its reversed line: `the cat sat <eos>` becomes
    `sat cat the <eos>`. The model then factorizes a corpus as prod_i p(reversed line i |
    earlier lines), still a proper distribution, and a single sentence's probability is
    p(w_n .. w_1 <eos> | <eos>), comparable with the l2r model's p(w_1 .. w_n <eos> | <eos>).
    """
    if fmt == "lines":
        return [encode_line(tok, line, direction) for line in part]
    if tok.level == "word":
        ids: list[int] = []
        for line in text_lines(str(part)):
            ids.extend(encode_line(tok, line, direction))
            ids.append(EOS_ID)
        return ids
    if direction == "r2l":  # characters: each line reversed, newlines in place
        return tok.encode("\n".join(line[::-1] for line in str(part).split("\n")))
    return tok.encode(str(part))


@dataclass
class FileStats:
    tokens: int = 0  # with one <eos> per line
    chars: int = 0  # of the text as `read_text` returns it
    sha256: str = ""


def fit_tokenizer_streamed(
    path: str, min_freq: int = 1, max_vocab: int | None = None
) -> tuple[Tokenizer, FileStats]:
    """Word vocabulary of a training file in one lazy pass, with its token count and digest."""
    if not Path(path).is_file():
        raise RnnlabError(f"--data: file {path!r} does not exist; check the path")
    stats, sha = FileStats(), hashlib.sha256()

    def words() -> Iterator[list[str]]:
        for line in iter_file_lines(path):
            sha.update(line.encode("utf-8") + b"\n")
            stats.chars += len(line) + 1
            w = line.split()
            stats.tokens += len(w) + 1
            yield w

    vocab = Vocab.build(words(), min_freq, max_vocab)
    stats.sha256 = sha.hexdigest()[:16]
    return Tokenizer("word", vocab), stats


def encode_file_to_npy(
    tok: Tokenizer, path: str, out: Path, n_tokens: int, direction: str = "l2r"
) -> np.ndarray:
    """Ids of a word-level text file (one `<eos>` per line) written into an int32 .npy of
    `n_tokens` entries in one lazy pass; returns it opened read-only as a memory map (N,)."""
    import numpy as np

    header = np.lib.format.open_memmap(out, mode="w+", dtype=np.int32, shape=(n_tokens,))
    offset = header.offset  # the .npy header's length; the ids follow it
    del header
    # plain writes, not writes through the map: written pages of a mapping count toward the
    # process's RSS until unmapped, pages written with write() stay in the kernel's cache
    pos, buf = 0, []
    with open(out, "r+b") as f:
        f.seek(offset)
        for line in iter_file_lines(path):
            buf.extend(encode_line(tok, line, direction))
            buf.append(EOS_ID)
            if len(buf) >= 1 << 20:  # ~4 MB pieces: memory stays flat
                f.write(np.asarray(buf, dtype=np.int32).tobytes())
                pos, buf = pos + len(buf), []
        f.write(np.asarray(buf, dtype=np.int32).tobytes())
    if pos + len(buf) != n_tokens:
        raise RnnlabError(f"{path!r} changed while it was being read; train again")
    return np.load(out, mmap_mode="r")
