"""Forecasting: scaler, chronological split, windows, errors and baselines against hand-computed
values; recursive == feeding predictions back; statsmodels baselines == statsmodels' own
forecasts; checkpoint round trip; the CLI train -> evaluate --json -> forecast flow for every
kind on a slice of a real series; user mistakes give one `error:` line and exit 2."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab.baselines import AutoRegBaseline, ETSBaseline, naive, seasonal_naive
from rnnlab.checkpoint import load_checkpoint, save_checkpoint
from rnnlab.cli import main
from rnnlab.errors import RnnlabError
from rnnlab.metrics import forecast_errors, mase_scale
from rnnlab.models import rebuild
from rnnlab.models.base import SeriesBatch
from rnnlab.models.forecaster import Forecaster
from rnnlab.series import Scaler, SeriesWindows, read_series_csv, split_series

TS = Path(__file__).resolve().parents[2] / "shared" / "data" / "timeseries"
SUNSPOTS = TS / "monthly-sunspots.csv"


@pytest.fixture
def sunspots_csv(tmp_path: Path) -> Path:
    """The first 160 months of monthly-sunspots.csv (CRLF, quoted dates, as the original)."""
    if SUNSPOTS.is_file():
        lines = SUNSPOTS.read_bytes().decode().split("\r\n")[:161]
    else:  # a stand-in with the same shape: an 11-year-like cycle
        lines = ['"Month","Sunspots"'] + [
            f'"{1749 + i // 12}-{i % 12 + 1:02d}",{50 + 40 * math.sin(i / 21):.1f}'
            for i in range(160)]
    p = tmp_path / "sunspots.csv"
    p.write_bytes("\r\n".join(lines).encode())
    return p


def test_scaler_is_fitted_on_the_training_part_only():
    values = [1.0, 2.0, 3.0, 6.0, 100.0, 200.0]
    a, b = split_series(len(values), 1, 1)
    assert (a, b) == (4, 5)
    s = Scaler.fit(values[:a])
    assert s.mean == 3.0  # (1 + 2 + 3 + 6) / 4; the 100 and 200 are not seen
    assert math.isclose(s.std, math.sqrt((4 + 1 + 0 + 9) / 4))
    assert np.allclose(s.inverse(s.transform(values)), values)
    assert Scaler.from_dict(s.to_dict()).std == s.std


def test_split_is_chronological_and_windows_never_cross_it():
    values = np.arange(20, dtype=float)
    a, b = split_series(20, 4, 4)
    assert (a, b) == (12, 16)
    train = SeriesWindows(values, 3, 2, 0, a, batch_size=4, shuffle=True, seed=1)
    val = SeriesWindows(values, 3, 2, a, b, batch_size=4)
    for src, lo, hi in ((train, 0, a), (val, a, b)):
        for batch in src.epoch(epoch=3):
            x, y = batch.inputs.numpy(), batch.targets.numpy()
            # each row is consecutive in time: shuffling moves whole windows only
            assert np.all(np.diff(np.concatenate([x, y], axis=1), axis=1) == 1)
            assert y.min() >= lo and y.max() < hi  # targets belong to the split
    assert train.origins.tolist() == list(range(3, 11))
    assert val.origins.tolist() == [12, 13, 14]  # inputs reach back into train
    # exact resume: batches from `start` equal the tail of the full epoch
    full = list(train.epoch(2))
    tail = list(train.epoch(2, start=1))
    assert all(torch.equal(p.inputs, q.inputs) for p, q in zip(full[1:], tail, strict=True))


def test_window_batching_values_by_hand():
    values = np.arange(10, dtype=float) * 10  # 0, 10, ..., 90
    w = SeriesWindows(values, context=3, horizon=2, lo=0, hi=10, batch_size=100)
    (batch,) = list(w.epoch())
    assert batch.reset is True
    assert batch.inputs[0].tolist() == [0, 10, 20] and batch.targets[0].tolist() == [30, 40]
    assert batch.inputs[-1].tolist() == [50, 60, 70] and batch.targets[-1].tolist() == [80, 90]
    assert batch.inputs.shape == (6, 3) and batch.targets.shape == (6, 2)


def test_mae_rmse_mase_by_hand():
    y = np.array([[1.0, 2.0], [3.0, 4.0]])
    y_hat = np.array([[2.0, 2.0], [3.0, 6.0]])  # errors 1, 0, 0, 2
    assert mase_scale([1, 3, 2, 5], 1) == 2.0  # (2 + 1 + 3) / 3
    assert mase_scale([1, 3, 2, 5], 2) == 1.5  # (|2-1| + |5-3|) / 2
    e = forecast_errors(y, y_hat, scale=2.0)
    assert e["mae"] == 0.75
    assert math.isclose(e["rmse"], math.sqrt(5 / 4))
    assert e["mase"] == 0.375


def test_naive_and_seasonal_naive_by_hand():
    v = np.array([10, 11, 12, 13, 14, 15, 16], float)
    o = np.array([4, 5])
    assert naive(v, o, 3).tolist() == [[13, 13, 13], [14, 14, 14]]
    # season 2: step h looks back 2 * (h // 2 + 1) values from the target
    assert seasonal_naive(v, o, 3, 2).tolist() == [[12, 13, 12], [13, 14, 13]]


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


def _random_model(
    kind: str, strategy: str = "recursive", horizon: int = 4, difference: bool = False
) -> Forecaster:
    torch.manual_seed(0)
    m = Forecaster(kind=kind, strategy=strategy, context=5, horizon=horizon, hidden_size=8,
                   difference=difference)
    torch.nn.init.normal_(m.out.weight, std=0.5)  # zero-init would make every kind "naive"
    return m.eval()


@pytest.mark.parametrize("difference", [False, True], ids=["levels", "differenced"])
@pytest.mark.parametrize("kind", ["linear", "mlp", "rnn", "gru", "lstm"])
def test_recursive_forecast_equals_feeding_predictions_back(kind, difference):
    model = _random_model(kind, difference=difference)
    x = torch.randn(3, 5)
    fast = model.forecast(x, 4)  # (B, 4); the recurrent ones carry their state by `step`
    seq = x
    for k in range(4):
        y = model(SeriesBatch(seq, None)).logits[:, 0, 0]  # re-read everything so far
        assert torch.allclose(fast[:, k], y, atol=1e-5), k
        seq = torch.cat([seq, y[:, None]], dim=1)


@pytest.mark.parametrize("kind", ["linear", "mlp", "gru"])
def test_direct_strategy_predicts_the_horizon_at_once(kind):
    model = _random_model(kind, "direct", horizon=6)
    x = torch.randn(2, 5)
    out = model(SeriesBatch(x, torch.randn(2, 6)))
    assert out.logits.shape == (2, 6, 1) and out.loss.ndim == 0
    assert torch.equal(model.forecast(x, 4), out.logits[:, :4, 0])
    with pytest.raises(RnnlabError, match="exceeds the horizon 6"):
        model.forecast(x, 7)


def test_differenced_linear_model_reads_changes_by_hand():
    model = Forecaster(kind="linear", context=3, difference=True)
    with torch.no_grad():
        model.out.weight.copy_(torch.tensor([[0.5, 2.0]]))  # on (Δx_{t-2}, Δx_{t-1})
    x = torch.tensor([[1.0, 2.0, 4.0]])  # changes 1, 2
    assert model.forecast(x, 1).item() == 4.0 + 0.5 * 1 + 2.0 * 2  # last value + f(changes)


def test_kpss_differences_a_random_walk_not_white_noise():
    from rnnlab.tasks.forecast import needs_difference

    rng = np.random.default_rng(0)
    noise = rng.normal(size=500)
    assert needs_difference(np.cumsum(noise)) and not needs_difference(noise)


def test_checkpoint_round_trip_gives_identical_forecasts(tmp_path):
    model = _random_model("gru", difference=True)
    save_checkpoint(tmp_path / "m.pt", {"model_class": "Forecaster", "hparams": model.hparams,
                                        "model_state": model.state_dict()})
    p = load_checkpoint(tmp_path / "m.pt")
    again = rebuild(p["model_class"], p["hparams"])
    again.load_state_dict(p["model_state"])
    again.eval()
    x = torch.randn(4, 9)
    assert torch.equal(model.forecast(x, 5), again.forecast(x, 5))


FAST = ["--max-steps", "2", "--eval-every", "1", "--threads", "1", "--hidden-size", "8",
        "--batch-size", "8", "--no-progress"]
KINDS = [["--model", "linear"], ["--model", "mlp"], ["--model", "rnn"], ["--model", "gru"],
         ["--model", "lstm"], ["--model", "mlp", "--strategy", "direct"]]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: "-".join(k[1::2]))
def test_cli_train_evaluate_forecast(tmp_path, sunspots_csv, capsys, kind):
    out = tmp_path / "run"
    assert main(["train", "--task", "forecast", "--data", str(sunspots_csv), "--column",
                 "Sunspots", "--season", "12", "--horizon", "3", "--context", "12",
                 "--out", str(out), *FAST, *kind]) == 0
    payload = load_checkpoint(out / "best.pt")
    assert payload["task"] == "forecast" and payload["horizon"] == 3
    values = read_series_csv(sunspots_csv, "Sunspots").values
    a = payload["split"]["train_end"]
    assert a == 160 - 2 * 16  # default val and test: max(2H, 10%) = 16 values each
    assert math.isclose(payload["scaler"]["mean"], float(np.mean(values[:a])))
    capsys.readouterr()
    assert main(["evaluate", str(out), "--json", "--threads", "1"]) == 0
    m = json.loads(capsys.readouterr().out)
    for name in ("model", "naive", "seasonal_naive", "autoreg", "ets"):
        assert set(m[name]) >= {"mae", "rmse", "mase"}, name
    assert m["horizon"] == 3 and len(m["by_step"]["model"]) == 3
    # MASE is the MAE over the in-sample seasonal naive MAE (everything before the test part)
    scale = mase_scale(values[:a + 16], 12)
    assert math.isclose(m["naive"]["mase"], m["naive"]["mae"] / scale)
    csv_path = tmp_path / "fc.csv"
    assert main(["forecast", str(out), "--horizon", "3", "--out", str(csv_path)]) == 0
    rows = list(csv.DictReader(csv_path.open()))
    assert [r["date"] for r in rows] == ["1762-05", "1762-06", "1762-07"]  # after 1762-04
    assert all(float(r["lower"]) <= float(r["upper"]) for r in rows)
    assert csv_path.with_suffix(".png").stat().st_size > 1000


def test_embedded_sunspots_default(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--task", "forecast", "--out", str(out), *FAST]) == 0
    assert load_checkpoint(out)["source"] == "embedded:statsmodels-sunspots-yearly"
    assert "seasonal_naive" in capsys.readouterr().out



def test_bad_input_gives_one_error_line(tmp_path, sunspots_csv, user_error):
    bad = tmp_path / "bad.csv"
    bad.write_text("Month,Sunspots\n1749-01,58\n1749-02,n/a\n")
    short = tmp_path / "short.csv"
    short.write_text("x\n" + "\n".join(str(i) for i in range(20)) + "\n")
    new = str(tmp_path / "new")
    base = ["train", "--task", "forecast", "--out", new, "--threads", "1"]
    cases = {
        "its columns are Month, Sunspots": [*base, "--data", str(sunspots_csv), "--column",
                                            "Spots"],
        "--horizon must be >= 1, got 0": [*base, "--data", str(sunspots_csv), "--horizon", "0"],
        "too short for --context 12 + --horizon 3": [*base, "--data", str(short),
                                                     "--context", "12", "--horizon", "3"],
        "holds 'n/a', not a number": [*base, "--data", str(bad), "--column", "Sunspots"],
        "--season must be >= 1": [*base, "--data", str(sunspots_csv), "--season", "0"],
        "unknown forecasting model": [*base, "--data", str(sunspots_csv), "--model", "cnn"],
        "--format applies to language models, classification and conditional generation "
        "only": [*base, "--format", "text"],
    }
    for needle, argv in cases.items():
        assert needle in user_error(argv), needle
    assert not Path(new).exists()
    run = tmp_path / "run"
    assert main([*base[:-4], "--data", str(sunspots_csv), "--column", "Sunspots",
                 "--horizon", "2", "--strategy", "direct", "--out", str(run), *FAST]) == 0
    assert "exceeds the horizon 2" in user_error(["forecast", str(run), "--horizon", "5"])
    assert "--data/--format are for language-model runs" in user_error(
        ["evaluate", str(run), "--data", str(sunspots_csv)])
