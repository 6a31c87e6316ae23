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
# # Backpropagation through time by hand
#
# Unrolled over $\tau$ steps, a recurrent network is a feed-forward network $\tau$ layers
# deep, so its gradients come from the chain rule as for any other network. Two things make
# it *through time*: every step uses the **same** weights, so a weight's gradient is a sum of
# one contribution per step; and a hidden state $h_t$ influences the loss along two paths,
# through its own output $o_t$ and through the next state $h_{t+1}$, which carries it to
# every later loss.
#
# ## The forward pass
#
# The Elman RNN of the notes (previous chapter), for $t = 1, \ldots, \tau$, $h_0$ given:
#
# $$a_t = W h_{t-1} + U x_t + b, \quad h_t = \tanh(a_t), \quad o_t = V h_t + c, \quad
# \hat y_t = \mathrm{softmax}(o_t), \quad L = \sum_{t=1}^{\tau} L_t = -\sum_{t=1}^{\tau}
# \log \hat y_t[y_t].$$
#
# ## The backward pass, step by step
#
# **Output layer.** Softmax followed by the negative log-likelihood has the simplest
# derivative there is: with $\mathbf{1}_{y_t}$ the one-hot vector of the target,
#
# $$\frac{\partial L}{\partial o_t} = \hat y_t - \mathbf{1}_{y_t}.$$
#
# **Hidden state.** $h_t$ reaches $L$ through $o_t$ (weight $V$) and through
# $a_{t+1}$ (weight $W$). Summing the two paths,
#
# $$\frac{\partial L}{\partial h_t} = V^\top \frac{\partial L}{\partial o_t}
# + W^\top \frac{\partial L}{\partial a_{t+1}},$$
#
# where the second term is absent at the last step $t = \tau$.
#
# **Through the nonlinearity.** $\tanh'(a) = 1 - \tanh(a)^2$, so elementwise
#
# $$\frac{\partial L}{\partial a_t} = (1 - h_t^2) \odot \frac{\partial L}{\partial h_t}.$$
#
# Put together, this is one backward recursion, run from $t = \tau$ down to $1$:
#
# $$\frac{\partial L}{\partial h_t} = V^\top(\hat y_t - \mathbf{1}_{y_t}) + W^\top
# \mathrm{diag}(1 - h_{t+1}^2)\, \frac{\partial L}{\partial h_{t+1}} .$$
#
# The second term is the "through time" part: it is what lets the loss at step 50 change
# what the network does at step 3, and it is a product of one Jacobian
# $\mathrm{diag}(1 - h_{k}^2) W$ per step in between (the subject of the next chapter).
#
# **Parameters.** Each weight is used at every step, so its gradient sums over $t$:
#
# $$\frac{\partial L}{\partial V} = \sum_t \frac{\partial L}{\partial o_t} h_t^\top, \quad
# \frac{\partial L}{\partial c} = \sum_t \frac{\partial L}{\partial o_t}, \quad
# \frac{\partial L}{\partial W} = \sum_t \frac{\partial L}{\partial a_t} h_{t-1}^\top, \quad
# \frac{\partial L}{\partial U} = \sum_t \frac{\partial L}{\partial a_t} x_t^\top, \quad
# \frac{\partial L}{\partial b} = \sum_t \frac{\partial L}{\partial a_t}.$$
#
# The backward sweep costs about as much as the forward pass, but it needs every $h_t$ of
# the forward pass, so memory grows with $\tau$.
#
# ## The code
#
# [`rnnlab/reference/numpy_bptt.py`](../../rnnlab/reference/numpy_bptt.py) is these
# equations in NumPy and nothing else: `forward` keeps every $h_t$ and $\hat y_t$, and
# `backward` is the recursion above. Here is `backward` itself (the inputs are character
# ids, so $U x_t$ is a column of $U$ and $\partial L / \partial U$ adds $\partial L /
# \partial a_t$ into the column of $x_t$):

# %%
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small products: one BLAS thread is fastest

import inspect

from rnnlab.reference import numpy_bptt as nb

print(inspect.getsource(nb.backward))

# %% [markdown]
# ## Checking the derivation
#
# A hand-derived gradient is easy to get subtly wrong (a missing transpose, an off-by-one
# step), and a wrong gradient often still trains, only worse. `rnnlab gradcheck` checks the
# NumPy gradient two independent ways on a small random problem in float64: against PyTorch
# autograd through rnnlab's own [`ElmanCell`](../../rnnlab/models/cells.py), and against
# central finite differences $\big(L(\theta + \epsilon) - L(\theta - \epsilon)\big) / 2\epsilon$,
# one parameter entry at a time ([`gradcheck`](../../rnnlab/reference/gradcheck.py)).
# Here over 20 steps, so the recursion really runs through time:

# %%
from guidekit import fresh, rnnlab, size

rnnlab("gradcheck --seq-len 20 --hidden-size 8 --vocab 10")

# %% [markdown]
# The error is the largest entry difference relative to the gradient's own scale. Against
# autograd it is at the level of float64 rounding: the two compute the same numbers in a
# different order. Against finite differences it is larger, because the finite difference
# itself is only accurate to $O(\epsilon^2)$ plus rounding of order $10^{-16}/\epsilon$;
# a wrong derivation would show errors of order one.
#
# ## Truncated BPTT
#
# On a long stream (a book is one sequence of hundreds of thousands of characters) full
# BPTT is out of the question: it would keep every state of the book. *Truncated* BPTT,
# written BPTT($k_1$, $k_2$) (Williams and Peng, 1990), makes an update every $k_1$ steps
# with the losses of those $k_1$ steps, and runs the backward recursion only $k_2 \ge k_1$
# steps into the past: $\partial L / \partial a_t$ is set to zero at the start of the window,
# so the state there is treated as a constant. The forward pass still carries the state
# across windows; only the gradient is cut.
#
# rnnlab trains with BPTT($k$, $k$), $k$ = `--seq-len`: the [trainer](../../rnnlab/trainer.py)
# keeps the final state of one chunk as the initial state of the next and *detaches* it, so
# autograd stops at the chunk boundary. The NumPy reference does any ($k_1$, $k_2$) by
# starting its recursion at a window start (`backward(..., window_start=...)`;
# `tbptt_windows` lists the windows). The cell draws which losses reach which states, as
# computed from those windows, for 12 steps:

# %%
import matplotlib.pyplot as plt
import numpy as np

T = 12
schemes = {"full BPTT": (T, T), "BPTT(4, 4)": (4, 4), "BPTT(2, 6)": (2, 6)}
fig, axes = plt.subplots(1, 3, figsize=(12, 3.9), sharey=True)
for ax, (title, (k1, k2)) in zip(axes, schemes.items(), strict=True):
    reach = np.zeros((T, T))  # reach[s, t] = 1: the loss of step s backpropagates into h_t
    for window_start, loss_start, end in nb.tbptt_windows(T, k1, k2):
        for s in range(loss_start, end):
            reach[s, window_start:s + 1] = 1
        ax.axhline(end - 0.5, color="gray", lw=0.6)
    ax.imshow(reach, cmap="Blues", vmin=0, vmax=1.3)
    windows = list(nb.tbptt_windows(T, k1, k2))
    ax.set_title(f"{title}: {len(windows)} update(s)")
    ax.set_xlabel("state $h_t$, t")
    ax.set_xticks(range(T), range(1, T + 1))
    ax.set_yticks(range(T), range(1, T + 1))
axes[0].set_ylabel("loss $L_s$, s")
plt.tight_layout()
plt.show()

# %% [markdown]
# Full BPTT is the whole lower triangle (every loss reaches every earlier state) in a single
# update. BPTT(4, 4) keeps only the triangles inside each chunk: the loss at step 5 cannot
# reach $h_4$, so a dependency that spans a chunk boundary gets no gradient, however
# strong it is. BPTT(2, 6) updates more often and lets every loss reach the 4 or 5 states
# before its own (fewer at the very start), at the price of running the backward pass over
# 6 steps for every 2 new ones.
#
# ## Two ways to cut a stream into batches
#
# [`BpttStream`](../../rnnlab/data/batching.py) turns one long stream of token ids into
# batches of shape (batch $B$, `--seq-len` $T$), the inputs paired with the same stretch
# shifted by one as targets. `--partition` chooses between the two layouts its docstring
# sketches:
#
# - **sequential**: the stream is cut into $B$ long rows read side by side; batch $k$ holds
#   the $k$-th chunk of every row, so each row of batch $k$ continues the same row of batch
#   $k-1$, and the state can be carried over (reset only when an epoch starts).
# - **random**: each epoch starts at a random offset, cuts chunks of $T$ and shuffles them;
#   neighbouring batches are unrelated, so every batch starts from a zero state.
#
# The figure runs `BpttStream` on a stream of 24 tokens `a` ... `x` with $B = 2$ and $T = 3$
# (the example of its docstring). Each cell is one input token; its colour is its position
# in the stream.

# %%
from matplotlib.patches import Rectangle

from rnnlab.data.batching import BpttStream

letters = "abcdefghijklmnopqrstuvwx"
ids = np.arange(len(letters))
cmap = plt.get_cmap("viridis")
fig, axes = plt.subplots(3, 1, figsize=(11, 5.2), gridspec_kw={"height_ratios": [0.5, 1, 1]})
for i, ch in enumerate(letters):  # the stream itself
    axes[0].add_patch(Rectangle((i, 0), 1, 1, fc=cmap(i / len(letters)), ec="white"))
    axes[0].text(i + 0.5, 0.5, ch, ha="center", va="center", color="white")
axes[0].set_xlim(0, 26)
axes[0].set_title("the stream (N = 24)", fontsize=10, loc="left")
for ax, partition in zip(axes[1:], ["sequential", "random"], strict=True):
    stream = BpttStream(ids, batch_size=2, seq_len=3, partition=partition, seed=0)
    col = 0
    for k, batch in enumerate(stream.epoch(0)):
        rows_, steps_ = batch.inputs.shape
        for r in range(rows_):
            for s in range(steps_):
                i = int(batch.inputs[r, s])
                ax.add_patch(Rectangle((col + s, 1 - r), 1, 1, fc=cmap(i / len(letters)),
                                       ec="white"))
                ax.text(col + s + 0.5, 1.5 - r, letters[i], ha="center", va="center",
                        color="white")
        state = "zero state" if batch.reset else "state carried"
        ax.text(col + 1.5, 2.25, f"batch {k}\n{state}", ha="center", va="bottom",
                fontsize=8)
        col += steps_ + 1
    ax.set_xlim(0, 26)
    ax.set_ylim(0, 3.1)
    ax.set_title(f"--partition {partition}", fontsize=10, loc="left")
    ax.set_yticks([1.5, 0.5], ["row 0", "row 1"])
for ax in axes:
    ax.set_xticks([])
    ax.set_aspect("equal")
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
axes[0].set_yticks([])
plt.tight_layout()
plt.show()

# %% [markdown]
# In the sequential layout, follow a row from batch to batch: the colours run on without a
# jump (`a b c | d e f | g h i`), so the final state of a row is the right initial state for
# the same row of the next batch, and the model can use context from before the chunk even
# though the gradient cannot reach it. The targets are the same rows shifted by one token
# (row 0 reads `a` ... `k` and predicts `b` ... `l`); the last batch is shorter, because 11
# tokens per row do not split into chunks of 3, and the final token `x` is never used. In
# the random layout the chunks are shuffled, so a carried state would belong to unrelated
# text: every batch starts from zero, and nothing before the chunk is visible to the model
# at all. Tokens before the random offset, and chunks that do not fill a whole batch, are
# skipped in that epoch; a different offset each epoch moves the cut points.
#
# ## Training with the hand-written gradient
#
# Finally, the NumPy reference trains a character model on *The Time Machine*
# (`timemachine`) next to `rnnlab train` with autograd, on the same recipe: an Elman RNN
# with $H = 128$, BPTT(32, 32) over 32 sequential rows, Adam with learning rate $3 \cdot
# 10^{-3}$, the gradient norm clipped at 1, no dropout and no weight decay, the same number
# of updates. First the autograd run (`--impl loop` is rnnlab's `ElmanCell`, the cell
# `gradcheck` used; `--defaults fixed` turns off the settings rnnlab would otherwise choose
# for a text stream, so every choice is the one written here):

# %%
RUN = "runs/bptt_timemachine_torch"
UPDATES, EVAL_EVERY = size(2000, 20), size(100, 10)
rnnlab(f"train --data timemachine --model rnn --impl loop --defaults fixed "
       f"--embedding-dim 64 --hidden-size 128 --dropout 0 --weight-decay 0 --lr 0.003 "
       f"--schedule constant --clip 1 --seq-len 32 --batch-size 32 --partition sequential "
       f"--max-steps {UPDATES} --eval-every {EVAL_EVERY} --patience 0 --samples 0 "
       f"--no-progress --out {fresh(RUN)}")

# %% [markdown]
# Then the same recipe in NumPy, written out: the training part of the run's own split and
# vocabulary laid out as 32 sequential rows, the state carried from chunk to chunk, the
# gradient of each chunk from `forward` and `backward`, then `clip_global_norm` and `Adam`
# from the same module. `backward` returns the gradient of the loss *summed* over batch and
# steps; dividing by $B T$ gives the gradient of the mean loss that `rnnlab train` uses.
# Validation is exact, one row carried through the whole validation split, as in `rnnlab`.

# %%
import json
import time

import rnnlab
from rnnlab.data.readers import load_splits
from rnnlab.data.tokenizers import Tokenizer

run = rnnlab.load(RUN)
tok = Tokenizer.from_dict(run.payload["tokenizer"])
splits = load_splits(run.cfg.data)
train_ids = np.array(tok.encode(splits.train))
val_ids = np.array(tok.encode(splits.val))
B, T, H, K = 32, 32, 128, len(tok)
n = (len(train_ids) - 1) // B
x = train_ids[: n * B].reshape(B, n)  # (B, n): row r is one contiguous stretch of the book
y = train_ids[1 : n * B + 1].reshape(B, n)  # targets: the same stretch shifted by one
x_val, y_val = val_ids[None, :-1], val_ids[None, 1:]  # one row: exact validation

params = nb.init_params(K, H, K, seed=0)  # U (H, K), W, b, V (K, H), c
opt = nb.Adam(params, lr=3e-3)
h, pos, losses, numpy_curve = np.zeros((B, H)), 0, [], []
t0 = time.process_time()
for step in range(1, UPDATES + 1):
    if pos + T > n:  # end of the epoch: start the rows again from a zero state
        h, pos = np.zeros((B, H)), 0
    cache = nb.forward(params, x[:, pos:pos + T], h)
    grads = nb.backward(params, cache, y[:, pos:pos + T]).grads
    for g in grads.values():
        g /= B * T  # gradient of the mean loss per character
    nb.clip_global_norm(grads, 1.0)
    opt.step(grads)
    losses.append(nb.nll(cache, y[:, pos:pos + T]) / (B * T))
    h, pos = cache.h[:, -1], pos + T  # carry the state; the next backward stops here
    if step % EVAL_EVERY == 0:
        numpy_curve.append({"step": step, "train_loss": float(np.mean(losses[-EVAL_EVERY:])),
                            "val_nll": nb.evaluate(params, x_val, y_val)})
print(f"NumPy: {UPDATES} updates in {time.process_time() - t0:.1f} CPU seconds")

# %% [markdown]
# The two runs' curves, with the unigram model (character frequencies of the training part,
# no context at all) as a reference line:

# %%
torch_curve = [r for r in map(json.loads, open(f"{RUN}/metrics.jsonl")) if "val_nll" in r]
counts = np.bincount(train_ids, minlength=K) + 1  # add-one, so no character has p = 0
unigram = float(-np.log(counts / counts.sum())[val_ids[1:]].mean())

fig, ax = plt.subplots(figsize=(7.5, 4))
for curve, label, color in [(numpy_curve, "NumPy, BPTT by hand", "tab:orange"),
                            (torch_curve, "rnnlab train, autograd", "tab:blue")]:
    steps = [r["step"] for r in curve]
    ax.plot(steps, [r["train_loss"] for r in curve], ls=":", color=color,
            label=f"{label}: training (mean since the last point)")
    ax.plot(steps, [r["val_nll"] for r in curve], "o-", ms=3, color=color,
            label=f"{label}: validation")
ax.axhline(unigram, ls="--", color="gray", label="unigram, validation")
ax.set_xlabel("update (BPTT(32, 32), batch 32)")
ax.set_ylabel("nats per character")
ax.set_title("Elman RNN, H = 128, on The Time Machine (characters)")
ax.grid(alpha=0.3)
ax.legend(fontsize=8)
plt.show()
print(f"final validation NLL: NumPy {numpy_curve[-1]['val_nll']:.4f}, "
      f"rnnlab train {torch_curve[-1]['val_nll']:.4f}, unigram {unigram:.4f} nats/char")

# %% [markdown]
# ## What to look at
#
# - Both models fall far below the unigram line within the first few hundred updates,
#   and the NumPy curves have the same shape as the autograd run's: the hand-derived
#   gradient, which `gradcheck` matched to autograd, trains a real character model.
# - The gap that remains comes from the two *models*, not from the gradient, which the
#   check above matched to autograd: rnnlab's language model puts a 64-dimensional
#   embedding (initialised with unit variance) in front of $U$ and learns both, while the
#   NumPy model feeds one-hot characters straight into $U$, initialised small, so its
#   inputs start out weak. The data layout (32 sequential rows, state carried), the
#   optimiser and the clipping are the same.
# - The training curves (dotted) are the mean over the last stretch of updates on the
#   batches just seen; validation is one exact pass over text neither model trained on.
#
# ## Try
#
# - `rnnlab gradcheck --seed 1 --hidden-size 16 --seq-len 32`: the check holds for other
#   sizes and seeds; it refuses sizes whose finite differences would take long.
# - Change `backward` in a copy of the module (drop the `da_next @ W` term, i.e. truncate
#   to one step) and run the check again: the errors of `W`, `U` and `b` jump to order
#   one, while `V` and `c`, which do not depend on that term, stay exact.
# - Train with `--partition random` instead: the model then never sees context from before
#   its chunk, in training. How much does that cost with `--seq-len 32`, and with 8?
# - `python -m rnnlab.numpy_bptt --data FILE --steps 2000 --plot loss.png` trains the NumPy
#   model from the command line on any text file, with the module's own loop
#   ([`train`](../../rnnlab/reference/numpy_bptt.py), any BPTT($k_1$, $k_2$)).
