"""Forecasting's data side: CSV series reader, chronological splits, Scaler, series windows.

Shapes: N series length, B batch, C context (past values a model reads), H horizon, N_o
forecast origins.

Readers give Python lists (no tensors); `SeriesWindows` is the batch source that turns the
scaled values of one split into `SeriesBatch`es (models/base.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from rnnlab.data.batching import seeded_generator
from rnnlab.data.readers import read_text
from rnnlab.errors import RnnlabError
from rnnlab.models.base import SeriesBatch

if TYPE_CHECKING:
    from rnnlab.config import RunConfig
    from rnnlab.models.forecaster import Forecaster

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


# -- series windows (forecasting) ---------------------------------------------------------
# Shapes: B batch, C context (past values a model reads), H horizon (future values).
#
#   series  x0 x1 x2 x3 x4 x5 x6 x7 x8 x9          (C=3, H=2)
#   origin t=3:  inputs x0 x1 x2 | targets x3 x4
#   origin t=4:  inputs x1 x2 x3 | targets x4 x5   ... one window per origin t
# A split only owns its targets: origins are chosen so every target lies inside [lo, hi),
# while the inputs may reach back into earlier splits (the past is known at forecast time).


class Scaler:
    """Standard scaling z = (x - mean) / std with statistics of the training part only, so
    no value of the validation or test part leaks into training. Travels in the checkpoint.
    With `log`, of log x instead (x > 0): a multiplicative trend or season becomes additive,
    the Box-Cox lambda = 0 of Hyndman & Athanasopoulos, FPP3 sec. 3.1; `inverse` is exp."""

    def __init__(self, mean: float = 0.0, std: float = 1.0, log: bool = False) -> None:
        self.mean, self.std, self.log = float(mean), float(std), bool(log)

    @classmethod
    def fit(cls, train: Sequence[float] | np.ndarray, log: bool = False) -> Scaler:
        a = np.asarray(train, dtype=np.float64)
        if a.size == 0:
            raise RnnlabError("cannot fit a scaler on an empty training part; pass more data")
        if log:
            a = np.log(positive(a, "the training part"))
        std = float(a.std())
        return cls(float(a.mean()), std if std > 0 else 1.0, log)  # constant: unit scale

    def transform(self, x: np.ndarray | Sequence[float]) -> np.ndarray:
        a = np.asarray(x, dtype=np.float64)
        if self.log:
            a = np.log(positive(a, "the series"))
        return (a - self.mean) / self.std

    def inverse(self, z: np.ndarray | Sequence[float]) -> np.ndarray:
        a = np.asarray(z, dtype=np.float64) * self.std + self.mean
        # exp of a diverged forecast overflows to inf; clip at e^700 (float64 max is e^709)
        return np.exp(np.minimum(a, 700.0)) if self.log else a

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "log-standard" if self.log else "standard", "mean": self.mean,
                "std": self.std, "log": self.log}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Scaler:
        return cls(d["mean"], d["std"], bool(d.get("log", False)))


def positive(a: np.ndarray, what: str) -> np.ndarray:
    """`a` unchanged if every value is > 0 (what a log transform needs), else a clear error."""
    bad = np.flatnonzero(~(a > 0))
    if bad.size:
        raise RnnlabError(
            f"--log on needs values > 0, but {what} holds {bad.size} value(s) <= 0 (the first, "
            f"{a[bad[0]]:g}, at position {int(bad[0])}); pass --log off (or shift the "
            "series above 0)"
        )
    return a


def series_origins(n: int, context: int, horizon: int, lo: int, hi: int) -> np.ndarray:
    """Forecast origins t with a full context before t and all H targets inside [lo, hi)."""
    return np.arange(max(lo, context), min(hi, n) - horizon + 1, dtype=np.int64)


def series_windows(
    values: np.ndarray, origins: np.ndarray, context: int, horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """inputs (N_o, C) = values[t-C:t] and targets (N_o, H) = values[t:t+H] per origin t."""
    v = np.asarray(values)
    idx_in = origins[:, None] + np.arange(-context, 0)[None, :]  # (N_o, C)
    idx_out = origins[:, None] + np.arange(horizon)[None, :]  # (N_o, H)
    return v[idx_in], v[idx_out]


class SeriesWindows:
    """Batch source over the windows of one split; reshuffled every epoch from (seed, epoch)
    when `shuffle`, which reorders whole windows and never mixes values across time."""

    def __init__(
        self, values: np.ndarray, context: int, horizon: int, lo: int, hi: int,
        batch_size: int, shuffle: bool = False, seed: int = 0,
    ) -> None:
        self.origins = series_origins(len(values), context, horizon, lo, hi)
        if len(self.origins) == 0:
            raise RnnlabError(
                f"the split [{lo}, {hi}) of a {len(values)}-value series holds no window of "
                f"--context {context} + --horizon {horizon}; use a smaller --context or "
                "--horizon, or larger splits"
            )
        x, y = series_windows(values, self.origins, context, horizon)
        self.inputs = torch.as_tensor(x, dtype=torch.float32)  # (N_o, C)
        self.targets = torch.as_tensor(y, dtype=torch.float32)  # (N_o, H)
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed

    def __len__(self) -> int:
        return -(-len(self.origins) // self.batch_size)

    def num_windows(self) -> int:
        return len(self.origins)

    def epoch(self, epoch: int = 0, start: int = 0) -> Iterator[SeriesBatch]:
        """Batches of one epoch, from batch index `start` (to resume mid-epoch exactly)."""
        n = len(self.origins)
        order = (torch.randperm(n, generator=seeded_generator(self.seed, epoch)) if self.shuffle
                 else torch.arange(n))
        for b in range(start, len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            yield SeriesBatch(self.inputs[idx], self.targets[idx], True)


# -- the split rule and forecasts from windows (forecasting task and --model auto) ------
def default_context(season: int, horizon: int) -> int:
    return min(max(2 * season, 2 * horizon, 8), 64)


def resolve(cfg: RunConfig, n: int, window: str | None = None) -> tuple[int, int, int]:
    """Check a forecasting config (`rnnlab.tasks.forecast`) against a series of n values:
    (context, train_end, val_end). `window` names the context in errors when the user gave
    none (--model auto checks the split with its shortest window)."""
    d, m = cfg.data, cfg.model
    H = d.horizon
    context = m.context if m.context is not None else default_context(d.season, H)
    default = max(2 * H, n // 10)
    val = d.val_size if d.val_size is not None else default
    test = d.test_size if d.test_size is not None else default
    if val < H or test < H:
        raise RnnlabError(
            f"--val-size {val} and --test-size {test} must each hold at least --horizon {H} "
            f"values to score one {H}-step forecast; raise them or lower --horizon"
        )
    steps = H if m.strategy == "direct" else 1
    need = context + steps + val + test
    if n < need + 1:
        what = window or f"--context {context}"
        fix = "--horizon, --val-size or --test-size" if window else "--context or --horizon"
        raise RnnlabError(
            f"the series has {n} values, too short for {what} + --horizon "
            f"{H} with {val} validation and {test} test values (needs more than {need}); use "
            f"a smaller {fix}, or a longer series"
        )
    a, b = split_series(n, val, test)
    if a < max(2, d.season + 1):
        raise RnnlabError(
            f"the training part holds {a} values, too few for --season {d.season}; "
            "use a smaller --season or a longer series"
        )
    return context, a, b


def model_forecasts(
    model: Forecaster, scaler: Scaler, values: np.ndarray, origins: np.ndarray, horizon: int,
    batch_size: int = 512,
) -> np.ndarray:
    """(N_o, H) forecasts in original units from each origin's last C values."""
    z = scaler.transform(values)
    idx = origins[:, None] + np.arange(-model.context, 0)[None, :]  # (N_o, C) past only
    x = torch.as_tensor(z[idx], dtype=torch.float32)  # (N_o, C)
    outs = [model.forecast(x[i : i + batch_size], horizon) for i in range(0, len(x), batch_size)]
    return scaler.inverse(torch.cat(outs).double().numpy())
