"""Forecasting runs: CSV series -> scaler -> windows -> Forecaster -> trainer -> metrics.

Shapes: N series length, C context, H horizon, N_o forecast origins, B batch.

    values (N,)  --split_series-->  train [0, a) | val [a, b) | test [b, N)   chronological
    Scaler.fit(train) -> z = (x - mean) / std for the whole series (train statistics only)
    SeriesWindows: train windows own targets in train, val windows in val (inputs may reach back)
    Trainer.fit(Forecaster, train, val, eval_fn=validation H-step MAE, monitor="mae")

Evaluation (`evaluate_forecast`) is rolling-origin on the test part: every origin t in the test
part with all H targets inside it is forecast from the values before t. MAE, RMSE and MASE are
averaged over all origins and all H steps (as in M4); `by_step` gives the error at each step k
alone (the one-step vs k-step table). MASE divides by the in-sample seasonal naive MAE, in-sample
meaning everything before the test part. Baselines (`rnnlab.baselines`) are fitted on that same
part and forecast from the same origins.

Prediction intervals: quantiles of the model's out-of-sample residuals at each step k, added
to the point forecast (split-conformal style; Vovk et al. 2005). `evaluate` calibrates on the
validation windows and reports the empirical coverage on the test part; `forecast` (beyond the
end of the series) calibrates on validation and test windows together. They assume future
errors are distributed as those residuals, which a change of regime breaks (see BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnlab import datasets
from rnnlab.baselines import BASELINES, baseline_forecasts, naive, seasonal_naive
from rnnlab.batching import Scaler, SeriesWindows, series_origins
from rnnlab.checkpoint import load_checkpoint, open_run, rebuild_model
from rnnlab.config import RunConfig, TrainConfig
from rnnlab.errors import RnnlabError
from rnnlab.metrics import forecast_errors, forecast_mae, mase_scale
from rnnlab.models.forecaster import KINDS, STRATEGIES, Forecaster
from rnnlab.trainer import History, Trainer

TASK = "forecast"


@dataclass
class ForecastDataConfig:
    data: str | None = None  # CSV file; None: yearly sunspots from statsmodels
    column: str | None = None  # value column; None: the file's only numeric column
    season: int = 1  # m: seasonal naive lag and MASE scale (12 monthly, 1 no season)
    horizon: int = 12  # H: steps forecast from each origin
    val_size: int | None = None  # values; default max(2H, 10% of N)
    test_size: int | None = None


@dataclass
class ForecastModelConfig:
    # auto-forecast hook: "auto" chooses kind, context, preprocessing on validation
    model: str = "auto"  # auto, linear, mlp, rnn, gru, lstm (see rnnlab/forecast_auto.py)
    strategy: str = "recursive"  # recursive (feed predictions back) or direct (all H at once)
    context: int | None = None  # C past values read; default min(max(2m, 2H, 8), 64)
    hidden_size: int = 64
    num_layers: int = 1
    dropout: float = 0.0
    impl: str = "fused"
    residual: bool = True  # forecast = last value + model output (see models/forecaster.py)
    difference: bool | None = None  # read changes, not levels; None: KPSS test on train part
    # (auto: None means chosen on validation, like the two fields below)
    seasonal: bool | None = None  # seasonal differencing at lag --season; None: off (auto: chosen)
    auto_steps: int = 500  # auto: max training steps per candidate and of the chosen one


@dataclass
class ForecastConfig(RunConfig):
    """[data], [model], [train] tables as RunConfig, with the forecasting fields."""

    data: ForecastDataConfig = field(default_factory=ForecastDataConfig)  # type: ignore[assignment]
    model: ForecastModelConfig = field(default_factory=ForecastModelConfig)  # type: ignore[assignment]
    train: TrainConfig = field(default_factory=TrainConfig)


# flags of `rnnlab train` that mean nothing for a forecast (they would be silently ignored)
LM_ONLY = ("format", "level", "val_data", "test_data", "val_fraction", "test_fraction",
           "min_freq", "max_vocab", "embedding_dim", "tie_weights", "feedback", "order",
           "smoothing", "k", "seq_len", "partition", "direct", "init_range")


def config_from_args(args: argparse.Namespace) -> ForecastConfig:
    """Defaults < `--config FILE.toml` < flags, for `rnnlab train --task forecast`."""
    from rnnlab.config import load_toml

    given = [n for n in LM_ONLY if getattr(args, n, None) is not None]
    if given:
        flag = "--" + given[0].replace("_", "-")
        raise RnnlabError(
            f"{flag} applies to language models only, not to --task forecast; drop it"
        )
    cfg = ForecastConfig()
    if getattr(args, "config", None):
        cfg.update(load_toml(args.config), source=f"--config {args.config}")
    for section in ("data", "model", "train"):
        target = getattr(cfg, section)
        for f in dataclasses.fields(target):
            v = getattr(args, f.name, None)
            if v is not None:
                setattr(target, f.name, v)
    if cfg.train.clip is not None and cfg.train.clip <= 0:
        cfg.train.clip = None
    return cfg


# -- data ------------------------------------------------------------------------------------
def load_series(dc: ForecastDataConfig) -> datasets.Series:
    if dc.data is None:
        s = datasets.embedded_sunspots()
        if dc.column not in (None, s.column):
            raise RnnlabError(
                f"--column {dc.column!r}: the embedded sunspots series has the single column "
                f"{s.column!r}; drop --column or pass --data FILE.csv"
            )
        return s
    return datasets.read_series_csv(dc.data, dc.column)


def default_context(season: int, horizon: int) -> int:
    return min(max(2 * season, 2 * horizon, 8), 64)


def resolve(cfg: ForecastConfig, n: int) -> tuple[int, int, int]:
    """Check the settings against a series of n values: (context, train_end, val_end)."""
    d, m = cfg.data, cfg.model
    if d.horizon is None or d.horizon < 1:
        raise RnnlabError(f"--horizon must be >= 1, got {d.horizon}; e.g. --horizon 12")
    if d.season is None or d.season < 1:
        raise RnnlabError(
            f"--season must be >= 1, got {d.season}; use 1 for no seasonality, 12 for monthly"
        )
    if m.model not in KINDS:
        raise RnnlabError(
            f"--model {m.model!r} is not a forecasting model; choose one of {', '.join(KINDS)}"
        )
    if m.strategy not in STRATEGIES:
        raise RnnlabError(f"--strategy must be 'recursive' or 'direct', got {m.strategy!r}")
    H = d.horizon
    context = m.context if m.context is not None else default_context(d.season, H)
    if context < 1:
        raise RnnlabError(f"--context must be >= 1, got {context}; e.g. --context 24")
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
        raise RnnlabError(
            f"the series has {n} values, too short for --context {context} + --horizon "
            f"{H} with {val} validation and {test} test values (needs more than {need}); use "
            "a smaller --context or --horizon, or a longer series"
        )
    a, b = datasets.split_series(n, val, test)
    if a < max(2, d.season + 1):
        raise RnnlabError(
            f"the training part holds {a} values, too few for --season {d.season}; "
            "use a smaller --season or a longer series"
        )
    return context, a, b


def needs_difference(train: np.ndarray, alpha: float = 0.05) -> bool:
    """KPSS test (Kwiatkowski et al. 1992) of level stationarity on the training part: True
    when it is rejected at `alpha`, the rule auto.arima uses to choose d (Hyndman & Khandakar
    2008). Trending series (airline, FTSE) are differenced; cycling ones (sunspots) are not."""
    from statsmodels.tsa.stattools import kpss

    with warnings.catch_warnings():  # p-values outside KPSS's table are clipped, with a warning
        warnings.simplefilter("ignore")
        return bool(kpss(np.asarray(train, float), regression="c", nlags="auto")[1] < alpha)


def _digest(values: np.ndarray) -> str:
    return hashlib.sha256(np.asarray(values, np.float64).tobytes()).hexdigest()[:16]


# -- training --------------------------------------------------------------------------------
def make_eval_fn(horizon: int) -> Callable[[nn.Module, Any], dict[str, float]]:
    """Validation metric the trainer minimises: the H-step forecast error (scaled units), so
    a recursive model is selected on what it will be used for, not on its one-step loss."""

    @torch.no_grad()
    def eval_fn(model: nn.Module, batches) -> dict[str, float]:
        was_training = model.training
        model.eval()
        abs_err, sq_err, count = 0.0, 0.0, 0
        for batch in batches:
            pred = model.forecast(batch.inputs, horizon)  # type: ignore[operator]
            err = pred - batch.targets[:, :horizon]  # (B, H)
            abs_err += float(err.abs().sum())
            sq_err += float((err**2).sum())
            count += err.numel()
        model.train(was_training)
        return {"mae": abs_err / count, "rmse": (sq_err / count) ** 0.5}

    return eval_fn


@dataclass
class ForecastResult:
    model: Forecaster
    history: History
    summary: dict[str, Any]  # test errors of the model, naive and seasonal naive
    info: dict[str, Any]
    seconds: float


def build_model(cfg: ForecastConfig, context: int, difference: bool) -> Forecaster:
    m = cfg.model
    return Forecaster(kind=m.model, strategy=m.strategy, context=context,
                      horizon=cfg.data.horizon, hidden_size=m.hidden_size,
                      num_layers=m.num_layers, dropout=m.dropout, impl=m.impl,
                      residual=m.residual, difference=difference,
                      seasonal=cfg.data.season if m.seasonal else 0)  # auto-forecast hook


def train_forecast(
    cfg: ForecastConfig,
    out: Path,
    resume: bool = False,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    on_ready: Callable[[dict[str, Any]], None] | None = None,
) -> ForecastResult:
    """Train a forecaster into run folder `out`; returns it with its test errors."""
    payload = open_run(out, resume)
    series = load_series(cfg.data)
    values = np.asarray(series.values, np.float64)
    from rnnlab.forecast_auto import choose  # auto-forecast hook: --model auto -> a named one

    cfg, auto = choose(cfg, values, on_event)  # (cfg, None) unless --model auto
    context, a, b = resolve(cfg, len(values))
    H, tc = cfg.data.horizon, cfg.train
    scaler = Scaler.fit(values[:a])  # training part only: no look at val or test
    z = scaler.transform(values)
    torch.manual_seed(tc.seed)  # the initial weights depend on the seed alone
    difference = (cfg.model.difference if cfg.model.difference is not None
                  else needs_difference(values[:a]))
    model = build_model(cfg, context, difference)
    train_b = SeriesWindows(z, context, model.steps_out, 0, a, tc.batch_size, True, tc.seed)
    val_b = SeriesWindows(z, context, H, a, b, tc.eval_batch_size)
    split = {"n": len(values), "train_end": a, "val_end": b, "method":
             "chronological: train [0, train_end) | val [train_end, val_end) | test [val_end, n)",
             "sha256_16": _digest(values)}
    info = {"source": series.source, "column": series.column, "n": len(values),
            "train": a, "val": b - a, "test": len(values) - b, "context": context,
            "horizon": H, "season": cfg.data.season, "model": f"{cfg.model.model} "
            f"({cfg.model.strategy}{', differenced' if difference else ''}"
            f"{f', seasonal lag {cfg.data.season}' if cfg.model.seasonal else ''})",
            "params": sum(p.numel() for p in model.parameters()),
            "train_windows": train_b.num_windows(), "val_windows": val_b.num_windows()}
    out.mkdir(parents=True, exist_ok=True)
    cfg.save_json(out / "config.json")
    (out / "split.json").write_text(json.dumps(split, indent=2) + "\n")
    if on_ready is not None:
        on_ready(info)
    extra = {"task": TASK, "config": cfg.to_dict(), "scaler": scaler.to_dict(),
             "column": series.column, "season": cfg.data.season, "horizon": H,
             "context": context, "split": split, "source": series.source}
    if auto is not None:  # auto-forecast hook: the choice and every candidate's score
        extra["auto"] = auto
        (out / "auto.json").write_text(json.dumps(auto, indent=2) + "\n")
    t0 = time.perf_counter()
    log = open(out / "metrics.jsonl", "a")  # noqa: SIM115 - closed below

    def event(e: dict[str, Any]) -> None:
        if e["event"] == "eval":
            log.write(json.dumps({k: v for k, v in e.items() if k != "event"}) + "\n")
            log.flush()
        if on_event is not None:
            on_event(e)

    try:
        hist = Trainer(tc, out, event, extra, eval_fn=make_eval_fn(H), monitor="mae").fit(
            model, train_b, val_b, payload)
    finally:
        log.close()
    seconds = time.perf_counter() - t0
    best, _ = load_run(out)
    summary = evaluate_forecast(out, baselines=("naive", "seasonal_naive"))
    return ForecastResult(best, hist, summary, info, seconds)


# -- loading and evaluation ------------------------------------------------------------------
def load_run(run: str | Path) -> tuple[Forecaster, dict[str, Any]]:
    """The best model of a forecasting run (eval mode) and its checkpoint payload."""
    payload = load_checkpoint(run)
    if payload.get("task") != TASK:
        raise RnnlabError(
            f"{str(run)!r} is not a forecasting run (task {payload.get('task', 'lm')!r}); "
            "train one with `rnnlab train --task forecast`"
        )
    return rebuild_model(payload), payload  # type: ignore[return-value]


def _run_series(payload: dict[str, Any]) -> np.ndarray:
    cfg = ForecastConfig.from_dict(payload["config"])
    values = np.asarray(load_series(cfg.data).values, np.float64)
    split = payload["split"]
    if len(values) != split["n"] or _digest(values) != split["sha256_16"]:
        raise RnnlabError(
            f"the data {payload['source']!r} changed since training ({len(values)} values now, "
            f"{split['n']} then); restore the file or train a new run"
        )
    return values


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


MIN_CALIBRATION = 5  # windows; fewer make the residual quantiles meaningless


def residual_quantiles(
    model: Forecaster, scaler: Scaler, values: np.ndarray, lo: int, hi: int, horizon: int,
    level: float,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-step residual quantiles (H,), (H,) of the model on the windows of [lo, hi), which
    must be data the model was not fitted on."""
    if not 0 < level < 1:
        raise RnnlabError(f"--interval-level must be in (0, 1), got {level}; e.g. 0.9")
    origins = series_origins(len(values), model.context, horizon, lo, hi)
    if len(origins) < MIN_CALIBRATION:
        raise RnnlabError(
            f"--horizon {horizon}: the {hi - lo} held-out values that calibrate the intervals "
            f"give {len(origins)} windows of {horizon} steps, fewer than {MIN_CALIBRATION}; "
            "use a smaller --horizon or train with a larger --val-size/--test-size"
        )
    ys = values[origins[:, None] + np.arange(horizon)[None, :]]
    resid = ys - model_forecasts(model, scaler, values, origins, horizon)  # (N_o, H)
    q = (1 - level) / 2
    return np.quantile(resid, q, axis=0), np.quantile(resid, 1 - q, axis=0), len(origins)


def evaluate_forecast(
    run: str | Path, horizon: int | None = None, split: str = "test",
    baselines: tuple[str, ...] = BASELINES, level: float = 0.9,
) -> dict[str, Any]:
    """Rolling-origin errors on the run's test (or val) part for the model and baselines:
    {"model": {"mae", "rmse", "mase"}, "naive": {...}, ..., "horizon": H, "by_step": ...}."""
    model, payload = load_run(run)
    values = _run_series(payload)
    scaler = Scaler.from_dict(payload["scaler"])
    H = payload["horizon"] if horizon is None else horizon
    if H < 1:
        raise RnnlabError(f"--horizon must be >= 1, got {H}")
    s = payload["split"]
    if split not in ("val", "test"):
        raise RnnlabError(f"--split must be 'val' or 'test', got {split!r}")
    lo, hi = (s["val_end"], s["n"]) if split == "test" else (s["train_end"], s["val_end"])
    season = payload["season"]
    origins = series_origins(len(values), model.context, H, lo, hi)
    if len(origins) == 0:
        raise RnnlabError(
            f"--horizon {H} is longer than the {split} part ({hi - lo} values); use "
            f"--horizon <= {hi - lo}"
        )
    ys = values[origins[:, None] + np.arange(H)[None, :]]  # (N_o, H)
    preds = {"model": model_forecasts(model, scaler, values, origins, H)}
    if split == "test":
        base, info = baseline_forecasts(values, lo, origins, H, season, baselines)
    else:
        base = {"naive": naive(values, origins, H),
                "seasonal_naive": seasonal_naive(values, origins, H, season)}
        info = {}
    preds.update(base)
    scale = mase_scale(values[:lo], season)
    result: dict[str, Any] = {name: forecast_errors(ys, p, scale) for name, p in preds.items()}
    result["model"]["name"] = (f"{model.kind} ({model.strategy}, context {model.context}"
                               + (", differenced" if model.difference else "")
                               + (f", seasonal lag {model.seasonal}" if model.seasonal else "")
                               + ")")
    result["by_step"] = {name: [forecast_mae(ys[:, k], p[:, k]) / scale for k in range(H)]
                         for name, p in preds.items()}
    n_cal = len(series_origins(len(values), model.context, H, s["train_end"], s["val_end"]))
    if split == "test" and n_cal >= MIN_CALIBRATION:  # calibrated on val, scored on test
        q_lo, q_hi, n_cal = residual_quantiles(model, scaler, values, s["train_end"],
                                               s["val_end"], H, level)
        inside = (ys >= preds["model"] + q_lo) & (ys <= preds["model"] + q_hi)
        result["interval"] = {"level": level, "coverage": float(inside.mean()),
                              "calibration_windows": n_cal,
                              "method": "validation residual quantiles per step"}
    result.update({"horizon": H, "season": season, "split": split, "origins": len(origins),
                   "mase_scale": scale, "baselines": info, "source": payload["source"],
                   "column": payload["column"]})
    return result


# -- forecasting the future ------------------------------------------------------------------
def future_dates(dates: list[str] | None, steps: int) -> list[str] | None:
    """Continue the date column's calendar by `steps`, in the file's format; None if the
    dates are absent or irregular."""
    if not dates or len(dates) < 3:
        return None
    import pandas as pd

    tail = dates[-30:]
    try:
        idx = pd.to_datetime(pd.Series(tail), format="mixed")
        with warnings.catch_warnings():  # pandas 3 announces a change of the return type
            warnings.simplefilter("ignore")
            freq = pd.infer_freq(pd.DatetimeIndex(idx))
    except (ValueError, TypeError, OverflowError):
        return None
    if freq is None:
        return None
    fmt = {4: "%Y", 7: "%Y-%m", 10: "%Y-%m-%d"}.get(len(tail[-1]), "%Y-%m-%d")
    nxt = pd.date_range(idx.iloc[-1], periods=steps + 1, freq=freq)[1:]
    return [d.strftime(fmt) for d in nxt]


def forecast_future(
    run: str | Path, horizon: int, out_csv: str | Path | None = None, level: float = 0.9,
) -> dict[str, Any]:
    """Forecast `horizon` steps after the last observed value; write CSV and PNG."""
    import csv

    model, payload = load_run(run)
    values = _run_series(payload)
    scaler = Scaler.from_dict(payload["scaler"])
    if horizon < 1:
        raise RnnlabError(f"--horizon must be >= 1, got {horizon}; e.g. --horizon 12")
    s = payload["split"]
    n = len(values)
    pred = model_forecasts(model, scaler, values, np.array([n]), horizon)[0]  # (H,)
    # calibrate on validation and test windows: both are out of sample for the weights, and
    # the future forecast needs as many windows of its horizon as the data hold
    q_lo, q_hi, _ = residual_quantiles(model, scaler, values, s["train_end"], n, horizon, level)
    cfg = ForecastConfig.from_dict(payload["config"])
    series = load_series(cfg.data)
    dates = future_dates(series.dates, horizon)
    run_dir = Path(run) if Path(run).is_dir() else Path(run).parent
    csv_path = Path(out_csv) if out_csv else run_dir / "forecast.csv"
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for k in range(horizon):
        rows.append({"step": k + 1, "date": dates[k] if dates else "",
                     "forecast": float(pred[k]), "lower": float(pred[k] + q_lo[k]),
                     "upper": float(pred[k] + q_hi[k])})
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["step", "date", "forecast", "lower", "upper"])
        w.writeheader()
        w.writerows(rows)
    png = csv_path.with_suffix(".png")
    plot_forecast(values, series.dates, rows, png, f"{payload['column']}: "
                  f"{model.kind} {model.strategy}, {int(level * 100)}% interval", level)
    return {"csv": str(csv_path), "png": str(png), "rows": rows, "level": level}


def plot_forecast(
    values: np.ndarray, dates: list[str] | None, rows: list[dict[str, Any]], png: Path,
    title: str, level: float,
) -> None:
    """History (the last 5 horizons, at least 60 values), forecast and interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    H, n = len(rows), len(values)
    k = min(n, max(5 * H, 60))
    x_hist = np.arange(n - k, n)
    x_fut = np.arange(n, n + H)
    fig, ax = plt.subplots(figsize=(7, 3), dpi=90)
    ax.plot(x_hist, values[-k:], color="black", lw=1, label="history")
    ax.plot(x_fut, [r["forecast"] for r in rows], color="C1", lw=1.5, label="forecast")
    ax.fill_between(x_fut, [r["lower"] for r in rows], [r["upper"] for r in rows],
                    color="C1", alpha=0.25, label=f"{int(level * 100)}% interval")
    if dates:  # label a few ticks with the file's own dates
        ticks = np.linspace(n - k, n - 1, 4).astype(int)
        ax.set_xticks(ticks, [dates[i] for i in ticks])
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)
