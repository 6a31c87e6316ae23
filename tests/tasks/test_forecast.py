"""rnnlab/tasks/forecast/: the KPSS choice of differencing; the CLI train -> evaluate --json
-> forecast flow for every kind on a slice of a real series; the embedded default series;
user mistakes give one `error:` line and exit 2. (Series handling is tested in
tests/data/test_series.py, the models in tests/models/test_forecaster.py, the classical
baselines in tests/tasks/forecast/test_baselines.py.)"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from rnnlab.checkpoint import load_checkpoint
from rnnlab.cli import main
from rnnlab.data.series import read_series_csv
from rnnlab.metrics import mase_scale

TS = Path(__file__).resolve().parents[3] / "shared" / "data" / "timeseries"
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


def test_kpss_differences_a_random_walk_not_white_noise():
    from rnnlab.tasks.forecast import needs_difference

    rng = np.random.default_rng(0)
    noise = rng.normal(size=500)
    assert needs_difference(np.cumsum(noise)) and not needs_difference(noise)


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
                 "--horizon", "2", "--model", "mlp", "--strategy", "direct", "--out", str(run),
                 *FAST]) == 0
    assert "exceeds the horizon 2" in user_error(["forecast", str(run), "--horizon", "5"])
    assert "--data applies to lm, classify, conditional, tag and translate runs" in user_error(
        ["evaluate", str(run), "--data", str(sunspots_csv)])


def test_a_series_never_below_zero_gets_no_negative_forecast_or_bound(tmp_path, capsys):
    counts = tmp_path / "counts.csv"  # intermittent counts: mostly zero, a spike every 5
    counts.write_text("month,n\n" + "".join(
        f"{2000 + i // 12}-{i % 12 + 1:02d},{(9 if i % 5 == 0 else 0)}\n" for i in range(120)))
    out = tmp_path / "run"
    assert main(["train", "--task", "forecast", "--data", str(counts), "--column", "n",
                 "--model", "mlp", "--season", "1", "--horizon", "4", "--context", "6",
                 "--out", str(out), *FAST]) == 0
    csv_path = tmp_path / "fc.csv"
    assert main(["forecast", str(out), "--horizon", "4", "--out", str(csv_path)]) == 0
    rows = list(csv.DictReader(csv_path.open()))
    lower = [float(r["lower"]) for r in rows]
    assert min(lower) == 0.0  # the residual quantiles reach below zero; the floor holds
    assert all(0 <= float(r["forecast"]) <= float(r["upper"]) for r in rows)
