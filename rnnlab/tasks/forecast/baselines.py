"""Forecasting baselines, computed on the same split and origins as the neural models.

Shapes: N series length, N_o forecast origins, H horizon, m season.

An origin t forecasts y_t .. y_{t+H-1} from y_0 .. y_{t-1} (rolling origin: the history grows
with t, parameters stay those fitted once on the part before the test split).

  naive            ŷ_{t+h} = y_{t-1}
  seasonal_naive   ŷ_{t+h} = y_{t+h-m(⌊h/m⌋+1)}        the same season one cycle before
  autoreg          statsmodels AutoReg: y_t = c + Σ_{i=1..p} φ_i y_{t-i} + ε_t, p chosen by
                   AIC among 1..min(max(2m, 10), 40) (`ar_select_order`), forecast recursively
  ets              statsmodels Holt-Winters exponential smoothing (Holt 1957, Winters 1960;
                   Hyndman et al. 2008): additive damped trend, plus an additive or (for
                   positive series) multiplicative season of period m chosen by AIC when the
                   fitting part holds two full seasons

Fixed-parameter rolling forecasts: AutoReg's recursion is applied here to every origin at once
(a test pins it to `AutoRegResults.forecast`); ETS re-runs statsmodels' own filter with the
fitted parameters and initial states (`optimized=False`) on each origin's history, so no
smoothing equation is re-implemented.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

BASELINES = ("naive", "seasonal_naive", "autoreg", "ets")


def naive(values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """(N_o, H): the last observed value, repeated."""
    v = np.asarray(values, float)
    return np.repeat(v[origins - 1][:, None], horizon, axis=1)


def seasonal_naive(
    values: np.ndarray, origins: np.ndarray, horizon: int, season: int
) -> np.ndarray:
    """(N_o, H): the value one season before each target, from observed history only."""
    v = np.asarray(values, float)
    h = np.arange(horizon)
    lag = season * (h // season + 1)  # (H,) always > h, so the index is < origin
    out: np.ndarray = v[origins[:, None] + h[None, :] - lag[None, :]]
    return out


class AutoRegBaseline:
    name = "autoreg"

    def __init__(self, season: int = 1) -> None:
        self.season = season
        self.const, self.coefs, self.lags = 0.0, np.zeros(0), np.zeros(0, dtype=int)

    def fit(self, y: np.ndarray) -> AutoRegBaseline:
        from statsmodels.tsa.ar_model import AutoReg, ar_select_order

        y = np.asarray(y, float)
        maxlag = min(max(2 * self.season, 10), 40, len(y) // 3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sel = ar_select_order(y, maxlag=maxlag, ic="aic", trend="c")
            lags = sel.ar_lags if sel.ar_lags else [1]
            self.result = AutoReg(y, lags=lags, trend="c").fit()
        params = np.asarray(self.result.params, float)
        self.const, self.coefs = float(params[0]), params[1:]
        self.lags = np.asarray(self.result.model.ar_lags, dtype=int)
        return self

    def describe(self) -> str:
        return f"AR({int(self.lags.max())}) with constant, order by AIC"

    def to_dict(self) -> dict[str, Any]:
        """The fitted parameters as plain values (a checkpoint reads them back)."""
        return {"season": self.season, "const": self.const,
                "coefs": [float(c) for c in self.coefs], "lags": [int(i) for i in self.lags]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AutoRegBaseline:
        m = cls(int(d["season"]))
        m.const, m.coefs = float(d["const"]), np.asarray(d["coefs"], float)
        m.lags = np.asarray(d["lags"], dtype=int)
        return m

    def forecast(self, values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        """(N_o, H) recursive forecasts: predictions take the place of unknown lags."""
        v = np.asarray(values, float)
        p = int(self.lags.max())
        # each row holds the last p known values then the forecasts, oldest first
        buf = np.concatenate([v[origins[:, None] + np.arange(-p, 0)[None, :]],
                              np.zeros((len(origins), horizon))], axis=1)  # (N_o, p+H)
        for h in range(horizon):
            lagged = buf[:, p + h - self.lags]  # (N_o, n_lags) of y_{t+h-i}
            buf[:, p + h] = self.const + lagged @ self.coefs
        return buf[:, p:]


class ETSBaseline:
    name = "ets"

    def __init__(self, season: int = 1) -> None:
        self.season = season
        self.spec: dict[str, Any] = {}

    def _model(self, y: np.ndarray, seasonal: str | None, init: dict[str, Any] | None
               ) -> Any:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing

        kw: dict[str, Any] = {"trend": "add", "damped_trend": True}
        if seasonal is not None:
            kw.update(seasonal=seasonal, seasonal_periods=self.season)
        if init is None:
            # many initial states (m > 24) make the joint optimisation slow and unstable:
            # take them from the classical decomposition heuristic instead
            kw["initialization_method"] = "estimated" if self.season <= 24 else "heuristic"
        else:
            kw.update(initialization_method="known", **init)
        return ExponentialSmoothing(y, **kw)

    def fit(self, y: np.ndarray) -> ETSBaseline:
        y = np.asarray(y, float)
        options: list[str | None] = [None]
        if self.season > 1 and len(y) >= 2 * self.season:
            options = ["add", "mul"] if y.min() > 0 else ["add"]
        best = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for seasonal in options:
                res = self._model(y, seasonal, None).fit()
                if best is None or res.aic < best[1].aic:
                    best = (seasonal, res)
        assert best is not None
        self.seasonal, self.result = best
        p = self.result.params
        self.init = {"initial_level": p["initial_level"], "initial_trend": p["initial_trend"]}
        if self.seasonal is not None:
            self.init["initial_seasonal"] = np.asarray(p["initial_seasons"])
        self.smoothing = {"smoothing_level": p["smoothing_level"],
                          "smoothing_trend": p["smoothing_trend"],
                          "damping_trend": p["damping_trend"]}
        if self.seasonal is not None:
            self.smoothing["smoothing_seasonal"] = p["smoothing_seasonal"]
        return self

    def describe(self) -> str:
        return f"damped additive trend, season {self.seasonal or 'none'}"

    def to_dict(self) -> dict[str, Any]:
        """The fitted parameters and initial states as plain values (for a checkpoint)."""
        init = {k: (np.asarray(v, float).tolist() if k == "initial_seasonal" else float(v))
                for k, v in self.init.items()}
        return {"season": self.season, "seasonal": self.seasonal, "init": init,
                "smoothing": {k: float(v) for k, v in self.smoothing.items()}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ETSBaseline:
        m = cls(int(d["season"]))
        m.seasonal, m.smoothing = d["seasonal"], dict(d["smoothing"])
        m.init = {k: (np.asarray(v, float) if k == "initial_seasonal" else v)
                  for k, v in d["init"].items()}
        return m

    def forecast(self, values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        v = np.asarray(values, float)
        out = np.empty((len(origins), horizon))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for i, t in enumerate(origins):
                res = self._model(v[:t], self.seasonal, self.init).fit(
                    optimized=False, **self.smoothing)
                out[i] = res.forecast(horizon)
        return out


def baseline_forecasts(
    values: np.ndarray, fit_end: int, origins: np.ndarray, horizon: int, season: int,
    names: tuple[str, ...] = BASELINES,
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Forecasts (N_o, H) of each baseline from each origin, and a one-line description of
    each fitted model. Statistical models are fitted on `values[:fit_end]` only."""
    v = np.asarray(values, float)
    preds: dict[str, np.ndarray] = {}
    info: dict[str, str] = {}
    fitters: dict[str, Callable[[], object]] = {
        "autoreg": lambda: AutoRegBaseline(season).fit(v[:fit_end]),
        "ets": lambda: ETSBaseline(season).fit(v[:fit_end]),
    }
    for name in names:
        if name == "naive":
            preds[name], info[name] = naive(v, origins, horizon), "y_{t-1}"
        elif name == "seasonal_naive":
            preds[name] = seasonal_naive(v, origins, horizon, season)
            info[name] = f"y_(t-{season})"
        else:
            model = fitters[name]()
            preds[name] = model.forecast(v, origins, horizon)  # type: ignore[attr-defined]
            info[name] = model.describe()  # type: ignore[attr-defined]
    return preds, info
