# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Forecasting k steps ahead
#
# A forecaster reads the past of a real-valued series, $x_1, \ldots, x_t$, and predicts
# its future. Predicting the next value is a regression of $x_{t+1}$ on the history, as in
# any autoregressive model; a recurrent network does it with a latent state,
#
# $$h_t = g(h_{t-1}, x_{t-1}), \qquad \hat{x}_t = f(h_t).$$
#
# In practice we rarely want only the next value: a forecast of sales, demand or
# sunspots is wanted for the next $H$ steps, the *horizon*. From an origin $t$ (the
# last value seen is $x_t$) we need $\hat{x}_{t+k}$ for every $k = 1, \ldots, H$. There are
# two ways to get them from a network.
#
# - **Recursive.** Train the one-step model, then feed its own predictions back in place
#   of the values not yet observed:
#   $\hat{x}_{t+k} = F(x_{t-C+k}, \ldots, x_t, \hat{x}_{t+1}, \ldots, \hat{x}_{t+k-1})$.
#   One model serves every horizon, but from $k = 2$ on it reads inputs that are
#   themselves wrong, so the errors made early are read again later and can *compound*.
# - **Direct.** Train one model whose output layer emits all $H$ values at once from the
#   window of the last $C$ observed values, $(\hat{x}_{t+1}, \ldots, \hat{x}_{t+H}) =
#   F(x_{t-C+1}, \ldots, x_t)$. Nothing is fed back, but each step $k$ has its own output
#   to learn, and the model cannot forecast beyond the $H$ it was trained for.
#
# The error grows with $k$ even for a perfect model, because the future is less
# determined by the past the further ahead it lies. Take the simplest case,
# $x_{t+1} = \phi x_t + \varepsilon_{t+1}$ with independent noise of variance
# $\sigma^2$. The best $k$-step forecast is $\phi^k x_t$, and its error
# $\sum_{j=0}^{k-1} \phi^j \varepsilon_{t+k-j}$ has variance
# $\sigma^2 (1 + \phi^2 + \cdots + \phi^{2(k-1)})$, which grows with $k$ towards the
# variance of the series itself. A learned model adds its own errors on top, and a
# recursive one feeds them back.
#
# ## Measuring errors: MAE, MASE and baselines
#
# Forecasts are scored by *rolling origin* on the test part: every origin $t$ whose $H$
# targets all lie in the test part gets a forecast from the values before it, and the
# absolute errors are averaged over origins (and, for one overall figure, over the $H$
# steps). To compare series of different scales, the mean absolute scaled error (MASE)
# divides that MAE by the in-sample MAE of the *seasonal naive* forecast of period $m$,
#
# $$\mathrm{MASE} = \frac{\frac{1}{|O|\,H}\sum_{t \in O}\sum_{k=1}^{H}
# |x_{t+k} - \hat{x}_{t+k}|}{\frac{1}{n-m}\sum_{i=m+1}^{n} |x_i - x_{i-m}|},$$
#
# where the denominator runs over the $n$ values before the test part. MASE 1 means "as
# good as repeating last season's value was in sample". rnnlab reports it beside the
# baselines any forecaster must beat: **naive** ($\hat{x}_{t+k} = x_t$), **seasonal
# naive** (the value one season before the target), **AutoReg** (a linear AR($p$) model,
# $p$ chosen by AIC, forecast recursively) and **ETS** (exponential smoothing with a
# damped trend and a season). The models are [`Forecaster`](../../rnnlab/models/forecaster.py)
# (`strategy` recursive or direct); the task, its rolling-origin evaluation and the
# intervals are [`rnnlab.tasks.forecast`](../../rnnlab/tasks/forecast/__init__.py), the
# baselines [`baselines.py`](../../rnnlab/tasks/forecast/baselines.py) and the error
# measures [`metrics.py`](../../rnnlab/metrics.py).

# %% [markdown]
# ## Two GRUs on monthly sunspots
#
# The registry's `timeseries` dataset holds the monthly sunspot numbers from 1749 to
# 1983. The split is chronological (never shuffled, or the future would leak into
# training): the last 10% is the test part, the 10% before it validation. We forecast
# $H = 12$ months from a window of $C = 48$, and compute MASE with $m = 12$. The two runs
# differ only in `--strategy`.

# %%
from guidekit import SMOKE, budget, fresh, rnnlab

DATA = "--data timeseries/monthly-sunspots.csv --column Sunspots --season 12 --horizon 12"
MODEL = "--model gru --context 48"
RUNS = {"recursive": "runs/sunspots_recursive", "direct": "runs/sunspots_direct"}
for strategy, run in RUNS.items():
    rnnlab(f"train --task forecast {DATA} {MODEL} --strategy {strategy} "
           f"--max-time {budget(30, smoke=1)} --clock cpu --no-progress --out {fresh(run)}")

# %% [markdown]
# Each run ends with its test MASE averaged over all 12 steps, beside naive and seasonal
# naive. The average hides how the error depends on $k$. The evaluation function behind
# `rnnlab evaluate RUN --json` also returns the error of each step $k$ alone (`by_step`,
# in MASE units), for the model and for every baseline, all from the same origins.

# %%
import matplotlib.pyplot as plt
import numpy as np

from rnnlab.run import load
from rnnlab.tasks import forecast

# ETS refits its filter at every one of ~270 origins (seconds): left out of the smoke test
baselines = ("naive", "seasonal_naive", "autoreg") + (() if SMOKE else ("ets",))
runs = {s: load(run) for s, run in RUNS.items()}
result = forecast.evaluate(runs["recursive"], baselines=baselines)
result_direct = forecast.evaluate(runs["direct"], baselines=())
by_step = {"GRU recursive": result["by_step"]["model"],
           "GRU direct": result_direct["by_step"]["model"],
           **{name: result["by_step"][name] for name in baselines}}
overall = {"GRU recursive": result["model"]["mase"],
           "GRU direct": result_direct["model"]["mase"],
           **{name: result[name]["mase"] for name in baselines}}
H = result["horizon"]
print(f"test part: {result['origins']} origins x {H} steps, MASE scale "
      f"{result['mase_scale']:.2f} (in-sample seasonal naive MAE)")
print(f"{'':<16}{'all k':>7}" + "".join(f"{f'k={k}':>7}" for k in (1, 2, 3, 6, 12)))
for name, errors in by_step.items():
    print(f"{name:<16}{overall[name]:7.3f}"
          + "".join(f"{errors[k - 1]:7.3f}" for k in (1, 2, 3, 6, 12)))

# %% [markdown]
# The main figure: test MASE of the $k$-step-ahead forecast against $k$.

# %%
styles = {"GRU recursive": "o-", "GRU direct": "s-", "naive": "--", "seasonal_naive": ":",
          "autoreg": "-.", "ets": (0, (5, 1, 1, 1))}
fig, ax = plt.subplots(figsize=(7, 4))
k = np.arange(1, H + 1)
for name, errors in by_step.items():
    style = styles[name]
    if isinstance(style, str):
        ax.plot(k, errors, style, ms=4, label=name)
    else:
        ax.plot(k, errors, ls=style, label=name)
ax.axhline(1.0, color="gray", lw=0.8)
ax.set_xlabel("steps ahead k")
ax.set_ylabel("test MASE of the k-step forecast")
ax.set_xticks(k)
ax.set_title("monthly sunspots: error against the horizon")
ax.grid(alpha=0.3)
ax.legend(ncol=2, fontsize=8)
plt.show()

# %% [markdown]
# What the numbers mean on the series itself: the cell below forecasts from every test
# origin with the recursive model (its `forecast` method, on windows scaled as in
# training), then lines up the predictions of each month made 1 step and 12 steps
# before it.

# %%
import torch

from rnnlab import Scaler
from rnnlab.data.series import read_series_csv

run = runs["recursive"]
series = read_series_csv(run.cfg.data.data, run.cfg.data.column)
values = np.asarray(series.values)
year = np.array([int(d[:4]) + (int(d[5:7]) - 1) / 12 for d in series.dates])  # "1749-01"
scaler = Scaler.from_dict(run.payload["scaler"])
start, C = run.payload["split"]["val_end"], run.model.context  # the test part starts here
origins = np.arange(start, len(values) - H + 1)  # forecast x[t], ..., x[t + H - 1]
z = scaler.transform(values)
windows = torch.tensor(np.stack([z[t - C:t] for t in origins]), dtype=torch.float32)
preds = scaler.inverse(run.model.forecast(windows, H).double().numpy())  # (origins, H)

fig, ax = plt.subplots(figsize=(9, 3.5))
ax.plot(year[start:], values[start:], color="black", lw=1, label="observed")
for steps, color in ((1, "C0"), (H, "C3")):
    ax.plot(year[origins + steps - 1], preds[:, steps - 1], color=color, lw=1,
            label=f"forecast made {steps} month{'s' if steps > 1 else ''} before")
ax.set_xlabel("year (test part)")
ax.set_ylabel("sunspot number")
ax.legend(fontsize=8)
ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# ## What to look at
#
# - **Every curve rises with $k$ except seasonal naive's.** The one-step error is what a
#   next-value loss measures; the 12-step error of the same model is much larger, for the
#   networks and for the classical models alike.
#   Seasonal naive is flat because it always copies a value from a year before the target,
#   whatever $k$; on sunspots, whose cycle is about 11 years and not 12 months, that is a
#   poor forecast at every step.
# - **Naive degrades fastest.** Repeating the last value is hard to beat one month ahead
#   and poor a year ahead. At $k = m = 12$ it meets seasonal naive exactly: both forecast
#   $x_{t+12}$ by $x_t$, the same rule under two names. ETS, built for a
#   trend and a fixed season, follows it closely: a cycle of about 11 years is neither.
# - **Recursive and direct.** The recursive GRU is trained on one-step errors only; as
#   $k$ grows it reads more of its own predictions. The direct GRU has an output for each
#   $k$, trained on exactly the error it is scored on. Compare how fast the two curves
#   climb: fed-back errors make the recursive one climb faster. Whether the lines cross
#   within 12 steps changes from run to run (a run with a CPU-time budget is not
#   bit-for-bit repeatable); BENCHMARKS.md averages three seeds and finds the direct GRU
#   ahead at $k = 12$ on this series. Either way the direct model also gets worse with
#   $k$: the growth that no strategy removes is the uncertainty of the future itself, as
#   in the AR(1) example above.
# - **Networks against AutoReg.** At $k = 1$ the GRUs and the linear AR model are close;
#   the gap, if any, opens at larger $k$, where a nonlinear model of the cycle's shape
#   helps more than at the next month.
# - **The series plot.** The 1-step forecasts follow the observed series closely, a month
#   behind at the turns. The 12-step forecasts are smoother, rise late at the start of a
#   cycle and fall short of its peaks: made a year earlier, they could not see the rise
#   coming, and eleven of the values they read were the model's own predictions.

# %% [markdown]
# ## Forecasting the future, with intervals
#
# `rnnlab forecast` extends the series beyond its last observation. A recursive model can
# run past the horizon it was trained and validated on; here 36 months. The interval at
# step $k$ comes from the quantiles of the model's own $k$-step errors on the held-out
# windows (validation and test), added to the point forecast, so it widens as those errors
# grow with $k$.

# %%
from IPython.display import Image

rnnlab(f"forecast {RUNS['recursive']} --horizon 36 --out {RUNS['recursive']}/future.csv")
Image(f"{RUNS['recursive']}/future.png")

# %% [markdown]
# The band is narrow for the first months and wide two and three years out, the same
# growth of error with $k$ as in the main figure, now as uncertainty about the future
# rather than error on the past. Its width assumes the future errors behave like the
# held-out ones; a change of regime would break that. Nor does it know the range of the
# series: if the band reaches below zero at long horizons, that is the quantiles of past
# errors added to a low forecast, not a possible sunspot number.
#
# ## Try
#
# - `--model lstm`, `--model mlp` or `--model linear` in place of `--model gru`; a
#   linear recursive model is an AR(48) fitted by gradient descent.
# - A shorter `--context 24`, or `--horizon 24` for the direct model.
# - Another series of the `timeseries` dataset, with its own season:
#   `--data timeseries/airline-passengers.csv --column Passengers --season 12` (short and
#   trending) or `--data timeseries/daily-min-temperatures.csv --column Temp --season 365
#   --horizon 30`.
# - `rnnlab train --task forecast` with no `--model`: `--model auto` scores networks of
#   every kind and the classical models on validation and keeps the best few.
