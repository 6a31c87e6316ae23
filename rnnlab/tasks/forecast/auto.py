"""`--model auto`: choose the forecaster's kind, context and preprocessing on the validation part.

Shapes: N series length, C context, H horizon, m season, N_v validation origins.

    values (N,) -> split train [0, a) | val [a, b) | test [b, N)    (as `series.resolve`)
    selection sees values[:b] only: the test part is cut off before any candidate is built
    for each candidate (kind, C, preprocessing):
        train briefly on the training part (the Trainer of every run, early stopping on the
        validation H-step MAE, at most `auto_steps` steps, evaluated every tenth of them)
        score: rolling-origin H-step MAE, original units, from every validation origin
               t in [a, b - H] (forecast y_t .. y_{t+H-1} from y_0 .. y_{t-1})
    classical: naive, seasonal naive (m > 1), AutoReg and ETS (`baselines.py`), fitted on
        the training part, scored on the same origins
    pool: every finite candidate, less networks whose forecasts repeat an earlier entry's
        (a seasonal network kept at step 0 is seasonal naive), sorted by score
    keep: the equal-weight mean of the k best, k in COMBINE_K = (1, 2, 3, 5) chosen by the
        same validation MAE (ties: the smaller k), `combine.py`; forecast combinations won
        the M4 competition (Makridakis, Spiliotis & Assimakopoulos, IJF 36, 2020)
    one network kept alone: the run (`rnnlab.tasks.forecast.prepare`) trains it again with
        the same seed and budget, which gives the same weights (the recorded score is the kept
        model's); anything else (a classical model, a combination) is stored as fitted in a
        `ForecastCombination` checkpoint, its classical members fitted again on [0, b) (as
        the baselines the test part is scored against), its networks as early stopping kept
        them; intervals come from its own residuals, as for any model

Candidates (`candidates`): linear, MLP and GRU (recursive) and MLP (direct), times the
preprocessings none, difference (Δ, ARIMA d = 1), and with m > 1 seasonal difference
(Δ_m, SARIMA D = 1) and both (Δ Δ_m); with `--log auto` each also on log values where
every value before the test part is > 0 (`Scaler(log=True)`: a multiplicative trend or
season, the "season mul" of ETS, becomes additive; FPP3 sec. 3.1 and 8.3). Not by default:
on the six non-held-out series with values > 0 (BENCHMARKS.md) the doubled grid chose worse
on two (FTSE, US real GDP: the more candidates, the likelier one wins validation by luck)
and within 2% on four. Contexts: default_context(m, H) for the non-seasonal
ones, and for the cheap window models also twice that (long cycles such as the 11-year
sunspot cycle) where the training part holds 10 values per input of it (on the 96 training
months of the airline series a 48-month window won validation by luck and lost on test);
m + min(m, default) for the seasonal ones, so they read a cycle of seasonal
differences; all at most half the training part (short series), never below what the model
needs. For m > 24 (daily data with a yearly cycle) the GRU gets no seasonal candidate: it
re-reads its m-long window for every forecast step, minutes per candidate. With
--strategy direct every candidate is direct; with the default (recursive) the grid holds
the recursive ones plus the direct MLP. A seasonal candidate starts (zero
output weights) exactly at the seasonal naive forecast and learns a correction to it
(`models/forecaster.py`), and training validates it at step 0 too (Trainer
`eval_at_start`), so where no step improves the validation windows it stays exactly seasonal
naive. Seasonal naive and naive are also recorded beside the candidates for reference
(`beats_seasonal_naive_on_val` says whether the kept forecast beats seasonal naive there).

Choosing the order of differencing and the model by an out-of-sample rolling-origin error,
instead of by a unit-root test, follows Hyndman & Athanasopoulos, Forecasting: Principles and
Practice (3rd ed.), sec. 5.10 (time series cross-validation) and 9.1 (differencing); the
record of every candidate goes to RUN/auto.json and into the checkpoint.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from rnnlab.data.series import (
    Scaler,
    SeriesWindows,
    default_context,
    model_forecasts,
    resolve,
    series_origins,
)
from rnnlab.errors import RnnlabError
from rnnlab.metrics import window_forecast_errors
from rnnlab.models.forecaster import forecaster_from_config
from rnnlab.tasks.forecast.baselines import naive, seasonal_naive

if TYPE_CHECKING:  # type hints only: rnnlab.tasks.forecast imports this module
    from rnnlab.config import RunConfig as ForecastConfig
    from rnnlab.models.forecaster import Forecaster

AUTO = "auto"
AUTO_KINDS = ("linear", "mlp", "gru")
LONG_SEASON = 24  # longer seasons: no seasonal latent-state candidates (see `candidates`)
LONG_WINDOW_VALUES = 10  # training values per input a doubled window needs (`candidates`)
PREPROCESSINGS = ("none", "difference", "seasonal", "seasonal+difference")
COMBINE_K = (1, 2, 3, 5)  # combination sizes tried on validation (`combine_pool`)
CLASSICAL = ("naive", "seasonal_naive", "autoreg", "ets")  # `combine.classical_member`


@dataclass(frozen=True)
class Candidate:
    kind: str
    context: int
    difference: bool
    seasonal: bool
    strategy: str = "recursive"
    log: bool = False

    @property
    def preprocessing(self) -> str:
        names = {(False, False): "none", (True, False): "difference",
                 (False, True): "seasonal", (True, True): "seasonal+difference"}
        return ("log " if self.log else "") + names[(self.difference, self.seasonal)]

    @property
    def label(self) -> str:
        direct = " direct" if self.strategy == "direct" else ""
        return f"{self.kind}{direct} C={self.context} {self.preprocessing}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "context": self.context, "difference": self.difference,
                "seasonal": self.seasonal, "log": self.log,
                "preprocessing": self.preprocessing,
                "strategy": self.strategy, "label": self.label}


def candidates(cfg: ForecastConfig, train_size: int, positive: bool = False) -> list[Candidate]:
    """The grid for `cfg` on a training part of `train_size` values (`positive`: every value
    before the test part is > 0, so `--log auto` can add log candidates); fields the user fixed stay
    fixed."""
    d, m = cfg.data, cfg.model
    season = max(int(d.season or 1), 1)
    kinds = AUTO_KINDS if m.model == AUTO else (m.model,)
    diffs = (False, True) if m.difference is None else (bool(m.difference),)
    if m.seasonal is None:
        seasonals: tuple[bool, ...] = (False, True) if season > 1 else (False,)
    else:
        seasonals = (bool(m.seasonal),)
    if m.log == AUTO:
        logs: tuple[bool, ...] = (False, True) if positive else (False,)
    else:
        logs = (m.log == "on",)
    base = default_context(season, d.horizon)
    # a short series: at most half the training part, so it still gives C windows to fit on
    cap = max(train_size // 2, 2)
    out: list[Candidate] = []
    if m.strategy == "direct":  # asked for: every candidate direct
        pairs = [(k, "direct") for k in kinds]
    else:  # the default: the grid adds the direct MLP (long horizons, no error feedback)
        pairs = [(k, "recursive") for k in kinds] + ([("mlp", "direct")] if m.model == AUTO
                                                      else [])
    for kind, strategy in pairs:
        recurrent = kind in ("rnn", "gru", "lstm")
        for seasonal in seasonals:
            # a seasonally differenced latent-state model re-reads its window for every
            # forecast step: minutes for a long season (m = 365), so window models only there
            if seasonal and recurrent and season > LONG_SEASON and m.model == AUTO:
                continue
            for diff in diffs:
                if m.context is not None:
                    contexts = [m.context]
                elif seasonal:  # a cycle of seasonal differences, at least the model's minimum
                    need = season + int(diff) + (2 if recurrent else 1)
                    contexts = [max(min(season + min(season, base), cap), need)]
                elif recurrent:
                    contexts = [min(base, cap)]
                elif train_size >= LONG_WINDOW_VALUES * 2 * base:
                    # window models are cheap: also a longer window (long cycles, sunspots),
                    # where the training part holds enough values per input to fit it
                    contexts = [min(base, cap), 2 * base]
                else:
                    contexts = [min(base, cap)]
                out += [Candidate(kind, c, diff, seasonal, strategy, log)
                        for log in logs for c in contexts]
    return out


def apply(cfg: ForecastConfig, cand: Candidate) -> ForecastConfig:
    """A copy of `cfg` that names `cand` exactly (no choice left to make), with the training
    budget of the selection: the final run then repeats the chosen candidate's training
    step for step (same seed, data and budget), so the validation score recorded for it is
    the score of the model the run keeps."""
    c = copy.deepcopy(cfg)
    c.model.model, c.model.context, c.model.strategy = cand.kind, cand.context, cand.strategy
    c.model.difference, c.model.seasonal = cand.difference, cand.seasonal
    c.model.log = "on" if cand.log else "off"
    tc = c.train
    tc.max_steps = min(tc.max_steps, cfg.model.auto_steps)
    tc.eval_every = max(1, min(tc.eval_every, tc.max_steps // 10))
    tc.max_time = None  # a budget of steps, so the choice does not depend on the machine load
    return c


def validation_mae(
    model: Forecaster, scaler: Scaler, values: np.ndarray, origins: np.ndarray, horizon: int
) -> float:
    """Rolling-origin H-step MAE in original units over `origins` (all inside `values`)."""
    ys = values[origins[:, None] + np.arange(horizon)[None, :]]  # (N_v, H)
    return float(np.abs(model_forecasts(model, scaler, values, origins, horizon) - ys).mean())


def fit_candidate(
    cfg: ForecastConfig, cand: Candidate, seen: np.ndarray, a: int,
) -> tuple[Forecaster, Scaler, dict[str, Any]]:
    """Train `cand` on seen[:a] (early stopping on seen[a:]): the model with its best
    weights, its scaler and {"best_step", "steps", "seconds"}."""
    import torch

    from rnnlab.trainer import Trainer

    c = apply(cfg, cand)
    H, b, tc = c.data.horizon, len(seen), c.train
    scaler = Scaler.fit(seen[:a], cand.log)  # training part only, as the final run
    z = scaler.transform(seen)
    torch.manual_seed(tc.seed)
    model = forecaster_from_config(c.model, c.data, cand.context, cand.difference)
    train_b = SeriesWindows(z, cand.context, model.steps_out, 0, a, tc.batch_size, True, tc.seed)
    val_b = SeriesWindows(z, cand.context, H, a, b, tc.eval_batch_size)
    plain = window_forecast_errors
    best: dict[str, Any] = {"mae": math.inf, "state": None}

    def eval_fn(net: Any, batches: Any) -> dict[str, float]:
        # keep the best weights in memory, by the Trainer's own rule (strictly lower), instead
        # of writing checkpoints for a model that is thrown away
        metrics = plain(net, batches)
        if metrics["mae"] < best["mae"]:
            best["mae"], best["state"] = metrics["mae"], copy.deepcopy(net.state_dict())
        return metrics

    t0 = time.perf_counter()
    hist = Trainer(tc, None, None, {}, eval_fn=eval_fn, monitor="mae",
                   eval_at_start=True).fit(model, train_b, val_b)
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    model.eval()
    return model, scaler, {"best_step": hist.best_step, "steps": hist.steps,
                           "seconds": round(time.perf_counter() - t0, 2)}


def score_candidate(
    cfg: ForecastConfig, cand: Candidate, seen: np.ndarray, a: int, origins: np.ndarray,
) -> dict[str, Any]:
    """Train `cand` on seen[:a] (early stopping on seen[a:]) and score it on `origins`."""
    model, scaler, info = fit_candidate(cfg, cand, seen, a)
    return {**cand.to_dict(), "val_mae": validation_mae(model, scaler, seen, origins,
                                                        cfg.data.horizon), **info}


@dataclass
class Selection:
    """What `select` decides: the run's config, the record (auto.json), and, where the choice
    is not one network retrained by the run, the combination to store (hparams of
    `ForecastCombination` and its members' weights)."""

    cfg: ForecastConfig
    record: dict[str, Any] | None
    combination: dict[str, Any] | None = None
    state: dict[str, Any] | None = None


def choose(
    cfg: ForecastConfig, values: np.ndarray,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[ForecastConfig, dict[str, Any] | None]:
    """`select` without the combination's weights: the run's config and the record."""
    sel = select(cfg, values, on_event)
    return sel.cfg, sel.record


def _duplicate(f: np.ndarray, kept: list[np.ndarray], scale: float) -> bool:
    """True when forecasts `f` equal one of `kept` up to float32 rounding (a seasonal
    network kept at step 0 is seasonal naive): a combination would count it twice."""
    return any(float(np.abs(f - g).max()) <= 1e-5 * scale for g in kept)


def combine_pool(pool: list[dict[str, Any]], ys: np.ndarray,
                 ks: tuple[int, ...] | None = None) -> tuple[int, list[dict[str, float]]]:
    """The k (of `ks`) whose equal-weight mean of the k best entries of `pool` (sorted by
    val_mae, each with "forecasts" (N_v, H)) has the lowest validation MAE; ties: the
    smaller k. Returns (k, [{"k", "val_mae"}, ...])."""
    scores = []
    for k in COMBINE_K if ks is None else ks:
        if k > len(pool):
            break
        mean = np.mean(np.stack([e["forecasts"] for e in pool[:k]]), axis=0)
        scores.append({"k": k, "val_mae": float(np.abs(mean - ys).mean())})
    best = min(scores, key=lambda r: (r["val_mae"], r["k"]))
    return int(best["k"]), scores


def select(
    cfg: ForecastConfig, values: np.ndarray,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> Selection:
    """For `--model auto`: the choice among networks, classical models and combinations of
    the best few, by rolling-origin validation MAE; for a named model `cfg` unchanged and no
    record. Fields the user set (--context, difference, seasonal) stay fixed for the networks.
    Reads values[:val_end] only."""
    import torch

    from rnnlab.tasks.forecast.combine import classical_member, member_forecasts

    m = cfg.model
    if m.model != AUTO:  # a named model keeps its settings (no seasonal prior unless asked)
        return Selection(cfg, None)
    n = len(values)
    # the split alone (context 1 always fits): horizon, season and length errors surface here
    _, a, b = resolve(apply(cfg, Candidate(AUTO_KINDS[0], 1, False, False)), n,
                      window="the shortest window of --model auto (1 value)")
    # log candidates need values > 0, judged on the part selection sees (a value <= 0 in the
    # test part then stops the run with the error of `series.positive`, which names --log off)
    positive = bool(np.all(np.asarray(values[:b], np.float64) > 0))
    grid, usable, errors = candidates(cfg, a, positive), [], []
    for cand in grid:
        try:
            c = apply(cfg, cand)
            resolve(c, n)
            forecaster_from_config(c.model, c.data, cand.context, cand.difference)  # e.g. a
            # --context below the seasonal lag
            usable.append(cand)
        except RnnlabError as e:  # e.g. a seasonal context too long for a short series
            errors.append(e)
    if not usable:
        raise errors[0]
    seen = np.asarray(values[:b], np.float64)  # the test part is never handed on
    H, season = cfg.data.horizon, max(int(cfg.data.season), 1)
    context_max = max(c.context for c in usable)
    origins = series_origins(b, context_max, H, a, b)  # common to every candidate
    if len(origins) == 0:
        raise RnnlabError(
            f"--horizon {H}: the validation part [{a}, {b}) holds no origin for --model auto; "
            "use a smaller --horizon or a larger --val-size"
        )
    ys = seen[origins[:, None] + np.arange(H)[None, :]]
    reference = {
        "naive": float(np.abs(naive(seen, origins, H) - ys).mean()),
        "seasonal_naive": float(np.abs(seasonal_naive(seen, origins, H, season) - ys).mean()),
    }
    t0, c0 = time.perf_counter(), time.process_time()
    scores: list[dict[str, Any]] = []
    classical: list[dict[str, Any]] = []
    pool: list[dict[str, Any]] = []
    kept: list[np.ndarray] = []
    scale = float(np.abs(ys).mean()) or 1.0
    # classical models first: a network that merely repeats one of them is dropped as a copy
    for name in CLASSICAL:
        if name == "seasonal_naive" and season == 1:
            continue  # it is naive
        t1 = time.perf_counter()
        member = classical_member(name, seen, a, season)  # fitted on the training part
        f = member_forecasts(member, None, seen, origins, H)
        rec = {"label": member["label"], "type": name, "about": member["about"],
               "val_mae": float(np.abs(f - ys).mean()),
               "seconds": round(time.perf_counter() - t1, 2)}
        if not np.all(np.isfinite(f)):
            rec["val_mae"] = math.inf
        classical.append(rec)
        if np.isfinite(rec["val_mae"]):
            kept.append(f)
            pool.append({"label": member["label"], "name": name, "forecasts": f,
                         "val_mae": rec["val_mae"]})
        if on_event is not None:
            on_event({"event": "auto", **rec})
    for cand in usable:
        net, scaler, info = fit_candidate(cfg, cand, seen, a)
        f = model_forecasts(net, scaler, seen, origins, H)
        s = {**cand.to_dict(), "type": "network", "val_mae": float(np.abs(f - ys).mean()),
             **info}
        scores.append(s)
        if on_event is not None:
            on_event({"event": "auto", **s})
        if np.all(np.isfinite(f)) and not _duplicate(f, kept, scale):
            kept.append(f)
            pool.append({"label": cand.label, "cand": cand, "forecasts": f, "net": net,
                         "scaler": scaler, "val_mae": s["val_mae"]})
    pool.sort(key=lambda e: e["val_mae"])  # stable: classical first among equals
    k, by_k = combine_pool(pool, ys)
    members = pool[:k]
    val_mae = next(r["val_mae"] for r in by_k if r["k"] == k)
    record: dict[str, Any] = {
        "val_mae": val_mae,
        # a seasonal model kept at step 0 is seasonal naive up to float32 rounding: not a win
        "beats_seasonal_naive_on_val": bool(val_mae < reference["seasonal_naive"] * (1 - 1e-6)),
        "combination": {"k": k, "members": [e["label"] for e in members],
                        "member_val_mae": [e["val_mae"] for e in members], "by_k": by_k,
                        "ks": list(COMBINE_K)},
        "candidates": scores,
        "classical": classical,
        "skipped": [f"{c.label}: {e}" for c, e in zip(
            [c for c in grid if c not in usable], errors, strict=True)],
        "reference_val_mae": reference,
        "origins": len(origins), "val_part": [a, b], "horizon": H, "season": season,
        "auto_steps": m.auto_steps,
        "method": "networks trained on the training part (early stopping on validation), "
                  "classical models fitted on it; each scored by the rolling-origin H-step "
                  "MAE from every validation origin; the equal-weight mean of the k best "
                  f"(k in {list(COMBINE_K)}, chosen on the same origins) is kept; the test "
                  "part is not read",
    }
    if k == 1 and "cand" in members[0]:  # one network: the run retrains it as a named model
        chosen = members[0]["cand"]
        record["chosen"] = chosen.to_dict()
        record.update(seconds=round(time.perf_counter() - t0, 2),
                      cpu_seconds=round(time.process_time() - c0, 2))
        return Selection(apply(cfg, chosen), record)
    # a classical model or a combination: stored as fitted; the classical members are fitted
    # again on the training and validation parts, as the baselines the test part is scored
    # against (the networks keep the weights early stopping chose on validation)
    specs, nets = [], []
    for ent in members:
        if "cand" in ent:
            net = ent["net"]
            specs.append({"type": "network", "label": ent["label"],
                          "hparams": dict(net.hparams), "scaler": ent["scaler"].to_dict()})
            nets.append(net)
        else:
            specs.append(classical_member(ent["name"], seen, b, season))
    label = " + ".join(ent["label"] for ent in members)
    record["chosen"] = {"label": label if k == 1 else f"mean of {k}: {label}",
                        "kind": "combination", "members": specs, "refit": "classical members "
                        "fitted again on train + validation [0, val_end)"}
    from rnnlab.tasks.forecast.combine import member_context

    context = max(member_context(sp, H) for sp in specs)
    combination = {"members": specs, "context": context, "horizon": H,
                   "label": record["chosen"]["label"]}
    state = {f"nets.{i}.{key}": v.detach().clone() for i, net in enumerate(nets)
             for key, v in net.state_dict().items()}
    state["weights"] = torch.full((k,), 1.0 / k)
    record.update(seconds=round(time.perf_counter() - t0, 2),
                  cpu_seconds=round(time.process_time() - c0, 2))
    return Selection(cfg, record, combination, state)
