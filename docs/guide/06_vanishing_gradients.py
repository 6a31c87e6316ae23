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
# # Vanishing gradients
#
# The backward recursion of the previous chapter carries the loss of a late step back to an
# early state through one Jacobian per step in between. For the loss of the last step alone,
# $L_T$, and the Elman RNN $h_k = \tanh(W h_{k-1} + U x_k + b)$:
#
# $$\frac{\partial L_T}{\partial h_t} = \Big(\prod_{k=t+1}^{T} J_k\Big)^{\!\top}
# \frac{\partial L_T}{\partial h_T}, \qquad
# J_k = \frac{\partial h_k}{\partial h_{k-1}} = \mathrm{diag}(1 - h_k^2)\, W .$$
#
# Since $0 < 1 - h_k^2 \le 1$, each factor has norm at most $\|W\|$ (its largest singular
# value), so
#
# $$\Big\|\frac{\partial L_T}{\partial h_t}\Big\| \le \|W\|^{\,T-t}\,
# \Big\|\frac{\partial L_T}{\partial h_T}\Big\| .$$
#
# When $\|W\| < 1$, the gradient that reaches step $t$ shrinks *geometrically* with the
# distance $T - t$: it **vanishes**, and whatever happened 50 steps ago has almost no say in
# the update. When the units sit near zero ($1 - h^2 \approx 1$) and $W$ has eigenvalues
# larger than one, the same product can grow geometrically instead: it **explodes**
# (clipping the gradient norm handles that case). And when the units saturate
# ($|h| \to 1$), the factor $1 - h^2$ pushes the product towards zero whatever $W$ is. A plain
# RNN can learn a dependency over $T - t$ steps only through this product, so long
# dependencies are hard to learn.
#
# **Gates give an additive path.** The LSTM keeps a cell state updated by addition,
# $c_t = f_t \odot c_{t-1} + i_t \odot g_t$, so along the cell state the Jacobian is
# $\partial c_t / \partial c_{t-1} = \mathrm{diag}(f_t)$ plus terms through the gates; with
# the forget gate $f_t$ near one, the gradient passes many steps nearly unchanged. The GRU
# does the same with its update gate: $h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}$ gives
# $\partial h_t / \partial h_{t-1} = \mathrm{diag}(z_t) + \ldots$, close to the identity
# when $z_t \approx 1$. No matrix product and no $\tanh'$ stand in the way: the gate decides,
# per unit and per step, how much of the past to keep.
#
# ## In rnnlab
#
# [`rnnlab/diagnostics.py`](../../rnnlab/diagnostics.py) measures all of this:
# `recurrent_gradient_flow(rnn, x, final_loss)` runs a
# [`Recurrent`](../../rnnlab/models/recurrent.py) stack over a batch, keeps every $h_t$ and
# returns $\|\partial L_T / \partial h_t\|$ for each $t$ (mean over the batch), the
# fraction of saturated units and gates, and the spectral radius of each recurrent block.
# `rnnlab diagnose RUN --out DIR` does the same for a trained language model. The
# long-range tasks (the adding problem, copy memory) are in
# [`rnnlab/reference/synthetic.py`](../../rnnlab/reference/synthetic.py).
#
# ## The geometric law, in isolation
#
# First the product of Jacobians alone. An Elman layer with zero bias and zero inputs
# stays at $h_t = 0$, where $1 - h_t^2 = 1$ exactly, so $J_k = W$ and
# $\partial L_T / \partial h_t = (W^\top)^{T-t} \partial L_T / \partial h_T$. The cell scales
# one random $W$ to several spectral radii $\rho$ (largest $|$eigenvalue$|$) and measures the
# gradient of $L_T = v^\top h_T$ for a fixed random $v$. On the right, the same weights
# read random inputs, which move the units away from zero.

# %%
import matplotlib.pyplot as plt
import torch
from guidekit import budget, fresh, rnnlab, size

from rnnlab.diagnostics import recurrent_gradient_flow
from rnnlab.models.recurrent import Recurrent

torch.set_num_threads(1)
torch.manual_seed(0)
H, STEPS = 64, size(60, 12)
base = torch.randn(H, H) / H**0.5
base /= torch.linalg.eigvals(base).abs().max()  # spectral radius 1
v = torch.randn(H)
radii = [0.8, 0.9, 1.0, 1.1, 1.25]
colors = plt.get_cmap("coolwarm")([i / (len(radii) - 1) for i in range(len(radii))])
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
for ax, input_scale in zip(axes, [0.0, 1.0], strict=True):
    x = input_scale * torch.randn(8, STEPS, H)  # (B, T, I)
    for rho, color in zip(radii, colors, strict=True):
        rnn = Recurrent("rnn", H, H, impl="loop")
        cell = rnn.cells[0]
        with torch.no_grad():
            cell.weight_hh.copy_(rho * base)
            cell.weight_ih.copy_(torch.eye(H))
            cell.bias.zero_()
        flow = recurrent_gradient_flow(rnn, x, lambda out: (out[:, -1] @ v).sum())
        ax.semilogy(range(1, STEPS + 1), flow["hidden_grad_norm"][0], color=color,
                    label=rf"$\rho$ = {rho}")
    ax.set_xlabel("step t")
    ax.grid(alpha=0.3)
axes[0].set_title("zero inputs: $h_t = 0$, so $J_k = W$")
axes[1].set_title("random inputs: $J_k = \\mathrm{diag}(1 - h_k^2)\\, W$")
axes[0].set_ylabel(r"$\|\partial L_T / \partial h_t\|$")
axes[0].legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# On the left each line is straight on the log scale: the gradient changes by a factor of
# about $\rho$ per step back, shrinking for $\rho < 1$ and growing for $\rho > 1$. On the
# right the inputs push the units away from zero, the factors $1 - h_k^2 < 1$ eat into
# every step, and even the weights with $\rho > 1$ no longer explode.
#
# ## The long-range test: the adding problem
#
# A task that *needs* a long memory: each input step is a pair (a random number
# $u_t \in [0, 1]$, a marker $m_t$); exactly two steps are marked, one in each half of the
# sequence, and the target at the end is the sum of the two marked numbers. A model that
# remembers nothing predicts the mean, 1, and scores a mean squared error of $1/6$; the
# first marker is at least $T/2$ steps before the answer.
#
# The cell trains an Elman RNN, a GRU and an LSTM (64 units, the same seed, the same stream
# of random batches, Adam, gradient norm clipped at 1) and measures
# $\|\partial L_T / \partial h_t\|$ on 64 test sequences before and after training, where
# $L_T$ is the squared error of the answer.

# %%
import torch.nn.functional as F
from torch import nn

from rnnlab.reference.synthetic import ADDING_BASELINE_MSE, adding_problem

T, UPDATES, BATCH = size(50, 12), size(800, 10), 64
MODELS = {"rnn": "Elman", "gru": "GRU", "lstm": "LSTM"}
COLORS = {"rnn": "tab:red", "gru": "tab:blue", "lstm": "tab:green"}
x_test, y_test = adding_problem(1000, T, torch.Generator().manual_seed(123))

results = {}
for mode in MODELS:
    torch.manual_seed(0)
    rnn = Recurrent(mode, 2, 64)  # PyTorch's fused kernel; diagnostics copy it to the loop
    head = nn.Linear(64, 1)
    params = [*rnn.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=1e-2)

    def final_loss(out, rnn=rnn, head=head):  # L_T: squared error of the answer, summed
        return F.mse_loss(head(out[:, -1]), y_test[:64], reduction="sum")

    before = recurrent_gradient_flow(rnn, x_test[:64], final_loss)["hidden_grad_norm"][0]
    gen, losses = torch.Generator().manual_seed(1), []
    for _ in range(UPDATES):
        x, y = adding_problem(BATCH, T, gen)
        loss = F.mse_loss(head(rnn(x)[0][:, -1]), y)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        losses.append(loss.item())
    after = recurrent_gradient_flow(rnn, x_test[:64], final_loss)["hidden_grad_norm"][0]
    with torch.no_grad():
        test_mse = F.mse_loss(head(rnn(x_test)[0][:, -1]), y_test).item()
    results[mode] = {"before": before, "after": after, "losses": losses, "test": test_mse}

print(f"adding problem, T = {T}, {UPDATES} updates of batch {BATCH}; "
      f"test MSE (remember nothing: {ADDING_BASELINE_MSE:.3f})")
for mode, r in results.items():
    ratio = r["after"][0] / r["after"][-1]
    print(f"  {MODELS[mode]:<6} test MSE {r['test']:.4f}   trained "
          f"||dL/dh_1|| / ||dL/dh_T|| = {ratio:.1e}")

# %% [markdown]
# The main figure: gradient flow over time on the left, training on the right.

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 5.6), gridspec_kw={"width_ratios": [1.5, 1]})
steps = range(1, T + 1)
for mode, r in results.items():
    axes[0].semilogy(steps, r["before"], ls=":", lw=2, color=COLORS[mode],
                     label=f"{MODELS[mode]}, at initialisation")
    axes[0].semilogy(steps, [max(g, 1e-30) for g in r["after"]], lw=2.5, color=COLORS[mode],
                     label=f"{MODELS[mode]}, trained")
    window = max(1, len(r["losses"]) // 40)
    smooth = [sum(r["losses"][i:i + window]) / window
              for i in range(0, len(r["losses"]) - window + 1, window)]
    axes[1].semilogy([window * (i + 1) for i in range(len(smooth))], smooth, lw=2,
                     color=COLORS[mode], label=MODELS[mode])
axes[0].set_title(rf"$\|\partial L_T / \partial h_t\|$ over time, adding problem, T = {T}")
axes[0].set_xlabel("step t (the answer is read at t = T)")
axes[0].set_ylabel("gradient norm (log scale)")
axes[0].legend(fontsize=9, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.13))
axes[1].axhline(ADDING_BASELINE_MSE, ls="--", color="gray", label="remember nothing (1/6)")
axes[1].set_title("training loss (mean squared error)")
axes[1].set_xlabel("update")
axes[1].legend(fontsize=9)
for ax in axes:
    ax.grid(alpha=0.3)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## What to look at
#
# - **Dotted lines, at initialisation**: all three cells lose the gradient geometrically,
#   a straight line on the log scale. Gates do not help by themselves: freshly initialised,
#   an LSTM's forget gate sits near $\sigma(0) = 0.5$, and halving the signal at every step
#   is still a geometric decay.
# - **Solid lines, after training**: the GRU and the LSTM solve the task (their loss drops
#   far below the $1/6$ line, and their test MSE above is close to zero) and their curves
#   have become nearly flat: the gates learned to keep the path open, so the first steps
#   receive a gradient as large as the last ones. The Elman RNN stays at the baseline, and
#   its gradient at the first steps stays many orders of magnitude below the last step's
#   (the printed ratio): the loss cannot tell it which early inputs mattered.
# - The order matters: a long memory is learned *because* some gradient reaches far
#   enough back to start opening the gates; once they open, more gradient flows, and the
#   loss drops suddenly (the cliff in the training curves).
#
# ## On real text: `rnnlab diagnose`
#
# The same measurement on character language models trained on *The Time Machine*: an
# Elman RNN, a GRU and an LSTM, each with the same budget, then `rnnlab diagnose` on each,
# which takes a batch of validation text (16 rows of 100 characters), measures the
# gradient of the last character's loss with respect to every earlier state, and writes
# `gradient_flow.json` and `gradient_flow.png`.

# %%
SEQ_LEN = size(100, 20)
for mode in MODELS:
    rnnlab(f"train --data timemachine --model {mode} "
           f"--max-time {budget(20, smoke=1)} --clock cpu --samples 0 --no-progress "
           f"--out {fresh(f'runs/vanishing_tm_{mode}')}")
for mode in MODELS:
    rnnlab(f"diagnose runs/vanishing_tm_{mode} --out runs/vanishing_tm_{mode}/diagnose "
           f"--seq-len {SEQ_LEN} --batch-size {size(16, 4)}")

# %% [markdown]
# The three `gradient_flow.json` files on one plot, and beside it the fraction of the
# Elman RNN's units that are saturated, $|h_t| > 0.95$, at each step (each run's
# `gradient_flow.png` has these panels and more):

# %%
import json

flows = {m: json.load(open(f"runs/vanishing_tm_{m}/diagnose/gradient_flow.json"))
         for m in MODELS}
fig, axes = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [1.6, 1]})
for mode, flow in flows.items():
    curve = flow["hidden_grad_norm"][0]
    axes[0].semilogy(range(1, len(curve) + 1), [max(g, 1e-300) for g in curve], lw=2,
                     color=COLORS[mode], label=MODELS[mode])
saturated = flows["rnn"]["saturation"][0]["over_time"]["h"]
axes[1].plot(range(1, len(saturated) + 1), saturated, color=COLORS["rnn"])
axes[0].set_title(r"character LMs on timemachine: $\|\partial L_T / \partial h_t\|$")
axes[0].set_xlabel("step t (L_T: loss of the last character)")
axes[0].legend()
axes[1].set_title("Elman RNN: fraction of units with |h| > 0.95")
axes[1].set_xlabel("step t")
axes[1].set_ylim(0, 1)
for ax in axes:
    ax.grid(alpha=0.3)
plt.tight_layout()
plt.show()

print(f"{'model':<7}{'val NLL':>9}{'||dL/dh_1|| / ||dL/dh_T||':>28}   spectral radius of W blocks")
for mode, flow in flows.items():
    curve = flow["hidden_grad_norm"][0]
    final = json.load(open(f"runs/vanishing_tm_{mode}/final.json"))
    radii_ = ", ".join(f"{k} {v['radius']:.2f}" for k, v in flow["spectral"][0].items())
    print(f"{MODELS[mode]:<7}{final['val']['nll']:>9.3f}{curve[0] / curve[-1]:>28.1e}   "
          f"{radii_}")

# %% [markdown]
# ## What to look at
#
# - The Elman curve falls fastest, although the spectral radius of its trained $W$ (in the
#   table) is above one: the bound $\|W\|^{T-t}$ is only an upper bound, and the
#   saturation panel shows why the actual product is far smaller: a large share of its
#   units sit at $|h| > 0.95$, where $1 - h^2 < 0.1$.
# - The gated models also decay on text, but much more slowly. A character model of
#   English does not *need* 100 characters of memory the way the adding problem does, so
#   with a short budget the gates keep only part of the past: the gradient flow reflects
#   both the architecture and what the task asked for.
# - A vanishing gradient is not the same as a bad language model: compare the validation
#   NLL column. Most of what predicts the next character lies in the last few characters,
#   which the Elman RNN reaches easily; what it cannot learn is a dependency like the
#   adding problem's, where the evidence lies many steps back.
# - The same per-run picture is in each run's `diagnose/gradient_flow.png`, and the full
#   long-range tables (copy memory too, T up to 200, with and without clipping) are in
#   BENCHMARKS.md (`python benchmarks/long_range.py`).
#
# ## Try
#
# - Longer delays: `T = 100` in the adding cell. The initial gradient at the first step
#   falls by many more decades; the GRU still learns, the LSTM needs more updates, the
#   Elman RNN does not.
# - No clipping (drop `clip_grad_norm_`): watch the Elman loss for spikes, the exploding
#   side of the same product.
# - `rnnlab train --data timemachine --model rnn --seq-len 16`: with truncated BPTT the
#   gradient never travels more than `--seq-len` steps anyway; does the Elman RNN lose
#   anything?
