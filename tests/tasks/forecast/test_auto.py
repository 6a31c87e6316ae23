"""`--model auto` and the seasonal prior: the seasonal differencing round-trips exactly; an
untrained seasonal model is seasonal naive; the selection never reads the test part; the
choice is recorded in auto.json and the checkpoint; an auto-chosen model reloads with
identical forecasts; step 0 is validated, so seasonal naive stays where training only hurts.
Small synthetic series, a few training steps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab.checkpoint import load_checkpoint
from rnnlab.cli import main
from rnnlab.config import RunConfig
from rnnlab.data.series import Scaler, model_forecasts
from rnnlab.errors import RnnlabError
from rnnlab.models.base import SeriesBatch
from rnnlab.models.forecaster import Forecaster, seasonal_difference, undo_seasonal_difference
from rnnlab.run import load, train
from rnnlab.runconfig import default_config
from rnnlab.tasks import forecast
from rnnlab.tasks.forecast import auto as auto_module
from rnnlab.tasks.forecast.auto import candidates, choose, validation_mae
from rnnlab.tasks.forecast.baselines import seasonal_naive


def _series(n: int = 96, seed: int = 0) -> np.ndarray:
    """Monthly-like: trend + yearly cycle + noise, rounded to integers like a count series."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return np.round(100 + 0.8 * t + 20 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 3, n))


def _csv(tmp_path: Path, values: np.ndarray, name: str = "s.csv") -> Path:
    p = tmp_path / name
    p.write_text("Month,Value\n" + "".join(
        f"{1960 + i // 12}-{i % 12 + 1:02d},{v:g}\n" for i, v in enumerate(values)))
    return p


def load_run(out: Path):
    loaded = load(out)
    return loaded.model, loaded.payload


def train_forecast(cfg: RunConfig, out: Path):
    return train("forecast", cfg, out)


def _cfg(data: Path | None = None, **model: object) -> RunConfig:
    cfg = default_config("forecast")
    cfg.data.data = str(data) if data else None
    cfg.data.season, cfg.data.horizon = 12, 6
    cfg.model.hidden_size, cfg.model.auto_steps = 8, 4
    for k, v in model.items():
        setattr(cfg.model, k, v)
    cfg.train.max_steps, cfg.train.eval_every, cfg.train.batch_size = 4, 2, 16
    cfg.train.threads = 1
    return cfg


@pytest.mark.parametrize("season,difference", [(12, False), (12, True), (0, True), (4, True)])
def test_seasonal_differencing_round_trips_exactly(season, difference):
    x = torch.as_tensor(_series(40), dtype=torch.float64)[None].repeat(2, 1)  # (2, 40)
    lag = season + int(difference)
    u = seasonal_difference(x, season, difference)  # (2, 40 - lag)
    assert u.shape == (2, 40 - lag)
    assert torch.equal(undo_seasonal_difference(u, x[:, :lag], season, difference), x)
    y = torch.randn(3, 30, dtype=torch.float64)  # non-integer values: equal to rounding
    back = undo_seasonal_difference(seasonal_difference(y, season, difference), y[:, :lag],
                                    season, difference)
    assert torch.allclose(back, y, atol=1e-12, rtol=0)


@pytest.mark.parametrize("log", [False, True], ids=["levels", "log"])
@pytest.mark.parametrize("kind", ["linear", "mlp", "gru"])
def test_untrained_seasonal_model_is_seasonal_naive(kind, log):
    v = _series(60)
    model = Forecaster(kind=kind, context=24, horizon=12, hidden_size=8, seasonal=12).eval()
    scaler = Scaler.fit(v[:40], log=log)  # exp(log y_{t-m}) = y_{t-m}: naive either way
    origins = np.arange(30, 49)
    got = model_forecasts(model, scaler, v, origins, 12)
    assert np.allclose(got, seasonal_naive(v, origins, 12, 12), atol=1e-4)


@pytest.mark.parametrize("difference", [False, True], ids=["seasonal", "seasonal+difference"])
@pytest.mark.parametrize("kind", ["linear", "mlp", "gru"])
def test_seasonal_recursive_forecast_equals_feeding_predictions_back(kind, difference):
    torch.manual_seed(0)
    model = Forecaster(kind=kind, context=16, hidden_size=8, difference=difference, seasonal=4)
    torch.nn.init.normal_(model.out.weight, std=0.5)  # away from seasonal naive
    model.eval()
    x = torch.randn(3, 16)
    fast = model.forecast(x, 6)
    seq = x
    for k in range(6):
        y = model(SeriesBatch(seq[:, -16:], None)).logits[:, 0, 0]
        assert torch.allclose(fast[:, k], y, atol=1e-5), k
        seq = torch.cat([seq, y[:, None]], dim=1)


def test_log_scaler_round_trips_and_refuses_values_at_or_below_zero():
    v = _series(48)
    s = Scaler.fit(v[:36], log=True)
    assert np.allclose(s.transform(v), (np.log(v) - np.log(v[:36]).mean())
                       / np.log(v[:36]).std(), atol=1e-12)
    assert np.allclose(s.inverse(s.transform(v)), v, rtol=1e-12)
    assert Scaler.from_dict(s.to_dict()).log is True
    assert Scaler.from_dict({"mean": 0.0, "std": 1.0}).log is False  # older checkpoints
    with pytest.raises(RnnlabError, match=r"--log on needs values > 0.*\(the first, 0, at "
                       r"position 3\); pass --log off"):
        Scaler.fit(np.array([1.0, 2.0, 3.0, 0.0]), log=True)
    bad = v.copy()
    bad[-1] = -5.0
    with pytest.raises(RnnlabError, match="the series holds 1 value"):
        s.transform(bad)


def test_selection_never_reads_the_test_part():
    v = _series(96)
    cfg = _cfg(context=14)  # one context: a smaller grid, the same question
    other = v.copy()
    other[-12:] = np.nan  # default split: val = test = max(2H, N // 10) = 12 values
    c1, r1 = choose(cfg, v)
    c2, r2 = choose(_cfg(context=14), other)
    assert r1 is not None and r2 is not None
    assert r1["val_part"] == [72, 84]  # train [0, 72) | val [72, 84) | test [84, 96)
    assert r1["chosen"] == r2["chosen"]
    assert [c["val_mae"] for c in r1["candidates"]] == [c["val_mae"] for c in r2["candidates"]]
    assert all(np.isfinite(c["val_mae"]) for c in r2["candidates"])
    assert (c1.model.model, c1.model.context) == (c2.model.model, c2.model.context)


def test_grid_covers_kinds_and_preprocessings_and_respects_fixed_fields():
    grid = candidates(_cfg(), 60)
    assert {(c.kind, c.strategy) for c in grid} == {("linear", "recursive"), ("mlp", "recursive"),
                                                    ("gru", "recursive"), ("mlp", "direct")}
    assert {c.preprocessing for c in grid} == {"none", "difference", "seasonal",
                                                "seasonal+difference"}
    assert all(c.context <= 30 for c in grid)  # at most half the training part
    fixed = candidates(_cfg(context=20, seasonal=True, difference=False), 60)
    assert {(c.context, c.preprocessing) for c in fixed} == {(20, "seasonal")}
    one = _cfg()
    one.data.season = 1
    assert {c.preprocessing for c in candidates(one, 60)} == {"none", "difference"}
    daily = _cfg()
    daily.data.season, daily.data.horizon = 365, 30
    assert not [c for c in candidates(_cfg(), 60, positive=True) if c.log]  # off by default
    assert not [c for c in candidates(_cfg(log="auto"), 60) if c.log]  # a value <= 0
    both = candidates(_cfg(log="auto"), 60, positive=True)
    assert {c.preprocessing for c in both} == {p for q in ("", "log ") for p in (
        q + "none", q + "difference", q + "seasonal", q + "seasonal+difference")}
    assert all(c.log for c in candidates(_cfg(log="on"), 60, positive=True))
    assert not [c for c in candidates(daily, 2000) if c.kind == "gru" and c.seasonal]


def test_choice_is_recorded_and_the_checkpoint_reloads_identically(tmp_path, monkeypatch):
    # networks only, one kept: the run retrains it as a named model (the path a single
    # network takes; classical models and combinations are tests/tasks/forecast/test_combine.py)
    monkeypatch.setattr(auto_module, "CLASSICAL", ())
    monkeypatch.setattr(auto_module, "COMBINE_K", (1,))
    v = _series(96)
    data = _csv(tmp_path, v)
    out = tmp_path / "run"
    res = train_forecast(_cfg(data, seasonal=True), out)  # auto, seasonal prior forced on
    auto = json.loads((out / "auto.json").read_text())
    assert auto["chosen"]["seasonal"] is True
    assert len(auto["candidates"]) == 8  # 4 kinds/strategies x (seasonal, + difference)
    assert all("val_mae" in c for c in auto["candidates"])
    assert auto["chosen"]["label"] == min(auto["candidates"], key=lambda c: c["val_mae"])["label"]
    payload = load_checkpoint(out)
    assert payload["auto"] == auto
    assert payload["config"]["model"]["model"] == auto["chosen"]["kind"]
    model, _ = load_run(out)
    assert model.seasonal == 12 and model.context == auto["chosen"]["context"]
    scaler = Scaler.from_dict(payload["scaler"])
    a, b = auto["val_part"]  # the kept model repeats the chosen candidate's training exactly
    val_origins = np.arange(a, b - 6 + 1)
    assert validation_mae(model, scaler, v[:b], val_origins, 6) == pytest.approx(
        auto["val_mae"], rel=1e-9)
    origins = np.arange(72, 85)
    again = model_forecasts(model, scaler, v, origins, 6)
    assert np.array_equal(again, model_forecasts(res.model, scaler, v, origins, 6))
    assert np.array_equal(again, model_forecasts(load_run(out)[0], scaler, v, origins, 6))


def test_cli_default_is_auto(tmp_path, capsys):
    data = _csv(tmp_path, _series(72))
    out = tmp_path / "run"
    assert main(["train", "--task", "forecast", "--data", str(data), "--season", "12",
                 "--horizon", "6", "--out", str(out), "--max-steps", "2", "--eval-every", "1",
                 "--threads", "1", "--hidden-size", "8", "--no-progress"]) == 0
    auto = json.loads((out / "auto.json").read_text())
    assert {c["preprocessing"] for c in auto["candidates"]} == {
        "none", "difference", "seasonal", "seasonal+difference"}  # no log unless asked
    assert main(["evaluate", str(out), "--json"]) == 0
    assert "seasonal_naive" in capsys.readouterr().out


def test_log_auto_needs_model_auto_and_log_on_refuses_a_value_at_zero(tmp_path, user_error):
    base = ["train", "--task", "forecast", "--season", "12", "--horizon", "6", "--threads",
            "1", "--out", str(tmp_path / "r")]
    msg = user_error([*base, "--model", "mlp", "--log", "auto"])
    assert "--log auto" in msg and "--log on or --log off" in msg
    v = _series(72)
    v[5] = 0.0
    msg = user_error([*base, "--data", str(_csv(tmp_path, v)), "--model", "mlp", "--log", "on"])
    assert "--log on needs values > 0" in msg and "position 5" in msg


def test_too_short_series_for_auto_names_no_context_the_user_did_not_give(tmp_path, user_error):
    short = tmp_path / "short.csv"
    short.write_text("v\n" + "\n".join(str(i) for i in range(8)) + "\n")
    msg = user_error(["train", "--task", "forecast", "--data", str(short), "--column", "v",
                      "--horizon", "3", "--threads", "1", "--out", str(tmp_path / "r")])
    assert "shortest window of --model auto" in msg and "--context" not in msg


def test_step_zero_is_validated_so_seasonal_naive_stays_when_training_only_hurts(
        tmp_path, monkeypatch):
    v = _series(96)
    cfg = _cfg(_csv(tmp_path, v), model="linear", context=14, seasonal=True, difference=False)
    cfg.train.lr, cfg.train.clip = 5.0, 0.0  # every step moves far from the seasonal prior
    out = tmp_path / "run"
    res = train_forecast(cfg, out)
    payload = load_checkpoint(out / "best.pt")
    assert payload["trainer"]["best_step"] == 0
    scaler = Scaler.from_dict(payload["scaler"])
    origins = np.arange(72, 85)
    got = model_forecasts(res.model, scaler, v, origins, 6)
    assert np.allclose(got, seasonal_naive(v, origins, 6, 12), atol=1e-6)
    # without the step-0 figure the kept model is a trained one, away from seasonal naive
    monkeypatch.setattr(forecast, "EVAL_AT_START", False)
    train_forecast(cfg, tmp_path / "run2")
    assert load_checkpoint(tmp_path / "run2" / "best.pt")["trainer"]["best_step"] > 0
