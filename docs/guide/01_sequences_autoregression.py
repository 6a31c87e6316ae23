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
# # Sequences and autoregression
#
# A sequence $x_1, \ldots, x_T$ is not a bag of independent examples: each value depends on
# the ones before it. A model of a sequence is a model of the joint distribution, and the
# chain rule of probability writes any joint distribution as a product of one-step
# predictions, each conditioned on the whole past:
#
# $$p(x_1, \ldots, x_T) = \prod_{t=1}^{T} p(x_t \mid x_{<t}),
# \qquad x_{<t} = (x_1, \ldots, x_{t-1}).$$
#
# No assumption has been made yet; the equation holds for every sequence. A model is
# *autoregressive* when it learns these factors by regressing $x_t$ on earlier values of the
# same series. For a real-valued series we usually settle for the conditional mean,
# $\hat x_t = \mathbb{E}[x_t \mid x_{<t}]$, trained with the squared error.
#
# The difficulty is the conditioning set: $x_{<t}$ grows with $t$, while a regression model
# wants an input of fixed size. There are two ways to summarise a past of any length by
# something of fixed size.
#
# **A window of the last $\tau$ values.** Keep only the recent past and forget the rest:
#
# $$p(x_t \mid x_{<t}) \approx p(x_t \mid x_{t-1}, \ldots, x_{t-\tau}).$$
#
# This is a Markov assumption of order $\tau$. Any fixed-input model then works: a linear
# regression on the window is the classical AR($\tau$) model, $\hat x_t = b +
# \sum_{i=1}^{\tau} w_i\, x_{t-i}$, and an MLP on the window is its nonlinear version. The
# price is that the window has a hard edge (nothing older than $\tau$ steps can matter)
# and the input grows with $\tau$, so the parameter count does too.
#
# **A latent state.** Carry a vector $h_t$ that is updated by each new observation and from
# which the prediction is read:
#
# $$h_t = f(h_{t-1}, x_{t-1}), \qquad \hat x_t = g(h_t).$$
#
# The same $f$ is applied at every step, so the number of parameters does not depend on
# how much of the past the model reads, and nothing forces the state to forget after a
# fixed number of steps. The state is never observed, which is why such models are called
# *latent autoregressive*. A recurrent neural network is exactly this, with $f$ a learned
# cell (Elman, 1990; the GRU of Cho et al., 2014).
#
# ## Where this lives in rnnlab
#
# Both kinds are in [`Forecaster`](../../rnnlab/models/forecaster.py): `--model linear`
# and `--model mlp` read a window of `--context` values ($\tau$), `--model rnn`, `gru` and
# `lstm` run a recurrent cell from [`Recurrent`](../../rnnlab/models/recurrent.py) over
# the same values and predict from its state. The language-model versions of the window
# models (tokens instead of real values) are [`WindowLM`](../../rnnlab/models/window.py),
# and of the latent-state ones [`RecurrentLM`](../../rnnlab/models/lm.py). Training
# examples are windows cut from one long series ([`SeriesWindows`](../../rnnlab/data/series.py)),
# which is reasonable when the process that generates the series does not change over
# time (it is *stationary*).
#
# Two details of rnnlab's forecasters matter for reading the results:
#
# - By default a forecaster predicts the *change* from the last observed value
#   (`--residual`), and its output layer starts at zero, so an untrained model is the
#   naive forecast $\hat x_t = x_{t-1}$.
# - The recurrent forecaster starts its state at zero `--context` steps before the point
#   it forecasts from, so here `--context` is how far back it reads, not an input size. To
#   forecast several steps ahead, both kinds feed their own predictions back in
#   (`--strategy recursive`): the window model slides its window over them, the recurrent
#   model takes one more step of its state, $h_{t+1} = f(h_t, \hat x_t)$.

# %% [markdown]
# ## One series, two ways to read its past
#
# The monthly sunspot numbers from 1749 to 1983 (registry dataset `timeseries`) rise and
# fall with a cycle of about eleven years. rnnlab splits the series in time: training,
# then validation, then the last tenth of the months as the test part (the first line each
# run prints gives the sizes). Both models read the same 48 months before each forecast
# (`--context 48`) and predict the next 12 (`--horizon 12`); the only difference is how
# they summarise those 48 values. One command, run once per model:

# %%
from guidekit import budget, fresh, rnnlab

MODELS = ["mlp", "gru"]
for model in MODELS:
    rnnlab(f"train --task forecast --data timeseries/monthly-sunspots.csv --model {model} "
           f"--context 48 --horizon 12 --max-time {budget(30, smoke=1)} --clock cpu "
           f"--no-progress --out {fresh(f'runs/sunspots_{model}')}")

# %% [markdown]
# Each run prints its test errors beside two baselines: naive ($\hat x_{t+k} = x_t$) and
# seasonal naive (the same month a year earlier). The errors are averaged over every
# forecast origin of the test part and over the 12 steps; MASE divides the mean absolute
# error by the in-sample error of seasonal naive, so below 1 means better than that
# baseline. The cell below collects them, with each model's number of parameters.

# %%
import json

from rnnlab import Scaler, load

runs = {m: load(f"runs/sunspots_{m}") for m in MODELS}
final = {m: json.load(open(f"runs/sunspots_{m}/final.json")) for m in MODELS}
print(f"{'model':<34}{'parameters':>11}{'test MAE':>10}{'test MASE':>11}")
for m in MODELS:
    params = sum(p.numel() for p in runs[m].model.parameters())
    r = final[m]["model"]
    print(f"{r['name']:<34}{params:>11,}{r['mae']:>10.2f}{r['mase']:>11.3f}")
for b in ("naive", "seasonal_naive"):
    r = final[MODELS[0]][b]
    print(f"{b:<34}{'':>11}{r['mae']:>10.2f}{r['mase']:>11.3f}")

# %% [markdown]
# ## Forecasts against the truth
#
# The next cell loads the two best checkpoints and forecasts 12 months ahead from one
# origin every two years of the test part, reading only the 48 months before each origin
# ([`model_forecasts`](../../rnnlab/data/series.py) is the function `rnnlab evaluate`
# uses). Below, the error at each step $k$ alone, over all test origins, from the runs'
# `final.json`.

# %%
import matplotlib.pyplot as plt
import numpy as np

from rnnlab.data.series import model_forecasts
from rnnlab.tasks.forecast import load_series

run = runs["mlp"]
values = np.asarray(load_series(run.cfg.data).values, float)
split = run.payload["split"]
test_start, n, H = split["val_end"], split["n"], final["mlp"]["horizon"]
origins = np.arange(test_start, n - H + 1, 24)
paths = {m: model_forecasts(runs[m].model, Scaler.from_dict(runs[m].payload["scaler"]),
                            values, origins, H) for m in MODELS}

colors = {"mlp": "tab:blue", "gru": "tab:orange"}
labels = {"mlp": "MLP on a window of 48", "gru": "GRU, latent state"}
fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), height_ratios=[3, 2])
t = np.arange(test_start - 48, n)
top.plot(t, values[t], color="black", lw=1.2, label="observed")
top.axvline(test_start, color="gray", ls=":")
for m in MODELS:
    for i, o in enumerate(origins):
        top.plot(np.arange(o, o + H), paths[m][i], color=colors[m], lw=2,
                 label=labels[m] if i == 0 else None)
top.plot(origins - 1, values[origins - 1], "k.", ms=8, label="forecast origin")
top.set_xlabel("month (index in the series); test part right of the dotted line")
top.set_ylabel("sunspot number")
top.set_title("12-month forecasts from one origin every two years")
top.legend(loc="upper left", fontsize=8)
steps = np.arange(1, H + 1)
for m in MODELS:
    bottom.plot(steps, final[m]["by_step"]["model"], "o-", color=colors[m], label=labels[m])
for b, style in (("naive", "--"), ("seasonal_naive", ":")):
    bottom.plot(steps, final["mlp"]["by_step"][b], style, color="gray", label=b)
bottom.set_xlabel("steps ahead k")
bottom.set_ylabel("test MASE at step k")
bottom.set_xticks(steps)
bottom.legend(fontsize=8)
bottom.grid(alpha=0.3)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## What to look at
#
# - **The table.** Both models beat the two baselines, and the table says which of the two
#   summaries did better on this series at this budget. Compare the parameter counts too:
#   the MLP's first layer has one weight per window value and hidden unit, so a longer
#   window means a bigger model; the GRU's count would be the same for any `--context`.
# - **The forecast paths (top).** Each coloured segment starts from what the model knew at
#   its origin (the black dot, the last observed month) and is never corrected by later
#   observations. The paths are smooth: a model trained with the squared error predicts the
#   conditional mean, which follows the rise and fall of the cycle but not the month-to-month
#   noise around it. The largest misses tend to come in the steep rises and around the
#   maxima, where the level changes fast and a turn a few months early or late is costly.
# - **Error against steps ahead (bottom).** Every curve rises with $k$: the forecast for
#   step $k$ is built on the model's own forecasts for steps $1, \ldots, k-1$, so early
#   errors are read again as inputs and accumulate. Naive is good one step ahead (a month
#   resembles the previous one) and degrades fastest; seasonal naive is flat and poor,
#   because sunspots have no yearly season (the eleven-year cycle is not a calendar
#   effect). The learned models should sit below both at every step.
#
# The two summaries are not rivals in principle. A window model is simple and fast and is
# often all a short-memory series needs; a latent state pays off when what matters lies
# further back than any window one would choose, or when sequences vary in length, as
# text does. The next chapters return to both: counting models of a window of tokens
# (Markov chains), then recurrent networks.
#
# ## Try
#
# - `--model linear` with the same `--context 48`: the AR(48) model, 49 parameters.
# - A shorter window, `--model mlp --context 12`, against the GRU with `--context 12`.
# - `--strategy direct`: one output per step ahead, no feedback, so no accumulation.
# - Another series: `--data timeseries/airline-passengers.csv` (144 months with a trend and
#   a yearly season), where the short training part favours the window models.
# - `rnnlab forecast runs/sunspots_gru --horizon 24` forecasts past the end of the series
#   and writes a CSV and a PNG with prediction intervals.
