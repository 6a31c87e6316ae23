"""Readers: files (or embedded sources) -> Python strings. No tensors here.

- `read_text(path)`: one long stream (`--format text`)
- `read_lines(path)`: one example per line (`--format lines`); every line counts, blank ones too
- `embedded_names()`: real Spanish first names from the `faker` package (no network)
- `split_lines`, `split_text`: the deterministic seeded train/val/test splits
"""

from __future__ import annotations

import importlib
import pkgutil
import random
from pathlib import Path

from rnnlab.errors import RnnlabError

EMBEDDED_NAMES = "embedded:spanish-names"


def read_text(path: str | Path, what: str = "--data") -> str:
    """Read a UTF-8 text file, refusing missing, empty, binary and non-UTF-8 files."""
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
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RnnlabError(
            f"{what}: file {str(p)!r} is not valid UTF-8 (bad byte at offset {e.start}); "
            "convert it, e.g. `iconv -f latin1 -t utf-8`"
        ) from None
    return text.replace("\r\n", "\n")


def read_lines(path: str | Path, what: str = "--data") -> list[str]:
    """One example per line. A final newline does not start an extra (empty) example."""
    text = read_text(path, what)
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


# -- univariate series (forecasting) ------------------------------------------------------
# `read_series_csv(path, column)` -> Series: the float values of one named column, the dates
# if the file has a date column (any non-numeric column), else None. No tensors here either.

EMBEDDED_SUNSPOTS = "embedded:statsmodels-sunspots-yearly"


class Series:
    """One univariate series read from a file: `values[i]` observed at `dates[i]`."""

    __slots__ = ("values", "dates", "column", "source", "columns")

    def __init__(
        self, values: list[float], dates: list[str] | None, column: str, source: str,
        columns: list[str] | None = None,
    ) -> None:
        self.values, self.dates, self.column, self.source = values, dates, column, source
        self.columns = columns or [column]

    def __len__(self) -> int:
        return len(self.values)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_series_csv(path: str | Path, column: str | None = None, what: str = "--data") -> Series:
    """Read column `column` of a CSV file with a header row as floats. A date column is
    optional: the first column whose values are not all numbers is taken as the dates (a row
    number column such as R's `rownames` is numeric and therefore not a date). With
    `column=None` the file must hold exactly one numeric column besides a row number."""
    import csv
    import io

    text = read_text(path, what)  # refuses missing, empty, binary, non-UTF-8 files
    rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    if len(rows) < 2:
        raise RnnlabError(
            f"{what}: {str(path)!r} has {len(rows)} row(s); a series CSV needs a header row "
            "and at least one value row"
        )
    header = [h.strip() for h in rows[0]]
    body = rows[1:]
    for i, r in enumerate(body):
        if len(r) != len(header):
            raise RnnlabError(
                f"{what}: row {i + 2} of {str(path)!r} has {len(r)} fields, the header has "
                f"{len(header)}; fix the CSV so every row has the header's columns"
            )
    numeric = [all(_is_number(r[j]) for r in body) for j in range(len(header))]
    if column is None:
        # a leading column named like a row number (R's `rownames`) is not a value column
        candidates = [h for j, h in enumerate(header) if numeric[j]
                      and not (j == 0 and h.lower() in ("", "rownames", "index", "id"))]
        if len(candidates) != 1:
            raise RnnlabError(
                f"--column: none given and {str(path)!r} has columns {header}; pass the "
                "value column, e.g. --column " + (candidates[0] if candidates else header[-1])
            )
        column = candidates[0]
    if column not in header:
        raise RnnlabError(
            f"--column: {column!r} is not a column of {str(path)!r}; its columns are "
            f"{', '.join(header)}; pass one of them"
        )
    j = header.index(column)
    values = []
    for i, r in enumerate(body):
        cell = r[j].strip()
        try:
            v = float(cell)
        except ValueError:
            raise RnnlabError(
                f"--column {column}: row {i + 2} of {str(path)!r} holds {cell!r}, not a number; "
                "clean the file (every value must be a number, no gaps)"
            ) from None
        if v != v or v in (float("inf"), float("-inf")):
            raise RnnlabError(
                f"--column {column}: row {i + 2} of {str(path)!r} holds {cell!r}; NaN and "
                "infinite values are not supported; fill or drop them first"
            )
        values.append(v)
    date_cols = [k for k in range(len(header)) if not numeric[k] and k != j]
    dates = [r[date_cols[0]].strip() for r in body] if date_cols else None
    return Series(values, dates, column, str(path), header)


def embedded_sunspots() -> Series:
    """Yearly sunspot numbers 1700-2008 shipped with statsmodels (no network)."""
    from statsmodels.datasets import sunspots

    df = sunspots.load_pandas().data
    dates = [str(int(y)) for y in df["YEAR"]]
    return Series([float(v) for v in df["SUNACTIVITY"]], dates, "SUNACTIVITY",
                  EMBEDDED_SUNSPOTS, ["YEAR", "SUNACTIVITY"])


def split_series(n: int, val_size: int, test_size: int) -> tuple[int, int]:
    """Chronological boundaries `(train_end, val_end)`: train = [0, train_end),
    val = [train_end, val_end), test = [val_end, n). Never shuffled: neighbouring values of a
    series are correlated, so a shuffled split would leak the future into training."""
    if val_size < 0 or test_size < 0 or val_size + test_size >= n:
        raise RnnlabError(
            f"split sizes val={val_size} test={test_size} leave no training data out of {n} "
            "values; lower --val-size/--test-size or pass a longer series"
        )
    return n - val_size - test_size, n - test_size
