"""Forecasting: CSV series -> scaler -> windows -> Forecaster -> trainer -> metrics.

Shapes: N series length, C context, H horizon, N_o forecast origins, B batch.

    values (N,)  --split_series-->  train [0, a) | val [a, b) | test [b, N)   chronological
    Scaler.fit(train) -> z = (x - mean) / std for the whole series (train statistics only)
    SeriesWindows: train windows own targets in train, val windows in val (inputs may reach back)
    Trainer.fit(Forecaster, train, val, eval_fn=validation H-step MAE, monitor="mae")

Evaluation (`evaluate`) is rolling-origin on the test part: every origin t in the test
part with all H targets inside it is forecast from the values before t. MAE, RMSE and MASE are
averaged over all origins and all H steps (as in M4); `by_step` gives the error at each step k
alone (the one-step vs k-step table). MASE divides by the in-sample seasonal naive MAE,
in-sample meaning everything before the test part. Baselines (`baselines.py` beside this file)
are fitted on that same part and forecast from the same origins.

Prediction intervals: quantiles of the model's out-of-sample residuals at each step k, added
to the point forecast (split-conformal style; Vovk et al. 2005). `evaluate` calibrates on the
validation windows and reports the empirical coverage on the test part; `forecast` (beyond the
end of the series) calibrates on validation and test windows together. They assume future
errors are distributed as those residuals, which a change of regime breaks (see BENCHMARKS.md).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnnlab.errors import RnnlabError
from rnnlab.options import (
    HORIZON,
    INTERVAL_LEVEL,
    JSON,
    OUT,
    SERIES_FORMAT,
    SPLIT,
    Command,
    Options,
    Shown,
    commands,
    json_lines,
    show_evaluation,
)
from rnnlab.tasks.base import Loaded, Prepared
from rnnlab.tasks.forecast.config import EXAMPLES as EXAMPLES
from rnnlab.tasks.forecast.config import MODEL_ONLY as MODEL_ONLY
from rnnlab.tasks.forecast.config import RENAMED as RENAMED
from rnnlab.tasks.forecast.config import TRAIN_UNUSED as TRAIN_UNUSED
from rnnlab.tasks.forecast.config import DataConfig as DataConfig
from rnnlab.tasks.forecast.config import ModelConfig as ModelConfig
from rnnlab.tasks.single_run import cv_runs as cv_runs
from rnnlab.tasks.single_run import cv_summary as cv_summary
from rnnlab.tasks.single_run import describe_cv as describe_cv
from rnnlab.tasks.single_run import samples_after_training as samples_after_training

if TYPE_CHECKING:  # type hints only: no import at run time
    import numpy as np
    from torch import nn

    from rnnlab.config import RunConfig
    from rnnlab.data.series import Scaler

NAME = "forecast"
TITLE = "forecasting"  # as errors name the task
MONITOR = "mae"
MONITORS = (MONITOR,)
# step 0 is validated too: a seasonal forecaster starts at seasonal naive, which stays the
# model when training never beats it on validation (Trainer eval_at_start)
EVAL_AT_START = True


def check(cfg: RunConfig, given: set[str] | None) -> None:
    """Combinations that need no data; those that do (context vs series length) are checked
    in `resolve` when the series is read."""
    m = cfg.model
    if m.log == "auto" and m.model != "auto":
        raise RnnlabError(f"--log auto lets --model auto choose; with --model {m.model} pass "
                          "--log on or --log off")


# -- data (the split rule and windows live in rnnlab/data/series.py) ------------------------------
def load_series(dc: DataConfig) -> Any:
    from rnnlab.data import series

    if dc.data is None:
        s = series.embedded_sunspots()
        if dc.column not in (None, s.column):
            raise RnnlabError(
                f"--column {dc.column!r}: the embedded sunspots series has the single column "
                f"{s.column!r}; drop --column or pass --data FILE.csv"
            )
        return s
    return series.read_series_csv(dc.data, dc.column)


def needs_difference(train: np.ndarray, alpha: float = 0.05) -> bool:
    """KPSS test (Kwiatkowski et al. 1992) of level stationarity on the training part: True
    when it is rejected at `alpha`, the rule auto.arima uses to choose d (Hyndman & Khandakar
    2008). Trending series (airline, FTSE) are differenced; cycling ones (sunspots) are not."""
    import numpy as np
    from statsmodels.tsa.stattools import kpss

    with warnings.catch_warnings():  # p-values outside KPSS's table are clipped, with a warning
        warnings.simplefilter("ignore")
        return bool(kpss(np.asarray(train, float), regression="c", nlags="auto")[1] < alpha)


def _digest(values: np.ndarray) -> str:
    import numpy as np

    return hashlib.sha256(np.asarray(values, np.float64).tobytes()).hexdigest()[:16]


# -- training --------------------------------------------------------------------------------
def prepare(cfg: RunConfig, out: Path, resume: dict[str, Any] | None) -> Prepared:
    """Series -> chronological split -> scaler (training part only) -> window sources."""
    import numpy as np

    from rnnlab.data.series import Scaler, SeriesWindows, resolve
    from rnnlab.tasks.forecast.auto import select

    series = load_series(cfg.data)
    values = np.asarray(series.values, np.float64)
    auto, combination, state = None, None, None
    if cfg.model.model == "auto" and resume is None:  # a resumed run names its chosen model
        sel = select(cfg, values)
        auto, combination, state = sel.record, sel.combination, sel.state
        cfg.model, cfg.train = sel.cfg.model, sel.cfg.train  # the run is the chosen one's
        out.mkdir(parents=True, exist_ok=True)
        (out / "auto.json").write_text(json.dumps(auto, indent=2) + "\n")
    elif resume is not None and resume.get("model_class") == "ForecastCombination":
        auto, combination = resume.get("auto"), resume["hparams"]  # stored as fitted
        state = resume["model_state"]
    if combination is not None:
        return _prepare_combination(cfg, series, values, auto, combination, state)
    context, a, b = resolve(cfg, len(values))
    H, tc = cfg.data.horizon, cfg.train
    scaler = Scaler.fit(values[:a], cfg.model.log == "on")  # training part only
    z = scaler.transform(values)
    difference = (cfg.model.difference if cfg.model.difference is not None
                  else needs_difference(values[:a]))
    steps_out = H if cfg.model.strategy == "direct" else 1
    train_b = SeriesWindows(z, context, steps_out, 0, a, tc.batch_size, True, tc.seed)
    val_b = SeriesWindows(z, context, H, a, b, tc.eval_batch_size)
    split = {"n": len(values), "train_end": a, "val_end": b, "method":
             "chronological: train [0, train_end) | val [train_end, val_end) | test [val_end, n)",
             "sha256_16": _digest(values)}
    info = {"source": series.source, "column": series.column, "n": len(values),
            "train": a, "val": b - a, "test": len(values) - b, "context": context,
            "horizon": H, "season": cfg.data.season, "model": f"{cfg.model.model} "
            f"({cfg.model.strategy}{', differenced' if difference else ''}"
            f"{f', seasonal lag {cfg.data.season}' if cfg.model.seasonal else ''}"
            f"{', log' if cfg.model.log == 'on' else ''})"
            + (" chosen by --model auto (auto.json)" if auto else ""),
            "train_windows": train_b.num_windows(), "val_windows": val_b.num_windows()}
    artifacts = {"scaler": scaler.to_dict(), "column": series.column, **(
        {"auto": auto} if auto else {}),
                 "season": cfg.data.season, "horizon": H, "context": context, "split": split,
                 "source": series.source}
    return Prepared(train_b, val_b, split, artifacts, info,
                    extra={"context": context, "difference": difference})


def _prepare_combination(cfg: RunConfig, series: Any, values: np.ndarray,
                         auto: dict[str, Any] | None, combination: dict[str, Any],
                         state: dict[str, Any] | None) -> Prepared:
    """A run whose `--model auto` choice is a classical model or a combination: nothing to
    train, the members were fitted during the choice (`auto.select`); the driver stores them
    (`ForecastCombination.fit_counts` loads `state`)."""
    from rnnlab.data.series import Scaler, SeriesWindows

    a, b = (auto or {})["val_part"]
    H, tc, context = cfg.data.horizon, cfg.train, combination["context"]
    scaler = Scaler.fit(values[:a])  # the networks read their own (members' "scaler")
    z = scaler.transform(values)
    train_b = SeriesWindows(z, min(context, a - 1), 1, 0, a, tc.batch_size, True, tc.seed)
    val_b = SeriesWindows(z, min(context, a - 1), H, a, b, tc.eval_batch_size)
    split = {"n": len(values), "train_end": a, "val_end": b, "method":
             "chronological: train [0, train_end) | val [train_end, val_end) | test [val_end, n)",
             "sha256_16": _digest(values)}
    info = {"source": series.source, "column": series.column, "n": len(values),
            "train": a, "val": b - a, "test": len(values) - b, "context": context,
            "horizon": H, "season": cfg.data.season,
            "model": f"{combination['label']}, chosen by --model auto (auto.json)",
            "train_windows": train_b.num_windows(), "val_windows": val_b.num_windows()}
    artifacts = {"scaler": scaler.to_dict(), "column": series.column,
                 **({"auto": auto} if auto else {}), "season": cfg.data.season, "horizon": H,
                 "context": context, "split": split, "source": series.source}
    return Prepared(train_b, val_b, split, artifacts, info, counts=state,
                    extra={"context": context, "difference": False,
                           "combination": combination})


def build_model(cfg: RunConfig, prepared: Prepared) -> nn.Module:
    from rnnlab.models.forecaster import ForecastCombination, forecaster_from_config

    if "combination" in prepared.extra:
        return ForecastCombination(**prepared.extra["combination"])
    return forecaster_from_config(cfg.model, cfg.data, prepared.extra["context"],
                                  prepared.extra["difference"])


def validate(model: nn.Module, batches: Any) -> dict[str, float]:
    """The H-step forecast error (scaled units) from every validation window: a recursive
    model is selected on what it will be used for, not on its one-step loss."""
    from rnnlab.metrics import window_forecast_errors

    return window_forecast_errors(model, batches)


def finish(cfg: RunConfig, prepared: Prepared, model: nn.Module, out: Path) -> dict[str, Any]:
    """The test errors of the best model beside naive and seasonal naive."""
    from rnnlab.checkpoint import BEST

    loaded = Loaded(NAME, cfg, model, {**prepared.artifacts, "config": cfg.to_dict()},
                    out / BEST)
    return evaluate(loaded, baselines=("naive", "seasonal_naive"))


# -- using a trained model -------------------------------------------------------------------
def _run_series(loaded: Loaded) -> np.ndarray:
    """The run's series, refused if the file changed since training."""
    import numpy as np

    payload = loaded.payload
    values = np.asarray(load_series(loaded.cfg.data).values, np.float64)
    split = payload["split"]
    if len(values) != split["n"] or _digest(values) != split["sha256_16"]:
        raise RnnlabError(
            f"the data {payload['source']!r} changed since training ({len(values)} values now, "
            f"{split['n']} then); restore the file or train a new run"
        )
    return values


MIN_CALIBRATION = 5  # windows; fewer make the residual quantiles meaningless


def residual_quantiles(
    model: Any, scaler: Scaler, values: np.ndarray, lo: int, hi: int, horizon: int,
    level: float,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-step residual quantiles (H,), (H,) of the model on the windows of [lo, hi), which
    must be data the model was not fitted on."""
    import numpy as np

    from rnnlab.data.series import series_origins
    from rnnlab.tasks.forecast.combine import forecasts

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
    resid = ys - forecasts(model, scaler, values, origins, horizon)  # (N_o, H)
    q = (1 - level) / 2
    return np.quantile(resid, q, axis=0), np.quantile(resid, 1 - q, axis=0), len(origins)


def evaluate(
    loaded: Loaded, options: Mapping[str, Any] | None = None, *,
    baselines: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """Rolling-origin errors on the run's test (or val) `split` for the model and baselines
    (default all; finish and benchmarks name theirs): {"model": {"mae", "rmse", "mase"},
    "naive": {...}, ..., "horizon": H, "by_step": ..., "interval": {"level", "coverage"}}."""
    import numpy as np

    from rnnlab.data.series import Scaler, series_origins
    from rnnlab.metrics import forecast_errors, forecast_mae, mase_scale
    from rnnlab.tasks.forecast.baselines import BASELINES, baseline_forecasts, naive, seasonal_naive
    from rnnlab.tasks.forecast.combine import describe as describe_model
    from rnnlab.tasks.forecast.combine import forecasts, is_combination

    o = COMMANDS["evaluate"].bind(options)
    horizon, split, level = o.horizon, o.split, o.interval_level
    model, payload = loaded.model, loaded.payload
    baselines = BASELINES if baselines is None else baselines
    values = _run_series(loaded)
    scaler = Scaler.from_dict(payload["scaler"])
    H = payload["horizon"] if horizon is None else horizon
    check_horizon(H)
    s = payload["split"]
    lo, hi = (s["val_end"], s["n"]) if split == "test" else (s["train_end"], s["val_end"])
    season = payload["season"]
    origins = series_origins(len(values), model.context, H, lo, hi)
    if len(origins) == 0:
        raise RnnlabError(
            f"--horizon {H} is longer than the {split} part ({hi - lo} values); use "
            f"--horizon <= {hi - lo}"
        )
    ys = values[origins[:, None] + np.arange(H)[None, :]]  # (N_o, H)
    preds = {"model": forecasts(model, scaler, values, origins, H)}
    if split == "test":
        base, info = baseline_forecasts(values, lo, origins, H, season, baselines)
    else:
        base = {"naive": naive(values, origins, H),
                "seasonal_naive": seasonal_naive(values, origins, H, season)}
        info = {}
    preds.update(base)
    scale = mase_scale(values[:lo], season)
    result: dict[str, Any] = {name: forecast_errors(ys, p, scale) for name, p in preds.items()}
    result["model"]["name"] = describe_model(model)
    if scaler.log and not is_combination(model):
        result["model"]["name"] = result["model"]["name"][:-1] + ", log)"
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


def check_horizon(horizon: Any) -> None:
    if isinstance(horizon, bool) or not isinstance(horizon, int) or not 1 <= horizon <= 1 << 16:
        raise RnnlabError(f"--horizon must be a whole number in [1, 65536], got {horizon!r}; "
                          "e.g. --horizon 12")


def forecast_future(loaded: Loaded, options: Mapping[str, Any] | None = None
                    ) -> dict[str, Any]:
    """`rnnlab forecast`: forecast `horizon` steps after the last observed value, with
    `interval_level` prediction intervals; write the CSV `out` (default RUN/forecast.csv)
    and a PNG beside it. A series never below zero gets no negative forecast or bound.
    Returns {"csv", "png", "rows", "level", "floor"}."""
    o = COMMANDS["forecast"].bind(options)
    return _forecast(loaded, o.horizon, o.out, o.interval_level)


def predict(loaded: Loaded, inputs: list[str], options: Mapping[str, Any] | None = None
            ) -> dict[str, Any]:
    """The forecast beyond the series (`forecast_future`, the trained horizon by default);
    a forecasting run reads no inputs: its series is its own."""
    o = COMMANDS["predict"].bind(options)
    if inputs:
        raise RnnlabError("a forecasting run predicts the future of its own series: drop the "
                          "INPUT arguments (use --horizon for the number of steps)")
    return _forecast(loaded, o.horizon, o.out, o.interval_level)


def _forecast(loaded: Loaded, horizon: int | None, out_csv: str | Path | None, level: float
              ) -> dict[str, Any]:
    import csv

    import numpy as np

    from rnnlab.data.series import Scaler
    from rnnlab.tasks.forecast.combine import describe as describe_model
    from rnnlab.tasks.forecast.combine import forecasts, is_combination

    model, payload = loaded.model, loaded.payload
    horizon = payload["horizon"] if horizon is None else horizon
    check_horizon(horizon)
    if not (isinstance(level, float) and 0 < level < 1):
        raise RnnlabError(f"--interval-level must be in (0, 1), got {level!r}; e.g. 0.9")
    values = _run_series(loaded)
    scaler = Scaler.from_dict(payload["scaler"])
    s = payload["split"]
    n = len(values)
    pred = forecasts(model, scaler, values, np.array([n]), horizon)[0]  # (H,)
    # calibrate on validation and test windows: both are out of sample for the weights, and
    # the future forecast needs as many windows of its horizon as the data hold
    q_lo, q_hi, _ = residual_quantiles(model, scaler, values, s["train_end"], n, horizon, level)
    series = load_series(loaded.cfg.data)
    dates = future_dates(series.dates, horizon)
    run_dir = loaded.path.parent
    csv_path = Path(out_csv) if out_csv else run_dir / "forecast.csv"
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    # a series that never went below zero (counts, sales, rainfall) gets no negative forecast
    # or bound: residual quantiles are symmetric-ish and know nothing of the floor
    floor = 0.0 if float(np.min(values)) >= 0 else -np.inf
    rows = []
    for k in range(horizon):
        rows.append({"step": k + 1, "date": dates[k] if dates else "",
                     "forecast": max(float(pred[k]), floor),
                     "lower": max(float(pred[k] + q_lo[k]), floor),
                     "upper": max(float(pred[k] + q_hi[k]), floor)})
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["step", "date", "forecast", "lower", "upper"])
        w.writeheader()
        w.writerows(rows)
    png = csv_path.with_suffix(".png")
    from rnnlab.plots import plot_forecast

    name = (describe_model(model) if is_combination(model)
            else f"{model.kind} {model.strategy}")
    plot_forecast(values, series.dates, rows, png, f"{payload['column']}: "
                  f"{name}, {int(level * 100)}% interval", level)
    return {"csv": str(csv_path), "png": str(png), "rows": rows, "level": level,
            "floor": None if floor == -np.inf else floor}


# -- what the CLI prints ---------------------------------------------------------------------
def describe_ready(i: dict[str, Any], out: Path) -> list[str]:
    return [f"data: {i['source']} column {i['column']!r}: {i['n']} values, split "
            f"train {i['train']} | val {i['val']} | test {i['test']} (chronological)",
            f"model: {i['model']}, context {i['context']}, horizon {i['horizon']}, season "
            f"{i['season']} ({i['params']:,} parameters, {i['train_windows']} training "
            f"windows)  run folder: {out}"]


def describe_progress(e: dict[str, Any]) -> str:
    return (f"step {e['step']:>6}  train mse {e['train_loss']:.4f}  val mae "
            f"{e.get('val_mae', float('nan')):.4f} (scaled)  {e['time']:.0f}s")


def describe_forecast(r: dict[str, Any], options: Options) -> Shown:
    """The table step, date, forecast, interval (--json: one object a step)."""
    wrote = f"wrote {r['csv']} and {r['png']}"
    if options.get("json"):
        return Shown(json_lines(r["rows"]), [wrote])
    lvl = int(r["level"] * 100)
    lines = [f"step\tdate\tforecast\tlower ({lvl}%)\tupper ({lvl}%)"]
    lines += [f"{row['step']}\t{row['date']}\t{row['forecast']:.4f}\t{row['lower']:.4f}\t"
              f"{row['upper']:.4f}" for row in r["rows"]]
    return Shown([*lines, wrote])


def describe_evaluation(m: dict[str, Any]) -> list[str]:
    return describe(m)


def describe(m: dict[str, Any]) -> list[str]:
    lines = [f"{m['split']} part, {m['origins']} rolling origins x {m['horizon']} steps "
             f"(MASE scale: in-sample seasonal naive MAE, season {m['season']}):"]
    for k in ("model", "naive", "seasonal_naive", "autoreg", "ets"):
        if k in m:
            label = m[k].get("name", m.get("baselines", {}).get(k, ""))
            lines.append(f"  {k:<15} MAE {m[k]['mae']:10.4f}  RMSE {m[k]['rmse']:10.4f}  "
                         f"MASE {m[k]['mase']:7.4f}  {label}")
    if "interval" in m:
        iv = m["interval"]
        lines.append(f"  {int(iv['level'] * 100)}% interval coverage on {m['split']}: "
                     f"{iv['coverage']:.3f}")
    return lines


def default_out_name(cfg: RunConfig) -> str:
    stem = Path(cfg.data.data).stem if cfg.data.data else "sunspots"
    return f"{stem}-forecast-{cfg.model.model}"


# -- the subcommands of a trained run, with their options ------------------------------------
FORECAST_OUT = OUT.but(help="the forecast's CSV file; its PNG goes beside it",
                       default_text="RUN/forecast.csv")
describe_predictions = describe_forecast
COMMANDS = commands(
    Command("evaluate", "MAE, RMSE and MASE by rolling origins, beside the baselines", (
        HORIZON, SPLIT, INTERVAL_LEVEL.but(help="level of the prediction interval whose "
                                          "coverage is measured (test split)"), SERIES_FORMAT,
        JSON.but(help='print JSON {"model": {"mae", "rmse", "mase"}, "naive": ..., '
                 '"by_step", ...}')),
        evaluate, show_evaluation(describe_evaluation)),
    Command("predict", "the forecast beyond the end of the series", (
        HORIZON, FORECAST_OUT, INTERVAL_LEVEL, SERIES_FORMAT,
        JSON.but(help='one JSON object {"step", "date", "forecast", "lower", "upper"} a '
                 'step')),
        lambda loaded, o: predict(loaded, o.get("inputs", []), o), describe_forecast),
    Command("forecast", "the forecast beyond the end of the series, with intervals", (
        HORIZON.but(required=True, default_text=None), FORECAST_OUT, INTERVAL_LEVEL,
        JSON.but(help='one JSON object {"step", "date", "forecast", "lower", "upper"} a '
                 'step')),
        forecast_future, describe_forecast),
)
