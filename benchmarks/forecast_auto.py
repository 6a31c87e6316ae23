"""The default forecaster (`--model auto`) on the four shared series and three held-out ones:
test MASE against seasonal naive and the statsmodels baselines (AutoReg, ETS).

Each row is one run of the default command, with only data, column, season and horizon given:

    rnnlab train --task forecast --data X --column C --season m --horizon H --threads 1

(through the same library call, `rnnlab.run.train`), scored by the same rolling-origin
evaluation as `rnnlab evaluate RUN --json`, with the baselines fitted on everything before
the test part. Shared series: season and horizon of `configs/forecast_<series>.toml` (their
split sizes equal the defaults, so the configs' splits are reproduced). Held-out series
(monthly, season 12): H = 12, unless the default split (2H validation, 2H test) would leave
fewer than two seasons to train on; then the largest H that leaves 2m, floor((N - 2m) / 4)
(shampoo: 36 months -> H = 3). This rule was fixed before the held-out series were run, and
they are run once, with the defaults, never tuned on.

    python benchmarks/forecast_auto.py --threads 1 --write              # the shared series
    python benchmarks/forecast_auto.py --threads 1 --heldout --write    # the held-out ones
    python benchmarks/forecast_auto.py --threads 1 --series elnino,co2,realgdp,nile --write
                                        # series shipped in statsmodels (see FRESH)

Results accumulate in `benchmarks/results/forecast_auto.json`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rnnlab.config import load_toml  # noqa: E402
from rnnlab.data.series import read_series_csv  # noqa: E402
from rnnlab.run import load, train  # noqa: E402
from rnnlab.runconfig import default_config  # noqa: E402
from rnnlab.tasks.forecast import evaluate  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
SHARED = ("sunspots", "temperatures", "airline", "ftse")
HELDOUT = {  # name -> (file, column)
    "shampoo": ("heldout_series/monthly-shampoo-sales.csv", "Sales"),
    "robberies": ("heldout_series/monthly-robberies.csv", "Robberies"),
    "champagne": ("heldout_series/monthly_champagne_sales.csv", "Sales"),
}
# Series that ship inside statsmodels (no download), used to check a change of the defaults
# before the held-out series see it: name -> (dataset, column, season, horizon). Written as
# CSV to runs/series/ by `fresh_csv`; H: a year (12 months, 8 quarters), 5 years if annual.
FRESH = {
    "elnino": ("elnino", "temperature", 12, 12),  # monthly sea temperature, 1950-2010
    "co2": ("co2", "co2", 12, 12),  # Mauna Loa, weekly -> monthly means, 1958-2001
    "realgdp": ("macrodata", "realgdp", 4, 8),  # US real GDP, quarterly, 1959-2009
    "nile": ("nile", "volume", 1, 5),  # annual flow of the Nile, 1871-1970
    # first run with the step-0 rule (a seasonal model that training does not improve on
    # validation stays seasonal naive), as a check of that rule on series it never saw
    "unemp": ("macrodata", "unemp", 4, 8),  # US unemployment rate, quarterly, 1959-2009
    "realinv": ("macrodata", "realinv", 4, 8),  # US real investment, quarterly
    "inflation": ("interest_inflation", "Dp", 4, 8),  # German inflation, quarterly, 1972-98
}
RESULTS = ROOT / "benchmarks" / "results" / "forecast_auto.json"


def fresh_csv(name: str) -> Path:
    """runs/series/<name>.csv from the statsmodels copy of the dataset."""
    import pandas as pd
    import statsmodels.api as sm

    dataset, column, _, _ = FRESH[name]
    df = getattr(sm.datasets, dataset).load_pandas().data
    if dataset == "elnino":  # one row per year, one column per month
        values = df.drop(columns="YEAR").to_numpy().ravel()
    elif dataset == "co2":  # weekly with gaps: monthly means, a gap month interpolated
        values = df["co2"].resample("MS").mean().interpolate().to_numpy()
    else:
        values = df[column].to_numpy()
    path = ROOT / "runs" / "series" / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({column: values}).to_csv(path, index=False)
    return path


def settings(name: str) -> tuple[Path, str, int, int]:
    """(data file, column, season, horizon) of one series, by the rule of the docstring."""
    if name in FRESH:
        _, column, m, h = FRESH[name]
        return fresh_csv(name), column, m, h
    if name in SHARED:
        d = load_toml(ROOT / "configs" / f"forecast_{name}.toml")["data"]
        path = (ROOT / d["data"]).resolve()
        return path, d["column"], d["season"], d["horizon"]
    rel, column = HELDOUT[name]
    path = DATA / rel
    n, m = len(read_series_csv(str(path), column).values), 12
    return path, column, m, min(12, (n - 2 * m) // 4)


def command(path: Path, column: str, season: int, horizon: int) -> str:
    if path.is_relative_to(ROOT):
        rel = str(path.relative_to(ROOT))
    else:
        rel = "../" + str(path.relative_to(ROOT.parent) if path.is_relative_to(ROOT.parent)
                          else path)
    return (f"rnnlab train --task forecast --data {rel} --column {column} --season "
            f"{season} --horizon {horizon} --threads 1")


def run(name: str, threads: int, tmp: Path, log_auto: bool = False) -> dict:
    path, column, season, horizon = settings(name)
    cfg = default_config("forecast")  # the defaults: --model auto
    cfg.data.data, cfg.data.column = str(path), column
    cfg.data.season, cfg.data.horizon = season, horizon
    cfg.train.threads = threads
    if log_auto:  # the grid with log candidates too, for the comparison column
        cfg.model.log = "auto"
    out = tmp / name
    t0 = time.process_time()  # CPU seconds: a shared machine does not change them
    res = train("forecast", cfg, out)
    seconds = time.process_time() - t0
    m = evaluate(load(out))
    auto = json.loads((out / "auto.json").read_text())
    cmd = command(path, column, season, horizon) + (" --log auto" if log_auto else "")
    return {"heldout": name in HELDOUT, "command": cmd,
            "season": season, "horizon": horizon, "origins": m["origins"],
            "split": [res.prepared.info[k] for k in ("train", "val", "test")],
            "mase": {k: m[k]["mase"] for k in ("model", "naive", "seasonal_naive", "autoreg",
                                               "ets")},
            "model": m["model"]["name"], "baselines": m["baselines"],
            "chosen": auto["chosen"]["label"], "auto": auto, "seconds": round(seconds, 1),
            "auto_seconds": auto["cpu_seconds"]}


def verdict(v: float, ref: float) -> str:
    if v < ref / 1.02:
        return "beats"
    return "ties" if v <= ref * 1.02 else "loses to"


def _log_auto(name: str, r: dict) -> str:
    """The --log auto column: the same run with log candidates in the grid too ('=' where
    the series has a value <= 0, so the grid is the default's)."""
    la = r.get("log_auto")
    if la:
        return "=" if not la["log_candidates"] else f"{la['mase']:.3f} ({la['chosen']})"
    path, column, _, _ = settings(name)
    return "=" if min(read_series_csv(str(path), column).values) <= 0 else "n/a"


def render(results: dict) -> str:
    lines = [
        "## Forecasting: the default model (`--model auto`) vs seasonal naive and statsmodels",
        "",
        "One run of the default command per row (only data, column, season and horizon "
        "given; 1 thread, seed 0, torch " + torch.__version__ + "). `--model auto` trains "
        "linear, MLP and GRU candidates with no / first / seasonal / both differencing "
        "on the training part and keeps the one with the lowest rolling-origin H-step MAE on the "
        "validation part (`rnnlab/tasks/forecast/auto.py`; the test part is never read), then "
        "trains it as any named model. Test MASE, rolling origin over the test part (lower "
        "is better); MASE scale: in-sample seasonal naive MAE. \"beats\": more than 2% lower, "
        "\"ties\": within 2%.",
        "",
        "The `--log auto` column is the same run with log-scaled candidates added to the "
        "grid ('=': a value <= 0, so none). History, as it happened: the held-out rows were "
        "first run once with the defaults, and champagne lost to seasonal naive; `--log "
        "auto` was then built for multiplicative seasonality and tried first on the series "
        "that are not held out (elnino, co2, realgdp and nile ship inside statsmodels and "
        "had never been run: `FRESH` in the script). There the doubled grid chose worse on "
        "two (FTSE, real GDP) and within 2% on the other four, so it stays opt-in; that was "
        "decided before the held-out series were run with it (their `--log auto` column, "
        "run once). Then, because champagne had lost, the trainer came to validate step 0 "
        "too: a seasonal candidate starts exactly at seasonal naive, so where no training "
        "step improves its validation windows it stays seasonal naive (and a differenced one "
        "stays naive). That rule was made for champagne, so champagne's row no longer counts "
        "as held out for it; its check on unseen data is unemp, realinv and inflation "
        "(statsmodels, run for the first time with it, once). Every row was rerun with it, "
        "and only champagne's choice changed.",
        "",
        "| series | held out | m | H | split train/val/test | auto: chosen | auto (model) "
        "| --log auto | seasonal naive | AutoReg | ETS | vs seasonal naive "
        "| vs best statsmodels | CPU s (selection) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        mase = r["mase"]
        stat = min(("autoreg", "ets"), key=lambda k: mase[k])
        a, v, t = r["split"]
        lines.append(
            f"| {name} | {'yes' if r['heldout'] else 'no'} | {r['season']} | {r['horizon']} "
            f"| {a}/{v}/{t} | {r['chosen']} | {mase['model']:.3f} | {_log_auto(name, r)} "
            f"| {mase['seasonal_naive']:.3f} | {mase['autoreg']:.3f} | {mase['ets']:.3f} "
            f"| {verdict(mase['model'], mase['seasonal_naive'])} "
            f"({mase['model'] / mase['seasonal_naive'] - 1:+.1%}) "
            f"| {verdict(mase['model'], mase[stat])} {stat} "
            f"({mase['model'] / mase[stat] - 1:+.1%}) "
            f"| {r['seconds']:.0f} ({r['auto_seconds']:.0f}) |")
    def vs(n: str) -> str:
        return verdict(results[n]["mase"]["model"], results[n]["mase"]["seasonal_naive"])

    won = [n for n in results if vs(n) == "beats"]
    tied = [n for n in results if vs(n) == "ties"]
    lost = [n for n in results if vs(n) == "loses to"]
    lines += ["", f"The default beats seasonal naive on test (by more than 2%) on {len(won)} of "
              f"{len(results)} series ({', '.join(won)})"
              + (f"; it ties on {', '.join(tied)}" if tied else "")
              + (f"; it loses on {', '.join(lost)}" if lost else "") + "."]
    for n in tied + lost:
        a = results[n]["auto"]
        ref = a["reference_val_mae"]["seasonal_naive"]
        kept = "; the kept model is seasonal naive itself (a seasonal candidate at step 0)" \
            if abs(a["val_mae"] - ref) <= 1e-6 * ref else ""
        lines.append(
            f"On {n} the chosen candidate ({results[n]['chosen']}) had validation MAE "
            f"{a['val_mae']:.4g} against seasonal naive's {ref:.4g} on "
            f"{a['origins']} validation origins{kept}.")
    total = sum(r["seconds"] for r in results.values())
    sel = sum(r["auto_seconds"] for r in results.values())
    lines += ["", f"Cost: {total:.0f} CPU seconds for the {len(results)} default runs on one "
              f"thread, {sel:.0f} s of it the selection (every candidate trained "
              "at most 500 steps; the chosen one is then retrained with the same seed and "
              "budget, which reproduces it). The seasonal GRU candidates on daily data are "
              "left out because they alone took minutes (see `rnnlab/tasks/forecast/auto.py`). "
              "The FTSE is a random walk with an upward drift in its test days, so its small "
              "gain over naive is no skill (see the table above). Shampoo's default horizon "
              "is 3 (36 months; see the script's docstring) and its test part has 4 origins, "
              "so its row is weak evidence either way.", ""]
    lines += ["Commands (run from the repository root):", ""]
    for name, r in results.items():
        lines.append(f"- {name}: `{r['command']}`")
        if r.get("log_auto"):
            lines.append(f"  - `{r['log_auto']['command']}`")
    lines += ["", "Validation MAE (original units) of every candidate, and of seasonal naive "
              "and naive on the same origins (from each run's `auto.json`):", ""]
    for name, r in results.items():
        auto = r["auto"]
        ref = auto["reference_val_mae"]
        cands = "; ".join(f"{c['label']} {c['val_mae']:.4g}" for c in auto["candidates"])
        lines.append(f"- {name} ({auto['origins']} validation origins): seasonal naive "
                     f"{ref['seasonal_naive']:.4g}, naive {ref['naive']:.4g}; {cands}")
    lines += ["", "Baselines as fitted: " + "; ".join(
        f"{name}: AutoReg {r['baselines']['autoreg']}, ETS {r['baselines']['ets']}"
        for name, r in results.items()), ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", help="comma-separated subset of " + ",".join(
        [*SHARED, *FRESH]))
    ap.add_argument("--heldout", action="store_true", help="run the held-out series (once)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--write", action="store_true", help="write the table into BENCHMARKS.md")
    ap.add_argument("--render-only", action="store_true", help="re-render saved results")
    ap.add_argument("--log-auto", action="store_true",
                    help="run with --log auto, into each row's log_auto entry")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    if not args.render_only:
        todo = list(HELDOUT) if args.heldout else (
            args.series.split(",") if args.series else list(SHARED))
        with tempfile.TemporaryDirectory() as tmp:
            for name in todo:
                if args.log_auto:
                    la = run(name, args.threads, Path(tmp), log_auto=True)
                    results.setdefault(name, {})["log_auto"] = {
                        "mase": la["mase"]["model"], "chosen": la["chosen"],
                        "command": la["command"], "log_candidates": any(
                            c["log"] for c in la["auto"]["candidates"])}
                    print(f"{name} --log auto: {la['chosen']} MASE {la['mase']['model']:.3f}")
                    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
                    continue
                old = results.get(name, {}).get("log_auto")
                results[name] = run(name, args.threads, Path(tmp))
                if old:
                    results[name]["log_auto"] = old
                r = results[name]
                print(f"{name}: {r['chosen']}  MASE {r['mase']['model']:.3f}  seasonal naive "
                      f"{r['mase']['seasonal_naive']:.3f}  autoreg {r['mase']['autoreg']:.3f}"
                      f"  ets {r['mase']['ets']:.3f}  ({r['seconds']:.0f} s)", flush=True)
                RESULTS.parent.mkdir(parents=True, exist_ok=True)
                RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    order = [*SHARED, *FRESH, *HELDOUT]
    md = render({k: results[k] for k in order if k in results})
    print(md)
    if args.write:
        write_section("forecast_auto", md)


if __name__ == "__main__":
    main()
