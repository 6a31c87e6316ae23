"""Readers: files (or embedded sources) -> Python strings. No tensors here.

- `read_text(path)`: one long stream (`--format text`)
- `read_lines(path)`: one example per line (`--format lines`); every line counts, blank ones too
- `embedded_names()`: real Spanish first names from the `faker` package (no network)
- `split_lines`, `split_text`: the deterministic seeded train/val/test splits
- `load_splits(data_config)`: the train/val/test parts a language-model run reads
- `iter_file_lines(path)`: a large file's lines, lazily (the streamed word-level path)
- `read_labeled(path, format, ...)`: (text, label) examples from tab-separated lines or a
  folder of one file per label; `dedupe`, `stratified_split`, `stratified_folds`
- `read_conllu(path, tag_column)`: (words, tags) sentences of a CoNLL-U file (the `conllu`
  library parses it); `write_conllu_tags` fills the tag column of the file's own lines;
  `read_token_lines`: plain text, one sentence per line, whitespace tokens
- `read_pairs(path, src_col, tgt_col)`: (source, target) sentence pairs, `normalize`d;
  `grouped_split`: train/val/test with every source sentence in one part only
"""

from __future__ import annotations

import hashlib
import importlib
import io
import pkgutil
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

from rnnlab.errors import RnnlabError

EMBEDDED_NAMES = "embedded:spanish-names"


def read_text(path: str | Path, what: str = "--data", encoding: str = "utf-8") -> str:
    """Read a text file (UTF-8 unless `encoding` says otherwise), refusing missing, empty,
    binary and undecodable files."""
    p = Path(path)
    if not p.exists():
        raise RnnlabError(f"{what}: file {str(p)!r} does not exist; check the path")
    if p.is_dir():
        raise RnnlabError(f"{what}: {str(p)!r} is a directory; pass a text file")
    raw = p.read_bytes()
    if not raw.strip():
        raise RnnlabError(f"{what}: file {str(p)!r} is empty; pass a file with text in it")
    if b"\x00" in raw[:65536]:
        raise RnnlabError(
            f"{what}: file {str(p)!r} looks binary (it contains NUL bytes); pass a UTF-8 text file"
        )
    try:
        text = raw.decode(encoding)
    except LookupError:
        raise RnnlabError(f"--encoding {encoding!r} is not a codec Python knows; e.g. utf-8, "
                          "cp1252, latin-1") from None
    except UnicodeDecodeError as e:
        name = "UTF-8" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
        raise RnnlabError(
            f"{what}: file {str(p)!r} is not valid {name} (bad byte at offset {e.start}); "
            "convert it, e.g. `iconv -f latin1 -t utf-8` (labeled data for classify and "
            "conditional also takes --encoding, e.g. cp1252)"
        ) from None
    return text.replace("\r\n", "\n")


def read_lines(path: str | Path, what: str = "--data", encoding: str = "utf-8") -> list[str]:
    """One example per line, split on "\n" only (str.splitlines would also split on the
    form feeds and NELs a cp1252 text holds). A final newline starts no extra example."""
    text = read_text(path, what, encoding)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def embedded_names() -> list[str]:
    """Distinct first names of faker's Spanish-language person providers (es_ES, es_MX, es_AR,
    es_CO, es_CL, ...), sorted. Real names, shipped with the package: no download."""
    import faker.providers.person as person

    names: set[str] = set()
    for mod in pkgutil.iter_modules(person.__path__):
        if not mod.name.startswith("es"):
            continue
        provider = importlib.import_module(f"faker.providers.person.{mod.name}").Provider
        for attr in ("first_names", "first_names_male", "first_names_female"):
            for klass in provider.__mro__:  # some locales define these as properties
                value = klass.__dict__.get(attr)
                if isinstance(value, dict | list | tuple):
                    names.update(str(n).strip() for n in value)
                    break
    return sorted(n for n in names if n)


def split_sizes(n: int, val_size: int | None, test_size: int | None) -> tuple[int, int]:
    """Default: 1000 each, at most 10% of the examples each."""
    default = min(1000, n // 10)
    return (default if val_size is None else val_size, default if test_size is None else test_size)


def split_lines(
    lines: list[str], seed: int, val_size: int | None = None, test_size: int | None = None
) -> tuple[list[str], list[str], list[str]]:
    """Shuffle a copy with `random.Random(seed)`; test = first `test_size`, val = next
    `val_size`, train = the rest. The same seed gives every model the same split."""
    n_val, n_test = split_sizes(len(lines), val_size, test_size)
    if n_val < 0 or n_test < 0 or n_val + n_test >= len(lines):
        raise RnnlabError(
            f"split sizes val={n_val} test={n_test} leave no training data out of {len(lines)} "
            "examples; lower --val-size/--test-size"
        )
    shuffled = list(lines)
    random.Random(seed).shuffle(shuffled)
    test = shuffled[:n_test]
    val = shuffled[n_test : n_test + n_val]
    return shuffled[n_test + n_val :], val, test


def split_text(text: str, val_fraction: float, test_fraction: float) -> tuple[str, str, str]:
    """Contiguous split of a stream (never shuffled: neighbouring text is correlated):
    train | val | test, cut at line breaks where there are any."""
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise RnnlabError(
            f"--val-fraction {val_fraction} and --test-fraction {test_fraction} must be in [0, 1) "
            "and leave training data"
        )
    n = len(text)

    def cut(pos: int) -> int:
        nl = text.rfind("\n", 0, pos)
        return nl + 1 if nl > 0 and pos - nl < 10_000 else pos

    a = cut(int(n * (1 - val_fraction - test_fraction)))
    b = cut(int(n * (1 - test_fraction)))
    return text[:a], text[a:b], text[b:]


def text_lines(text: str) -> list[str]:
    """A text's lines; a final newline ends the last line rather than starting an empty one
    (so PTB gets one `<eos>` per line: 929,589 training tokens)."""
    lines = text.split("\n")
    if lines[-1] == "":  # also: the empty text has no lines
        lines.pop()
    return lines


def iter_file_lines(path: str | Path) -> Iterator[str]:
    """A text file's lines without their line end, read lazily; the same lines as
    `text_lines(read_text(path))`."""
    with open(path, "rb") as f:
        for raw in f:
            yield raw.rstrip(b"\n").removesuffix(b"\r").decode("utf-8")


@dataclass
class Splits:
    """Raw text of each split: a list of lines (`lines`) or one string each (`text`)."""

    train: list[str] | str
    val: list[str] | str
    test: list[str] | str
    source: str


def read_part(path: str, fmt: str, what: str) -> list[str] | str:
    return read_lines(path, what) if fmt == "lines" else read_text(path, what)


class SplitConfig(Protocol):
    """The fields of a language-model data config (`rnnlab.tasks.lm.DataConfig`) that
    `load_splits` reads."""

    data: str | None
    format: str
    val_data: str | None
    test_data: str | None
    split_seed: int
    val_size: int | None
    test_size: int | None
    val_fraction: float
    test_fraction: float


def load_splits(dc: SplitConfig, read_train: bool = True) -> Splits:
    """The raw splits of a language-model data config (`rnnlab.tasks.lm.DataConfig`):
    explicit files, or a seeded split of `dc.data`. `read_train=False` leaves an explicit
    training file unread ("") for the streaming path."""
    train: list[str] | str
    val: list[str] | str
    test: list[str] | str
    if dc.data is None:
        lines = embedded_names()
        train, val, test = split_lines(lines, dc.split_seed, dc.val_size, dc.test_size)
        return Splits(train, val, test, EMBEDDED_NAMES)
    explicit = dc.val_data is not None or dc.test_data is not None
    full = read_part(dc.data, dc.format, "--data") if read_train or not explicit else ""
    if explicit:
        empty: list[str] | str = [] if dc.format == "lines" else ""
        val = read_part(dc.val_data, dc.format, "--val-data") if dc.val_data else empty
        test = read_part(dc.test_data, dc.format, "--test-data") if dc.test_data else empty
        return Splits(full, val, test, dc.data)
    if dc.format == "lines":
        train, val, test = split_lines(cast(list[str], full), dc.split_seed, dc.val_size,
                                       dc.test_size)
    else:
        train, val, test = split_text(str(full), dc.val_fraction, dc.test_fraction)
    return Splits(train, val, test, dc.data)


def digest(part: list[str] | str) -> str:
    """First 16 hex digits of the sha256 of a split's text (recorded in split.json)."""
    text = "\n".join(part) if isinstance(part, list) else part
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# -- labeled examples (classification, conditional generation) -------------------------------
Example = tuple[str, str]  # (text, label)


def read_labeled_tsv(path: str | Path, label_column: int = -1, encoding: str = "utf-8",
                     what: str = "--data") -> list[Example]:
    """Tab-separated lines: the label in column `label_column` (default the last), the text
    the other columns joined by a tab. Blank lines are skipped."""
    out = []
    for i, line in enumerate(read_lines(path, what, encoding)):
        if not line.strip():
            continue
        cols = line.split("\t")
        if len(cols) < 2:
            raise RnnlabError(
                f"{what}: line {i + 1} of {str(path)!r} has no tab; --format tsv needs "
                "TEXT<TAB>LABEL (or --label-column N); use --format folder for one file per "
                "label"
            )
        try:
            label = cols.pop(label_column)
        except IndexError:
            raise RnnlabError(
                f"--label-column {label_column}: line {i + 1} of {str(path)!r} has {len(cols)} "
                f"columns; choose a column in [0, {len(cols) - 1}] or -1 for the last"
            ) from None
        out.append(("\t".join(cols), label.strip()))
    return out


def read_labeled_folder(path: str | Path, glob: str = "*.txt", encoding: str = "utf-8",
                        what: str = "--data") -> list[Example]:
    """A folder of one file per label, one example per line. The label is the file stem
    (names_by_language/Arabic.txt -> Arabic), or the suffix when every matched file shares
    one stem (sentiment_mr/rt-polarity.pos -> pos)."""
    p = Path(path)
    if not p.is_dir():
        raise RnnlabError(f"{what}: {str(p)!r} is not a folder; --format folder reads a folder "
                          "of one file per label (or use --format tsv for one file)")
    files = sorted(f for f in p.glob(glob) if f.is_file())
    if not files:
        raise RnnlabError(f"--glob {glob!r} matches no file in {str(p)!r}; e.g. --glob '*.txt'")
    by_suffix = len(files) > 1 and len({f.stem for f in files}) == 1
    out = []
    for f in files:
        label = f.suffix.lstrip(".") if by_suffix else f.stem
        out += [(line, label) for line in read_lines(f, what, encoding) if line.strip()]
    return out


def dedupe(examples: list[Example], drop: bool = True) -> tuple[list[Example], dict[str, int]]:
    """Count exact duplicates (same text and label) and conflicts (same text, other labels);
    with `drop`, keep the first of each exact duplicate. Conflicting texts are kept (each
    label once): they are the data's own ambiguity."""
    seen: set[Example] = set()
    labels_of: dict[str, set[str]] = {}
    kept = []
    for ex in examples:
        labels_of.setdefault(ex[0], set()).add(ex[1])
        if ex in seen and drop:
            continue
        seen.add(ex)
        kept.append(ex)
    report = {"examples": len(examples), "distinct": len(seen),
              "duplicates": len(examples) - len(seen),
              "conflicting_texts": sum(len(v) > 1 for v in labels_of.values()),
              "kept": len(kept)}
    return kept, report


def _by_label(examples: list[Example], seed: int) -> dict[str, list[Example]]:
    groups: dict[str, list[Example]] = {}
    for ex in examples:
        groups.setdefault(ex[1], []).append(ex)
    rng = random.Random(seed)
    for label in sorted(groups):
        rng.shuffle(groups[label])
    return {k: groups[k] for k in sorted(groups)}


def stratified_split(
    examples: list[Example], seed: int, val_fraction: float, test_fraction: float
) -> tuple[list[Example], list[Example], list[Example]]:
    """Each label's examples shuffled with random.Random(seed) and cut test | val | train by
    the fractions (rounded, at least one example of a class that has three or more), so every
    split holds each class in proportion. A class with one or two examples goes to train."""
    train, val, test = [], [], []
    for group in _by_label(examples, seed).values():
        n = len(group)
        n_test = max(1, round(n * test_fraction)) if n >= 3 and test_fraction > 0 else 0
        n_val = max(1, round(n * val_fraction)) if n >= 3 and val_fraction > 0 else 0
        test += group[:n_test]
        val += group[n_test : n_test + n_val]
        train += group[n_test + n_val :]
    return train, val, test


def stratified_folds(examples: list[Example], k: int, seed: int) -> list[list[Example]]:
    """K disjoint folds, each label dealt round-robin after a seeded shuffle."""
    folds: list[list[Example]] = [[] for _ in range(k)]
    offset = 0
    for group in _by_label(examples, seed).values():
        for i, ex in enumerate(group):
            folds[(offset + i) % k].append(ex)
        offset += len(group)  # the next class starts where this one stopped: even sizes
    return folds


# -- CoNLL-U (tagging) -----------------------------------------------------------------------
TAG_COLUMNS = {"upos": 3, "xpos": 4}  # 0-based column of a CoNLL-U token line
Tagged = tuple[list[str], list[str] | None]  # (words, tags); tags None when not required


def _is_word(token_id: object) -> bool:
    """Syntactic words have integer ids; `1-2` (multiword token, a tuple) and `8.1` (empty
    node) are kept in files but never tagged."""
    return isinstance(token_id, int)


def read_conllu(path: str | Path, tag_column: str = "upos", what: str = "--data",
                need_tags: bool = True) -> list[Tagged]:
    """The sentences of a CoNLL-U file as (word forms, tags of `tag_column`), syntactic words
    only. With `need_tags` a file whose tag column is `_` on some word is refused."""
    import conllu
    from conllu.exceptions import ParseException

    text = read_text(path, what)
    col = TAG_COLUMNS[tag_column]
    _check_columns(text, path, what)
    out: list[Tagged] = []
    try:
        for sent in conllu.parse_incr(io.StringIO(text)):
            words = [t for t in sent if _is_word(t["id"])]
            if not words:
                continue
            tags = [t[tag_column] for t in words]
            if need_tags and any(tag in (None, "_") for tag in tags):
                sid = sent.metadata.get("sent_id", str(len(out) + 1))
                raise RnnlabError(
                    f"{what}: {str(path)!r} has no {tag_column.upper()} (column {col + 1} is "
                    f"`_`) in sentence {sid!r}; train on a file whose --tag-column "
                    f"{tag_column} is filled, or pick the other --tag-column")
            out.append(([t["form"] for t in words], tags if need_tags else None))
    except ParseException as e:
        raise RnnlabError(f"{what}: {str(path)!r} is not CoNLL-U ({e}); pass a .conllu file "
                          "or, for predict, plain text with --format text") from None
    if not out:
        raise RnnlabError(f"{what}: {str(path)!r} holds no CoNLL-U sentence; pass a .conllu "
                          "file with 10 tab-separated columns per word")
    return out


def _check_columns(text: str, path: str | Path, what: str) -> None:
    """Every token line has the 10 tab-separated columns of CoNLL-U (the parser accepts
    shorter lines and would fill the missing ones with nothing)."""
    for i, line in enumerate(text.split("\n")):
        if line and not line.startswith("#") and line.count("\t") != 9:
            raise RnnlabError(
                f"{what}: line {i + 1} of {str(path)!r} has {line.count(chr(9)) + 1} "
                "tab-separated columns, not the 10 of CoNLL-U; pass a .conllu file (or, "
                "for predict, plain text with --format text)")


def write_conllu_tags(text: str, tags: list[list[str]], tag_column: str = "upos") -> str:
    """`text` (a CoNLL-U file's content) with the tag column of sentence k's syntactic words
    replaced by `tags[k]`; every other byte (comments, multiword tokens, empty nodes, the
    other columns) as it was. The file's own lines are rewritten because `conllu`'s
    serializer drops comments that are not `key = value`."""
    col = TAG_COLUMNS[tag_column]
    out, k, j = [], 0, 0  # sentence k, its word j
    for line in text.split("\n"):
        if line and not line.startswith("#"):
            cols = line.split("\t")
            if cols[0].isdigit():
                if k >= len(tags) or j >= len(tags[k]):
                    raise RnnlabError(f"sentence {k + 1} has more words than its "
                                      f"{len(tags[k]) if k < len(tags) else 0} tags")
                cols[col] = tags[k][j]
                j += 1
                line = "\t".join(cols)
        elif not line and j:  # the blank line that ends a sentence with words
            if j != len(tags[k]):
                raise RnnlabError(f"sentence {k + 1}: {len(tags[k])} tags for {j} words")
            k, j = k + 1, 0
        out.append(line)
    k += bool(j)  # a last sentence without its blank line
    if k != len(tags):
        raise RnnlabError(f"{len(tags)} tagged sentences for the file's {k}")
    return "\n".join(out)


def read_token_lines(path: str | Path, what: str = "--data") -> list[list[str]]:
    """Plain text: one sentence per line, whitespace-separated tokens (a blank line is an
    empty sentence, so output lines match input lines)."""
    return [line.split() for line in read_lines(path, what)]


def looks_like_conllu(text: str) -> bool:
    """The first line that is not blank or a comment has 10 tab-separated columns."""
    for line in text.split("\n"):
        if line.strip() and not line.startswith("#"):
            return line.count("\t") == 9
    return False
# -- sentence pairs (translation) ------------------------------------------------------------
Pair = tuple[str, str]  # (source, target)
# spaces that typography puts before French `?!:;` and inside numbers; read as plain spaces
# (and U+FFED, the tokenizer's joiner mark, which must not occur in a text)
_SPACES = dict.fromkeys(map(ord, "\u00a0\u202f\u2009\u2007\u3000\uffed"), " ")
_DROPPED = dict.fromkeys(map(ord, "\u200b\u00ad\ufeff"), None)  # zero width, soft hyphen
_QUOTES = {ord("\u2019"): "'", ord("\u2018"): "'"}  # one apostrophe, not three


def normalize(text: str, lowercase: bool = False) -> str:
    """Light normalization that keeps the text as a reader writes it: Unicode NFC, the
    no-break and thin spaces as plain spaces, zero-width characters and soft hyphens
    dropped, curly apostrophes straight, runs of whitespace as one space, no space at the
    ends; lowercased only with `lowercase`. References are scored in this form."""
    import unicodedata

    t = unicodedata.normalize("NFC", text).translate(_SPACES).translate(_DROPPED)
    t = " ".join(t.translate(_QUOTES).split())
    return t.lower() if lowercase else t


def read_pairs(path: str | Path, src_col: int = 0, tgt_col: int = 1, what: str = "--data",
               lowercase: bool = False) -> list[Pair]:
    """(source, target) of each line of a tab-separated file, normalized (`normalize`).
    Columns are chosen by index, so extra columns (Tatoeba's attribution) are ignored.
    Blank lines are skipped; a line without a tab, with too few columns or with an empty
    side, and bytes that are not UTF-8, are errors naming the file and the line."""
    p = Path(path)
    if not p.is_file():
        raise RnnlabError(f"{what}: file {str(p)!r} does not exist"
                          + (" (it is a directory)" if p.is_dir() else "") + "; check the path")
    out = []
    need = max(src_col, tgt_col) + 1
    with open(p, "rb") as f:
        for i, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8").rstrip("\n").removesuffix("\r")
            except UnicodeDecodeError as e:
                raise RnnlabError(f"{what}: line {i} of {str(p)!r} is not valid UTF-8 (bad byte "
                                  f"at column {e.start + 1}); convert the file, e.g. `iconv -f "
                                  "latin1 -t utf-8`") from None
            if not line.strip():
                continue
            cols = line.split("\t")
            if len(cols) < 2:
                raise RnnlabError(f"{what}: line {i} of {str(p)!r} has no tab; a pairs file "
                                  "holds SOURCE<TAB>TARGET on every line")
            if len(cols) < need:
                raise RnnlabError(f"--source-column {src_col} / --target-column {tgt_col}: "
                                  f"line {i} of {str(p)!r} has {len(cols)} columns; choose "
                                  f"columns in [0, {len(cols) - 1}]")
            src, tgt = normalize(cols[src_col], lowercase), normalize(cols[tgt_col], lowercase)
            for side, text, col in (("source", src, src_col), ("target", tgt, tgt_col)):
                if not text:
                    raise RnnlabError(f"{what}: line {i} of {str(p)!r} has an empty {side} "
                                      f"(column {col}); remove the line or fill it in")
            out.append((src, tgt))
    if not out:
        raise RnnlabError(f"{what}: file {str(p)!r} holds no pairs; pass a file of "
                          "SOURCE<TAB>TARGET lines")
    return out


def source_key(src: str) -> str:
    """What makes two sources "the same sentence" for the grouped split: the normalized
    text, case-folded (so "Hi." and "hi." never sit in two parts)."""
    return src.casefold()


def grouped_split(pairs: list[Pair], seed: int, val_fraction: float, test_fraction: float
                  ) -> tuple[list[Pair], list[Pair], list[Pair]]:
    """Train/val/test parts in which every source sentence (`source_key`) sits in one part
    with all its translations. The distinct sources are sorted, shuffled with
    random.Random(seed) and cut test | val | train by the fractions (of the distinct sources,
    rounded, at least one each when the fraction is > 0 and three or more sources exist);
    each part keeps the pairs in file order. A random split of pairs would put a test
    source in training whenever Tatoeba holds it with two translations."""
    keys = sorted({source_key(src) for src, _ in pairs})
    random.Random(seed).shuffle(keys)
    n = len(keys)

    def count(fraction: float) -> int:
        return max(1, round(n * fraction)) if fraction > 0 and n >= 3 else 0

    n_test, n_val = count(test_fraction), count(val_fraction)
    if n_test + n_val >= n:
        raise RnnlabError(f"--val-fraction {val_fraction} and --test-fraction {test_fraction} "
                          f"leave no training sources out of {n} distinct ones; lower them")
    part_of = {k: 2 for k in keys[:n_test]} | {k: 1 for k in keys[n_test:n_test + n_val]}
    parts: tuple[list[Pair], list[Pair], list[Pair]] = ([], [], [])  # train, val, test
    for pair in pairs:
        parts[part_of.get(source_key(pair[0]), 0)].append(pair)
    return parts


def pairs_digest(pairs: list[Pair]) -> str:
    """First 16 hex digits of the sha256 of a part's pairs, one SOURCE<TAB>TARGET a line."""
    return digest([f"{s}\t{t}" for s, t in pairs])
