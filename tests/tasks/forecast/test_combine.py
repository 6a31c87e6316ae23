"""Forecast combinations (`rnnlab/tasks/forecast/combine.py`) and what `--model auto` keeps:
a combination forecasts the mean of its members (hand-computed); a classical member forecasts
as the baseline it wraps, and a run that keeps one scores exactly that baseline's row; a run
that keeps a combination evaluates, forecasts and predicts through the CLI and reloads with
the same forecasts. Small series, a few training steps."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from rnnlab.checkpoint import load_checkpoint
from rnnlab.cli import main
from rnnlab.config import RunConfig
from rnnlab.data.series import Scaler
from rnnlab.models.forecaster import ForecastCombination
from rnnlab.run import load, train
from rnnlab.runconfig import default_config
from rnnlab.tasks.forecast import auto, evaluate
from rnnlab.tasks.forecast.baselines import baseline_forecasts
from rnnlab.tasks.forecast.combine import (
    classical_member,
    combination_forecasts,
    forecasts,
    member_forecasts,
)


def _series(n: int = 96, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return np.round(100 + 0.8 * t + 20 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 3, n))


def _csv(tmp_path: Path, values: np.ndarray) -> Path:
    p = tmp_path / "s.csv"
    p.write_text("Month,Value\n" + "".join(
        f"{1960 + i // 12}-{i % 12 + 1:02d},{v:g}\n" for i, v in enumerate(values)))
    return p


def test_combination_forecast_is_the_mean_of_its_members_by_hand():
    v = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    members = [{"type": "naive", "label": "naive", "params": {}},
               {"type": "seasonal_naive", "label": "seasonal naive", "params": {"season": 2}},
               {"type": "autoreg", "label": "autoreg",
                "params": {"season": 1, "const": 1.0, "coefs": [0.5], "lags": [1]}}]
    model = ForecastCombination(members, context=2, horizon=2)
    # from origin 6: naive 6, 6; seasonal naive (m = 2) y_4, y_5 = 5, 6; AR 1 + 0.5 * 6 = 4,
    # then 1 + 0.5 * 4 = 3; the mean: (6 + 5 + 4) / 3 = 5 and (6 + 6 + 3) / 3 = 5
    got = combination_forecasts(model, v, np.array([6]), 2)
    assert np.allclose(got, [[5.0, 5.0]])
    assert np.allclose(forecasts(model, Scaler(), v, np.array([6]), 2), got)


def test_classical_member_forecasts_as_the_baseline_it_wraps():
    v = _series(96)
    origins = np.arange(84, 91)
    base, _ = baseline_forecasts(v, 84, origins, 6, 12)
    for name in ("naive", "seasonal_naive", "autoreg", "ets"):
        member = classical_member(name, v, 84, 12)
        # through plain values, as a checkpoint stores it
        member = json.loads(json.dumps(member))
        assert np.allclose(member_forecasts(member, None, v, origins, 6), base[name],
                           rtol=1e-12, atol=1e-9), name


def _cfg(data: Path, **model: object) -> RunConfig:
    cfg = default_config("forecast")
    cfg.data.data, cfg.data.season, cfg.data.horizon = str(data), 12, 6
    cfg.model.hidden_size, cfg.model.auto_steps = 8, 4
    cfg.model.difference = False  # a smaller grid; networks start at naive / seasonal naive
    for k, val in model.items():
        setattr(cfg.model, k, val)
    cfg.train.max_steps, cfg.train.eval_every, cfg.train.batch_size = 4, 2, 16
    cfg.train.lr, cfg.train.clip = 5.0, 0.0  # every step leaves the start: step 0 is kept
    cfg.train.threads = 1
    return cfg


def test_a_run_that_keeps_a_classical_model_scores_as_its_baseline(tmp_path, monkeypatch):
    # every network stays at its start, naive or seasonal naive, and is dropped as a copy
    # of those: the pool is the classical models; k = 1 keeps the best one alone
    monkeypatch.setattr(auto, "COMBINE_K", (1,))
    v = _series(96)
    out = tmp_path / "run"
    train("forecast", _cfg(_csv(tmp_path, v)), out)
    rec = json.loads((out / "auto.json").read_text())
    assert rec["chosen"]["kind"] == "combination" and rec["combination"]["k"] == 1
    name = rec["chosen"]["members"][0]["type"]
    assert name in ("naive", "seasonal_naive", "autoreg", "ets")
    assert rec["val_mae"] == min(c["val_mae"] for c in rec["classical"])
    m = evaluate(load(out))
    assert m["model"]["mae"] == pytest.approx(m[name]["mae"], rel=1e-12)
    assert np.isclose(m["model"]["mase"], m[name]["mase"], rtol=1e-12)


def test_cli_run_keeping_a_combination_evaluates_forecasts_and_predicts(tmp_path, monkeypatch,
                                                                        capsys):
    monkeypatch.setattr(auto, "COMBINE_K", (3,))  # a combination of three, whatever wins
    v = _series(96)
    data, out = _csv(tmp_path, v), tmp_path / "run"
    assert main(["train", "--task", "forecast", "--data", str(data), "--season", "12",
                 "--horizon", "6", "--out", str(out), "--max-steps", "4", "--eval-every", "2",
                 "--threads", "1", "--hidden-size", "8", "--auto-steps", "4", "--no-progress"]
                ) == 0
    rec = json.loads((out / "auto.json").read_text())
    assert rec["combination"]["k"] == 3 and len(rec["chosen"]["members"]) == 3
    ranked = sorted([*rec["classical"], *rec["candidates"]], key=lambda c: c["val_mae"])
    assert rec["combination"]["member_val_mae"][0] == pytest.approx(ranked[0]["val_mae"], rel=1e-4)
    payload = load_checkpoint(out)
    assert payload["model_class"] == "ForecastCombination" and payload["auto"] == rec
    capsys.readouterr()
    assert main(["evaluate", str(out), "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["model"]["name"].startswith("mean of 3") and "coverage" in m["interval"]
    # the stored combination forecasts the mean of its members, reloaded
    loaded = load(out)
    origins = np.arange(84, 91)
    nets = iter(loaded.model.nets)
    each = [member_forecasts(s, next(nets) if s["type"] == "network" else None, v, origins, 6)
            for s in loaded.model.members]
    assert np.allclose(forecasts(loaded.model, Scaler(), v, origins, 6), np.mean(each, axis=0))
    assert main(["forecast", str(out), "--horizon", "4"]) == 0
    rows = list(csv.DictReader(open(out / "forecast.csv")))
    assert len(rows) == 4 and all(float(r["lower"]) <= float(r["forecast"]) <= float(r["upper"])
                                  for r in rows)
    want = forecasts(loaded.model, Scaler(), v, np.array([96]), 4)[0]
    assert np.allclose([float(r["forecast"]) for r in rows], want)
    capsys.readouterr()
    assert main(["predict", str(out), "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert [r["step"] for r in lines] == [1, 2, 3, 4, 5, 6]  # the trained horizon


def test_a_forecast_combination_is_refused_with_its_reason() -> None:
    """A forecasting run that kept classical models or a mean has no graph to export."""
    from rnnlab.errors import RnnlabError
    from rnnlab.export.onnx import _kind
    from rnnlab.models.forecaster import ForecastCombination

    model = ForecastCombination([{"type": "naive", "params": {}}], context=4, horizon=2)
    with pytest.raises(RnnlabError, match="--model mlp"):
        _kind(model)
