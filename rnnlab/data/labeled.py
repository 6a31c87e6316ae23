"""Labeled examples, shared by the tasks that read them (classify, conditional): the data
config, the readers by format, the split (stratified, explicit files, or a --cv fold).

A part of the task layer, not a task: it holds what two tasks would otherwise each write.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from rnnlab.config import BIG, param
from rnnlab.errors import RnnlabError

if TYPE_CHECKING:
    from rnnlab.data.tokenizers import LabelVocab, Level, Tokenizer

Example = tuple[str, str]  # (text, label)


@dataclass
class LabeledDataConfig:
    data: str | None = param(None, "tsv: a file of TEXT<TAB>LABEL lines; folder: a folder of "
                             "one file per label, one example per line", input=True)
    format: str = param("tsv", "tsv (label in --label-column) or folder (label = file stem, or "
                        "suffix when the files share a stem)", choices=("tsv", "folder"))
    label_column: int = param(-1, "tsv: the label's column (0-based)", ge=0, le=1 << 16,
                              special={-1: "the last column"})
    glob: str = param("*.txt", "folder: which files are classes, e.g. 'rt-polarity.*'")
    encoding: str = param("utf-8", "text encoding of the files, e.g. cp1252")
    level: str = param("char", "char or word tokens", choices=("char", "word"))
    val_data: str | None = param(None, "explicit validation file (else a stratified split)",
                                 input=True)
    test_data: str | None = param(None, "explicit test file", input=True)
    split_seed: int = param(1337, "seed of the stratified split and the folds", ge=0,
                            le=(1 << 63) - 1)
    val_fraction: float = param(0.1, "validation fraction of each class", ge=0, lt=1)
    test_fraction: float = param(0.1, "test fraction of each class", ge=0, lt=1)
    dedupe: bool = param(True, "drop exact duplicate (text, label) examples before splitting")
    min_freq: int = param(1, "drop tokens rarer than this from the vocabulary", ge=1, le=BIG)
    max_vocab: int | None = param(None, "keep at most this many tokens (specials included)",
                                  ge=5, le=BIG)


def read(d: LabeledDataConfig, path: str, what: str) -> list[Example]:
    from rnnlab.data.readers import read_labeled_folder, read_labeled_tsv

    if d.format == "folder":
        return read_labeled_folder(path, d.glob, d.encoding, what)
    return read_labeled_tsv(path, d.label_column, d.encoding, what)


def splits(d: LabeledDataConfig) -> tuple[dict[str, list[Example]], dict[str, Any]]:
    """The train/val/test examples and a record of how they were made."""
    from rnnlab.data.readers import dedupe, stratified_folds, stratified_split

    examples, report = dedupe(read(d, cast(str, d.data), "--data"), drop=d.dedupe)
    if d.val_data or d.test_data:
        parts = {"train": examples,
                 "val": read(d, d.val_data, "--val-data") if d.val_data else [],
                 "test": read(d, d.test_data, "--test-data") if d.test_data else []}
        method = "explicit files"
    elif getattr(d, "cv", None) is not None:
        folded: Any = d  # a DataConfig that adds cv and fold (classify's)
        if folded.cv > len(examples):
            raise RnnlabError(f"--cv {folded.cv}: the data holds {len(examples)} examples (after "
                              f"deduplication), too few for {folded.cv} test folds; use --cv "
                              f"{max(2, min(10, len(examples)))} or fewer folds")
        folds = stratified_folds(examples, folded.cv, d.split_seed)
        k = folded.fold or 0
        rest = [ex for i, f in enumerate(folds) if i != k for ex in f]
        train, val, _ = stratified_split(rest, d.split_seed, d.val_fraction, 0.0)
        parts = {"train": train, "val": val, "test": folds[k]}
        method = (f"stratified {folded.cv}-fold, fold {k} is test; validation from the other "
                  "folds")
    else:
        train, val, test = stratified_split(examples, d.split_seed, d.val_fraction,
                                            d.test_fraction)
        parts = {"train": train, "val": val, "test": test}
        method = ("stratified: each class shuffled with random.Random(split_seed), "
                  "test | val | train")
    train_texts = {t for t, _ in parts["train"]}
    record = {"source": d.data, "format": d.format, "method": method, "dedupe": report,
              "split_seed": d.split_seed,
              "sizes": {k: len(v) for k, v in parts.items()},
              "test_in_train": sum(t in train_texts for t, _ in parts["test"])}
    return parts, record


def check_labeled(d: LabeledDataConfig, given: set[str] | None, task: str) -> None:
    """Combinations of the labeled-data fields."""
    if d.data is None:
        raise RnnlabError(f"--task {task} needs --data: a TEXT<TAB>LABEL file (--format tsv) "
                          "or a folder of one file per label (--format folder)")
    if d.val_fraction + d.test_fraction >= 1:
        raise RnnlabError(f"--val-fraction {d.val_fraction} + --test-fraction "
                          f"{d.test_fraction} must be < 1 to leave training data; lower them")
    if given:
        if d.format == "tsv" and "data.glob" in given:
            raise RnnlabError("--glob applies to --format folder; drop it")
        if d.format == "folder" and "data.label_column" in given:
            raise RnnlabError("--label-column applies to --format tsv; drop it")


def vocabularies(d: LabeledDataConfig, parts: dict[str, list[Example]],
                 resume: dict[str, Any] | None) -> tuple[Tokenizer, LabelVocab, Counter[str]]:
    """The tokenizer and LabelVocab of the training part (the checkpoint's on resume, never
    refitted) and the class counts of the training part."""
    from rnnlab.data.tokenizers import LabelVocab, Tokenizer

    counts = Counter(label for _, label in parts["train"])
    if resume is not None:
        return (Tokenizer.from_dict(resume["tokenizer"]),
                LabelVocab.from_dict(resume["labels"]), counts)
    tok = Tokenizer.fit([t for t, _ in parts["train"]], cast("Level", d.level), d.min_freq,
                        d.max_vocab)
    return tok, LabelVocab(counts), counts


def encoded(parts: dict[str, list[Example]], part: str, tok: Tokenizer, labels: LabelVocab
            ) -> tuple[list[list[int]], list[int]] | None:
    """(token ids, class ids) of one part, or None when it is empty."""
    exs = parts[part]
    if not exs:
        return None
    y = labels.encode((lab for _, lab in exs), f"a label of the {part} part")
    return [tok.encode(t) for t, _ in exs], y
