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
# # The Elman RNN as the notes write it
#
# The simplest recurrent network (Elman, 1990) keeps one hidden vector $h_t$ and updates it
# with the same weights at every step. In the notation of the notes, for $t = 1, \ldots,
# \tau$ and $h_0 = 0$:
#
# $$a_t = W h_{t-1} + U x_t + b, \qquad h_t = \tanh(a_t),$$
#
# $$o_t = V h_t + c, \qquad \hat y_t = \mathrm{softmax}(o_t),$$
#
# and the loss is the negative log-likelihood summed over the steps,
# $L = -\sum_t \log \hat y_t[y_t]$. $W$ is the hidden-to-hidden (recurrent) matrix, $U$ the
# input-to-hidden matrix, $V$ the hidden-to-output matrix; $b$ and $c$ are biases. The same
# five parameters serve every step, which is why the network handles sequences of any length.
#
# In this form the outputs are *conditionally independent given the inputs*: $\hat y_t$
# depends on $x_1, \ldots, x_t$ only, never on the labels $y_1, \ldots, y_{t-1}$. The notes
# lift that restriction with one more matrix $R$, which feeds the previous output back into
# the hidden layer:
#
# $$a_t = W h_{t-1} + U x_t + R\, y_{t-1} + b .$$
#
# During training $y_{t-1}$ is the previous *target* (given, a one-hot vector), so $R\,
# y_{t-1}$ is simply column $y_{t-1}$ of $R$; this is called teacher forcing.
#
# ## In rnnlab
#
# [`ElmanCell`](../../rnnlab/models/cells.py) is exactly these equations: `weight_ih` is $U$,
# `weight_hh` is $W$, `bias` is the single $b$, and with `feedback_size > 0` it holds
# `weight_fb`, which is $R$. [`Recurrent`](../../rnnlab/models/recurrent.py) runs the cell over
# time, and [`RecurrentLM`](../../rnnlab/models/lm.py) puts an embedding in front
# ($x_t$ is the embedding of the current token) and the output layer $V, c$ behind.
# On the command line the Elman cell is `--model rnn`; the feedback is `--feedback`, which
# needs the hand-written cells (`--impl loop`), because PyTorch's fused `nn.RNN` kernel has
# no $R$.
#
# In a language model the target at step $t-1$ is the next character, which is the input
# at step $t$: $y_{t-1} = x_t$. So the feedback adds a second way for the current character
# to reach the hidden layer. Keep that in mind for the experiment below.

# %% [markdown]
# ## The unrolled graph
#
# Unrolling the recurrence turns it into a deep feed-forward network with one layer per
# step and the same weights in every layer. The drawing below is made from the equations
# above: solid arrows are the plain Elman RNN, the dashed orange ones are the feedback $R$,
# which reads the previous *target* $y_{t-1}$ (top row); each loss $L_t$ compares the
# prediction $\hat y_t$ with its target.

# %%
import matplotlib.pyplot as plt

STEPS = 4
fig, ax = plt.subplots(figsize=(9, 4.6))
ax.set_xlim(-0.9, STEPS - 0.2)
ax.set_ylim(-0.45, 4.5)
ax.axis("off")
rows = {"x": 0.2, "h": 1.5, "yhat": 2.8, "y": 4.0}  # height of each kind of node


def node(t, kind, label, color):
    ax.text(t, rows[kind], label, ha="center", va="center", fontsize=12,
            bbox={"boxstyle": "round,pad=0.35", "fc": color, "ec": "black"})


def arrow(p, q, label, color="black", style="-", where=(0.5, 0.0), head="->"):
    ax.annotate("", xy=q, xytext=p, arrowprops={"arrowstyle": head, "color": color,
                                                "ls": style, "lw": 1.4,
                                                "shrinkA": 14, "shrinkB": 14})
    mx = p[0] + where[0] * (q[0] - p[0]) + where[1]
    my = p[1] + where[0] * (q[1] - p[1])
    ax.text(mx, my, label, color=color, fontsize=11, ha="center", va="center",
            bbox={"fc": "white", "ec": "none", "pad": 0.5})


node(-0.7, "h", "$h_0$", "#eeeeee")
for t in range(STEPS):
    node(t, "x", f"$x_{t + 1}$", "#dbe9f6")
    node(t, "h", f"$h_{t + 1}$", "#fde9c9")
    node(t, "yhat", rf"$\hat y_{t + 1}$", "#d9f0d3")
    node(t, "y", f"$y_{t + 1}$", "#eeeeee")
    arrow((t, rows["x"]), (t, rows["h"]), "$U$", where=(0.5, 0.13))
    arrow((t, rows["h"]), (t, rows["yhat"]), "$V$", where=(0.5, 0.13))
    arrow((t, rows["yhat"]), (t, rows["y"]), f"$L_{t + 1}$", color="gray", style=":",
          where=(0.5, 0.16), head="-")
    arrow((t - 1 if t else -0.7, rows["h"]), (t, rows["h"]), "$W$", where=(0.5, 0.0))
    if t:  # the previous target enters the hidden layer through R
        arrow((t - 1, rows["y"]), (t, rows["h"]), "$R$", color="tab:orange", style="--",
              where=(0.3, 0.0))
ax.set_title("the Elman RNN unrolled over 4 steps (dashed: output feedback $R\\,y_{t-1}$)")
plt.show()

# %% [markdown]
# ## Training with and without the feedback
#
# Two Elman language models on the `names` dataset (about 32,000 first names, one per line,
# read character by character), identical except for `--feedback`. Both use the
# hand-written loop, and both train without dropout: rnnlab's default dropout acts on the
# embedding, that is on the $U x_t$ path but not on $R\,y_{t-1}$, which would make the
# comparison about dropout as well. So the only difference is $R$. Each gets the same
# budget of CPU seconds.

# %%
from guidekit import budget, fresh, rnnlab, size

RUNS = {"no feedback": "runs/elman_names_plain", "feedback R y_{t-1}": "runs/elman_names_fb"}
for flag, run in zip(["--no-feedback", "--feedback"], RUNS.values(), strict=True):
    rnnlab(f"train --data names --model rnn --impl loop {flag} --dropout 0 "
           f"--max-time {budget(45, smoke=1)} --clock cpu --samples 0 --no-progress "
           f"--out {fresh(run)}")

# %% [markdown]
# Every evaluation during training is a line of `RUN/metrics.jsonl`. The left panel puts
# the validation curves on the same optimizer steps, the right panel on the same CPU
# seconds (the feedback costs a little per step).

# %%
import json

import rnnlab

history = {name: [json.loads(line) for line in open(f"{run}/metrics.jsonl")]
           for name, run in RUNS.items()}
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
for (name, rows), color in zip(history.items(), ["tab:blue", "tab:orange"], strict=True):
    rows = [r for r in rows if "val_nll" in r]
    axes[0].plot([r["step"] for r in rows], [r["val_nll"] for r in rows], "o-", ms=3,
                 color=color, label=name)
    axes[1].plot([r["time"] for r in rows], [r["val_nll"] for r in rows], "o-", ms=3,
                 color=color, label=name)
axes[0].set_xlabel("optimizer step")
axes[1].set_xlabel("CPU seconds of training")
axes[0].set_ylabel("validation NLL (nats per character)")
for ax in axes:
    ax.grid(alpha=0.3)
    ax.legend()
fig.suptitle("Elman RNN language model on names: validation curves")
plt.tight_layout()
plt.show()

print(f"{'model':<20}{'parameters':>11}{'steps':>7}{'val NLL':>9}{'test NLL':>10}")
for name, run in RUNS.items():
    final = json.load(open(f"{run}/final.json"))
    n_params = rnnlab.load(run).model.num_params()
    print(f"{name:<20}{n_params:>11,}{history[name][-1]['step']:>7}"
          f"{final['val']['nll']:>9.4f}{final['test']['nll']:>10.4f}")

# %% [markdown]
# ## What to look at
#
# - The two validation curves follow each other closely from start to end: on this task
#   the feedback changes neither how fast the model learns nor where it ends (the table
#   gives the final figures).
# - The feedback model has $H \times V$ more parameters (one column of $R$ per character)
#   and its steps cost a little more, so in the same CPU budget it makes slightly fewer of
#   them (the steps column); the right panel compares the two at equal CPU time.
#
# The next two sections explain why the curves coincide: first by running the equations
# by hand, then by showing that the extra matrix adds nothing this model could not already
# do.

# %% [markdown]
# ## The unrolled computation, by hand
#
# Take the trained feedback model and one name. The cell below reads $U, W, b, R, V, c$
# out of the model and runs the equations of the notes step by step in plain PyTorch
# (a Python loop over $t$, nothing else), then compares the result with what the model's
# own forward pass gives.

# %%
import torch

from rnnlab.data.batching import pad_batch
from rnnlab.data.tokenizers import Tokenizer

run = rnnlab.load(RUNS["feedback R y_{t-1}"])
model = run.model.eval()
tok = Tokenizer.from_dict(run.payload["tokenizer"])
cell = model.rnn.cells[0]
U, W, b, R = cell.weight_ih, cell.weight_hh, cell.bias, cell.weight_fb  # the notes' names
V, c = model.head.weight, model.head.bias

name = "emma"
batch = pad_batch([tok.encode(name)])  # inputs <bos> e m m a, targets e m m a <eos>
ids = batch.inputs[0]
with torch.no_grad():
    x = model.embedding(ids)  # x_t: the embedding of the current character, (T, E)
    h = torch.zeros(W.shape[0])  # h_0
    hs, probs = [], []
    for t in range(len(ids)):
        y_prev = ids[t]  # y_{t-1}: the previous target = the current input (<bos> at t = 1)
        a = W @ h + U @ x[t] + R[:, y_prev] + b  # R y_{t-1} = column y_{t-1} of R
        h = torch.tanh(a)
        p = torch.softmax(V @ h + c, dim=-1)
        hs.append(h)
        probs.append(p)
    by_hand = torch.stack(probs)  # (T, vocabulary)
    by_model = torch.softmax(model(batch).logits[0], dim=-1)
print(f"largest difference, by hand vs model: {(by_hand - by_model).abs().max():.2e}")

symbols = [tok.vocab.itos[i] for i in range(len(tok))]
print(f"\n{'t':>2}  {'x_t':<6}{'target':<8}{'p(target)':>10}   three most likely next")
for t, (i, j) in enumerate(zip(batch.inputs[0], batch.targets[0], strict=True)):
    top = by_hand[t].topk(3)
    best = "  ".join(f"{symbols[k]} {v:.2f}" for v, k in zip(top.values, top.indices,
                                                              strict=True))
    print(f"{t + 1:>2}  {symbols[i]:<6}{symbols[j]:<8}{by_hand[t, j]:>10.3f}   {best}")

# %% [markdown]
# The same computation as a picture: the hidden state $h_t$ (one column per step, the first
# 48 units) and the output distribution $\hat y_t$ over the characters, with the target of
# each step boxed.

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1, 1.3]})
steps = [f"{t + 1}\n{symbols[i]}" for t, i in enumerate(batch.inputs[0])]
im = axes[0].imshow(torch.stack(hs)[:, :48].T, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1)
axes[0].set_title("$h_t$ (units 0-47)")
axes[0].set_ylabel("hidden unit")
fig.colorbar(im, ax=axes[0])
im = axes[1].imshow(by_hand.T, aspect="auto", cmap="Greens", vmin=0)
for t, j in enumerate(batch.targets[0]):
    axes[1].add_patch(plt.Rectangle((t - 0.5, j - 0.5), 1, 1, fill=False, ec="red", lw=1.5))
axes[1].set_yticks(range(len(symbols)), symbols, fontsize=7)
axes[1].set_title(r"$\hat y_t$: probability of the next character (target boxed)")
fig.colorbar(im, ax=axes[1])
for ax in axes:
    ax.set_xticks(range(len(steps)), steps)
    ax.set_xlabel("step t and its input $x_t$")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Why the feedback adds nothing here
#
# With $y_{t-1} = x_t$, the current character enters the hidden layer twice, as
# $U e(x_t) + R\,\mathrm{onehot}(x_t)$, where $e(x_t)$ is its embedding. Both terms are a
# fixed $H$-vector per character: together, an $H \times V$ table $M = U E^\top + R$, with
# $E$ the $V \times d$ embedding matrix. Without feedback the table is $U E^\top$, whose
# rank is at most $\min(d, V)$. When the embedding has at least as many dimensions as there
# are characters ($d \ge V$), $U E^\top$ can already be *any* $H \times V$ table, so a model
# without $R$ can compute exactly what the model with $R$ computes.
#
# The cell checks this on the trained weights: it factors the feedback model's table $M$
# with an SVD into a new embedding and a new $U$, builds a plain Elman model with no $R$,
# copies $W, b, V, c$, and compares the two models' outputs on a batch of names.

# %%
from rnnlab.data.readers import load_splits
from rnnlab.models.lm import RecurrentLM

E = model.embedding.weight  # (V, d)
vocab, dim = E.shape
print(f"vocabulary V = {vocab}, embedding d = {dim}: d >= V is {dim >= vocab}")
with torch.no_grad():
    M = U @ E.T + R  # (H, V): what each character adds to a_t in the feedback model
    P, S, Qt = torch.linalg.svd(M, full_matrices=False)  # M = P diag(S) Qt, rank <= V
    k = S.shape[0]
    plain = RecurrentLM(vocab, cell="rnn", embedding_dim=dim, hidden_size=W.shape[0],
                        impl="loop", feedback=False).eval()
    new_cell = plain.rnn.cells[0]
    plain.embedding.weight.zero_()
    plain.embedding.weight[:, :k] = Qt.T  # row x of the new embedding: column x of Qt
    new_cell.weight_ih.zero_()
    new_cell.weight_ih[:, :k] = P * S  # so that U' e'(x) = M[:, x]
    new_cell.weight_hh.copy_(W)
    new_cell.bias.copy_(b)
    plain.head.load_state_dict(model.head.state_dict())

    names = load_splits(run.cfg.data).val[:size(200, 20)]
    check = pad_batch([tok.encode(n) for n in names])
    gap = (model(check).logits - plain(check).logits).abs().max()
print(f"{len(names)} validation names: largest logit difference, feedback model vs a model "
      f"without R: {gap:.2e}")
print(f"parameters: with R {model.num_params():,}, without R {plain.num_params():,}")

# %% [markdown]
# The difference is rounding error: the trained feedback model *is* a plain Elman model
# written with more parameters. In a character language model the feedback only changes
# the parametrisation, and with it the path the optimiser takes, which is why the curves
# above stay together.
#
# Output feedback matters when the previous output is *not* already an input: for example
# in tagging, where $y_{t-1}$ is the previous tag and $x_t$ the current word, or whenever
# the model must condition on its own earlier decisions rather than on the data.
#
# ## Try
#
# - The same two runs with the default `--dropout 0.3`: dropout now hides part of the
#   embedding of the current character, but not its copy that arrives through $R$, so the
#   two are no longer the same model during training. Which one ends lower?
# - `--embedding-dim 8` (so $d < V$): now $U E^\top$ has rank at most 8 while
#   $U E^\top + R$ can have full rank, and the feedback adds capacity.
# - `--model rnn --impl fused` trains the same model without feedback through PyTorch's
#   `nn.RNN` kernel (two biases instead of one $b$): compare its steps per second with the
#   loop.
# - `rnnlab generate runs/elman_names_fb --strategy sample --num 10` samples names from the
#   feedback model; the feedback is used in decoding too, with the sampled character as
#   $y_{t-1}$.
