"""Tagged sentences, the data side of the tag task (a part of the task layer, not a task):
reading the CoNLL-U files of a run, the validation split, and `Encoder`, the word, character
and tag vocabularies of the training words that turn sentences into `TagBatches`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rnnlab.config import RunConfig
    from rnnlab.data.batching import TagBatches


def read(cfg: RunConfig, path: str, what: str) -> list[tuple[list[str], list[str]]]:
    from rnnlab.data.readers import read_conllu

    return read_conllu(path, cfg.data.tag_column, what)  # type: ignore[return-value]


def splits(cfg: RunConfig) -> dict[str, list[tuple[list[str], list[str]]]]:
    import random

    d = cfg.data
    train = read(cfg, d.data, "--data")
    val = read(cfg, d.val_data, "--val-data") if d.val_data else []
    if not d.val_data and d.val_fraction > 0:
        order = list(range(len(train)))
        random.Random(d.split_seed).shuffle(order)
        n_val = round(len(train) * d.val_fraction)
        held = set(order[:n_val])
        val = [s for i, s in enumerate(train) if i in held]
        train = [s for i, s in enumerate(train) if i not in held]
    test = read(cfg, d.test_data, "--test-data") if d.test_data else []
    return {"train": train, "val": val, "test": test}


class Encoder:
    """Word and character vocabularies of the training words; sentences -> TagBatches."""

    def __init__(self, words: list[str], chars: list[str], tags: list[str]) -> None:
        from rnnlab.data.tokenizers import LabelVocab, Vocab

        self.words, self.chars = Vocab(words), Vocab(chars)
        self.tags = LabelVocab(tags)

    @classmethod
    def fit(cls, train: list[tuple[list[str], list[str]]]) -> Encoder:
        from rnnlab.data.tokenizers import Vocab

        words = Vocab.build(ws for ws, _ in train)
        chars = Vocab.build(w for ws, _ in train for w in ws)
        return cls(words.itos, chars.itos, [t for _, ts in train for t in ts])

    def to_dict(self) -> dict[str, Any]:
        return {"words": self.words.itos, "chars": self.chars.itos, "tags": self.tags.itos}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Encoder:
        return cls(d["words"], d["chars"], d["tags"])

    def batches(self, sentences: list[list[str]], tags: list[list[str]] | None,
                batch_size: int, shuffle: bool = False, seed: int = 0, what: str = "--data"
                ) -> TagBatches:
        from rnnlab.data.batching import TagBatches
        from rnnlab.models.tagger import cap_word

        table: dict[str, int] = {}
        forms = [[table.setdefault(w, len(table)) for w in ws] for ws in sentences]
        form_chars = [cap_word(self.chars.encode(w)) or [1] for w in table]
        ids = [self.words.encode(ws) for ws in sentences]
        tag_ids = ([self.tags.encode(ts, f"a tag of {what}") for ts in tags]
                   if tags is not None else None)
        return TagBatches(ids, forms, form_chars, tag_ids, batch_size, shuffle, seed)

    def word_freq(self, train: list[tuple[list[str], list[str]]]) -> list[int]:
        freq = [0] * len(self.words)
        for ws, _ in train:
            for i in self.words.encode(ws):
                freq[i] += 1
        return freq
