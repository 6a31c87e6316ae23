"""rnnlab/tasks/forecast/baselines.py: naive and seasonal naive by hand; AutoReg and ETS
rolling forecasts equal statsmodels at the fit end."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rnnlab.data.series import read_series_csv
from rnnlab.tasks.forecast.baselines import AutoRegBaseline, ETSBaseline, naive, seasonal_naive


def test_naive_and_seasonal_naive_by_hand():
    v = np.array([10, 11, 12, 13, 14, 15, 16], float)
    o = np.array([4, 5])
    assert naive(v, o, 3).tolist() == [[13, 13, 13], [14, 14, 14]]
    # season 2: step h looks back 2 * (h // 2 + 1) values from the target
    assert seasonal_naive(v, o, 3, 2).tolist() == [[12, 13, 12], [13, 14, 13]]

SHARED = Path(__file__).resolve().parents[4] / "shared" / "data"
SUNSPOTS = SHARED / "timeseries" / "monthly-sunspots.csv"


def _series() -> np.ndarray:
    if SUNSPOTS.is_file():
        return np.array(read_series_csv(SUNSPOTS, "Sunspots").values[:240])
    t = np.arange(240)
    return 60 + 40 * np.sin(t / 21) + 5 * np.cos(t * 1.3)


def test_autoreg_and_ets_rolling_forecasts_equal_statsmodels_at_the_fit_end():
    y = _series()
    ar = AutoRegBaseline(season=12).fit(y[:200])
    assert np.allclose(ar.forecast(y, np.array([200]), 6)[0], ar.result.forecast(6))
    ets = ETSBaseline(season=12).fit(y[:200])
    assert np.allclose(ets.forecast(y, np.array([200]), 6)[0], ets.result.forecast(6))
