"""Forecast combinations: the members `--model auto` may keep, and their forecasts.

Shapes: N series length, N_o forecast origins, H horizon, m season, k members.

A member is a trained network (a Forecaster with its own scaler) or a classical model the
run already fits as a baseline (`baselines.py`): naive, seasonal naive, AutoReg, ETS. A
combination forecasts the equal-weight mean of its k members' forecasts,

    ŷ_{t+h} = (1/k) Σ_j ŷ^{(j)}_{t+h}        every member from the same origin t,

the simple average that won the M4 competition's comparison of combinations (Makridakis,
Spiliotis & Assimakopoulos, Int. J. Forecasting 36, 2020) and the "forecast combination
puzzle" (Claeskens et al. 2016: estimated weights rarely beat equal ones). A single member
is a combination of one. Members are stored as plain values (`member` dicts, see
`rnnlab.models.forecaster.ForecastCombination`); a classical member forecasts exactly as the
baseline function it wraps, with the parameters it was fitted with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from rnnlab.tasks.forecast.baselines import AutoRegBaseline, ETSBaseline, naive, seasonal_naive

if TYPE_CHECKING:
    from rnnlab.data.series import Scaler

CLASSICAL = ("naive", "seasonal_naive", "autoreg", "ets")


def classical_member(name: str, values: np.ndarray, fit_end: int, season: int
                     ) -> dict[str, Any]:
    """The member dict of classical model `name`, fitted on values[:fit_end] (naive and
    seasonal naive have nothing to fit)."""
    v = np.asarray(values, np.float64)
    m = max(int(season), 1)
    if name == "naive":
        return {"type": "naive", "label": "naive", "params": {}, "about": "y_{t-1}"}
    if name == "seasonal_naive":
        return {"type": "seasonal_naive", "label": "seasonal naive", "params": {"season": m},
                "about": f"y_(t-{m})"}
    model = (AutoRegBaseline(m) if name == "autoreg" else ETSBaseline(m)).fit(v[:fit_end])
    return {"type": name, "label": name, "params": model.to_dict(), "about": model.describe()}


def member_context(member: dict[str, Any], horizon: int) -> int:
    """Past values a member needs before an origin (`horizon`: the seasonal naive lag)."""
    kind, p = member["type"], member.get("params", {})
    if kind == "network":
        return int(member["hparams"]["context"])
    if kind == "seasonal_naive":
        return int(p["season"]) * ((horizon - 1) // int(p["season"]) + 1)
    if kind == "autoreg":
        return max(int(max(p["lags"])), 1)
    if kind == "ets":
        return max(2 * int(p["season"]), 2) if p.get("seasonal") else 2
    return 1


def member_forecasts(member: dict[str, Any], net: Any, values: np.ndarray,
                     origins: np.ndarray, horizon: int) -> np.ndarray:
    """(N_o, H) forecasts in original units of one member (`net`: its Forecaster, for a
    network member)."""
    from rnnlab.data.series import Scaler, model_forecasts

    kind, p = member["type"], member.get("params", {})
    if kind == "network":
        return model_forecasts(net, Scaler.from_dict(member["scaler"]), values, origins, horizon)
    if kind == "naive":
        return naive(values, origins, horizon)
    if kind == "seasonal_naive":
        return seasonal_naive(values, origins, horizon, int(p["season"]))
    if kind == "autoreg":
        return AutoRegBaseline.from_dict(p).forecast(values, origins, horizon)
    if kind == "ets":
        return ETSBaseline.from_dict(p).forecast(values, origins, horizon)
    raise ValueError(f"unknown member type {kind!r}")


def combination_forecasts(model: Any, values: np.ndarray, origins: np.ndarray, horizon: int
                          ) -> np.ndarray:
    """(N_o, H): the mean of the members' forecasts of a ForecastCombination."""
    v = np.asarray(values, np.float64)
    nets = iter(model.nets)
    preds = [member_forecasts(m, next(nets) if m["type"] == "network" else None, v, origins,
                              horizon) for m in model.members]
    out: np.ndarray = np.mean(np.stack(preds), axis=0)
    return out


def forecasts(model: Any, scaler: Scaler, values: np.ndarray, origins: np.ndarray,
              horizon: int) -> np.ndarray:
    """(N_o, H) forecasts in original units of a run's model: one Forecaster (read through
    the run's scaler) or a combination (each member through its own)."""
    from rnnlab.data.series import model_forecasts

    if is_combination(model):
        return combination_forecasts(model, values, origins, horizon)
    return model_forecasts(model, scaler, values, origins, horizon)


def is_combination(model: Any) -> bool:
    return getattr(model, "kind", None) == "combination"


def describe(model: Any) -> str:
    """One line naming a run's model (evaluate's table, the forecast plot)."""
    if is_combination(model):
        labels = [m["label"] for m in model.members]
        if len(labels) == 1:
            return f"{labels[0]} (chosen by --model auto)"
        return f"mean of {len(labels)}: " + " + ".join(labels)
    return (f"{model.kind} ({model.strategy}, context {model.context}"
            + (", differenced" if model.difference else "")
            + (f", seasonal lag {model.seasonal}" if model.seasonal else "") + ")")
