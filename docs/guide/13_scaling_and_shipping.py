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
# # Scaling out and shipping
#
# Two things happen to a model after the lecture notes are done with it: it is trained on
# more hardware than one process can use, and it is run somewhere that has no training
# code. This chapter does both with a small character LSTM on first names: it trains the
# same model once in one process and once in two processes that split every batch, then
# exports it to ONNX and runs it in ONNX Runtime, without PyTorch and without rnnlab.
#
# ## Data parallelism: split the batch, average the gradients
#
# Training minimises the mean loss over the $N$ targets of a batch,
# $L(\theta) = \frac{1}{N} \sum_{i=1}^{N} \ell_i(\theta)$. Cut the batch's rows into $W$
# shards, one per process (a *rank*); rank $r$ holds $n_r$ of the targets,
# $\sum_r n_r = N$, and its own mean loss $L_r = \frac{1}{n_r} \sum_{i \in r} \ell_i$.
# The gradient is linear, so the whole batch's gradient is a weighted mean of the shards':
#
# $$\nabla_\theta L = \sum_{r=1}^{W} \frac{n_r}{N} \, \nabla_\theta L_r .$$
#
# Each rank computes its share on its own core (or machine), and one collective operation,
# an *all-reduce*, gives every rank the average $g = \frac{1}{W} \sum_r g_r$ of what
# they computed. PyTorch's `DistributedDataParallel` does the all-reduce; rnnlab makes the
# average the right one by having rank $r$ backpropagate $\frac{W n_r}{N} L_r$ rather than
# $L_r$ (the ranks learn $N$ by adding up their counts $n_r$), so that
# $g = \nabla_\theta L$ even when the shards hold unequal numbers of tokens (names of
# different lengths). Every rank then takes the same optimizer step from the same weights:
# once the ranks start from the same initial weights, they stay identical without the
# weights ever being sent again.
#
# Hence the promise: $W$ processes with a global batch of $B$ rows train **the same model**
# as one process with a batch of $B$ rows. Only the order in which floating-point numbers
# are added changes. Any speed-up comes from each rank doing $1/W$ of the work, minus the
# cost of the all-reduce.
#
# In rnnlab this is [`rnnlab/distributed.py`](../../rnnlab/distributed.py):
# `shard_batch` cuts each global batch by rows, `loss_weight` counts $n_r$ and
# `ddp_forward` scales the loss by $W n_r / N$. Validation sums are all-reduced too, so the
# figures a two-process run prints are one process's, and rank 0 alone writes the run
# folder. `torchrun` starts the processes and tells each its rank; without it nothing
# changes.

# %% [markdown]
# ## One process
#
# A character LSTM (128 hidden units) on the `names` dataset, batches of 32 names, for a
# fixed number of optimizer steps with an evaluation every few steps. Dropout is off
# (`--dropout 0`), because the random dropout masks would be drawn differently when the
# batch is split and would hide what we want to compare.

# %%
import os
import subprocess
import sys

from guidekit import fresh, rnnlab, size

STEPS, EVERY = size(1500, 20), size(50, 5)
FLAGS = (f"--data names --model lstm --hidden-size 128 --dropout 0 --batch-size 32 "
         f"--max-steps {STEPS} --eval-every {EVERY} --threads 1 --samples 0 --no-progress")
ONE, TWO = "runs/names_1proc", "runs/names_2proc"
rnnlab(f"train {FLAGS} --out {fresh(ONE)}")

# %% [markdown]
# ## Two processes with torchrun
#
# The same flags, started by `torchrun`, which runs `rnnlab train` in two processes on this
# machine and connects them (the `gloo` backend, for CPUs). Each process trains on half of
# the rows of every batch of 32 names. `torchrun` is its own program, so the notebook runs
# it as a subprocess and prints what it prints; `python -m torch.distributed.run` is the
# same program as `torchrun`.

# %%
command = f"--standalone --nproc_per_node 2 -m rnnlab train {FLAGS} --out {fresh(TWO)}"
print(f"$ torchrun {command}", flush=True)
done = subprocess.run([sys.executable, "-m", "torch.distributed.run", *command.split()],
                      capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
print(done.stdout + done.stderr)
if done.returncode:
    raise RuntimeError(f"torchrun exited with status {done.returncode}")

# %% [markdown]
# Both runs logged their training loss (the mean over the steps since the last evaluation)
# and their validation NLL at every evaluation in `RUN/metrics.jsonl`. The left panel puts
# the two runs on one axis; the right one shows how far apart they are.

# %%
import json

import matplotlib.pyplot as plt
import numpy as np

runs = {"1 process": ONE, "2 processes (torchrun)": TWO}
hist = {k: [json.loads(line) for line in open(f"{v}/metrics.jsonl")] for k, v in runs.items()}
steps = [r["step"] for r in hist["1 process"]]
fig, (a, b) = plt.subplots(1, 2, figsize=(10.5, 3.6))
for (name, rows), style in zip(hist.items(), ["-", "--"], strict=True):
    a.plot([r["step"] for r in rows], [r["train_loss"] for r in rows], style, color="C0",
           lw=2, label=f"train, {name}")
    a.plot([r["step"] for r in rows], [r["val_nll"] for r in rows], style, color="C1",
           lw=2, label=f"validation, {name}")
a.set_xlabel("optimizer step")
a.set_ylabel("NLL (nats per character)")
a.set_title("the same global batch of 32 names")
a.grid(alpha=0.3)
a.legend(fontsize=8)
one, two = hist["1 process"], hist["2 processes (torchrun)"]
for key, label in [("train_loss", "training loss"), ("val_nll", "validation NLL")]:
    gap = [abs(x[key] - y[key]) for x, y in zip(one, two, strict=True)]
    b.semilogy(steps, np.maximum(gap, 1e-12), "o-", ms=3, label=label)
b.set_xlabel("optimizer step")
b.set_ylabel("|1 process - 2 processes|")
b.set_title("how far apart the two runs are")
b.grid(alpha=0.3, which="both")
b.legend()
plt.tight_layout()
plt.show()

final = {k: json.load(open(f"{v}/final.json")) for k, v in runs.items()}
for name in runs:
    print(f"{name:<24} test NLL {final[name]['test']['nll']:.6f}   "
          f"training time {hist[name][-1]['time']:.1f} s (wall)")

# %% [markdown]
# ## What to look at
#
# - In the left panel the dashed curves (two processes) lie on the solid ones (one
#   process): the two runs are the same training, step for step.
# - The right panel measures the gap. It is not zero, and it is tiny: the size of
#   single-precision rounding, because two ranks add the shards' gradients in a different
#   order than one process adds the rows, and the optimizer carries those last-digit
#   differences forward. That is the whole difference between the runs.
# - The training times printed under the plot say little on a shared 2-core machine:
#   each rank's share of a step is a few milliseconds of work and every step ends with an
#   all-reduce of all the gradients. Data parallelism pays when a rank's share of a step
#   costs much more than sending the gradients; [docs/distributed.md](../distributed.md)
#   measures it on PTB and explains when two processes beat two threads.
#
# The same command runs across machines (`torchrun --nnodes 2 --node_rank ...`), resumes
# with a different number of processes (`--resume`), and stops cleanly when a rank dies;
# [docs/distributed.md](../distributed.md) covers all of these.

# %% [markdown]
# ## Shipping: the model as an ONNX file
#
# A run folder needs Python, PyTorch and rnnlab to be used. ONNX is a file format for the
# computation graph itself, with its weights, which many runtimes execute (ONNX Runtime
# here; others run on phones, in browsers or on servers). For a language model, the
# function worth exporting is the one a decoder calls at every token, one step of the
# recurrence and the output layer,
#
# $$(x_t, h_{t-1}, c_{t-1}) \mapsto (o_t, h_t, c_t), \qquad
# P(x_{t+1} \mid x_{\le t}) = \mathrm{softmax}(o_t),$$
#
# with the LSTM state passed in and out as plain tensors, so the caller carries it.
# [`rnnlab export`](../../rnnlab/export/onnx.py) traces that step (`RecurrentLM.step` in
# [`lm.py`](../../rnnlab/models/lm.py)) with `torch.onnx.export`, stores the tokenizer and
# the hyper-parameters in the file's metadata, then runs the file in ONNX Runtime beside
# PyTorch and refuses to finish if they disagree. We export the model the two processes
# trained: their run folder is an ordinary one.
#
# The exporter needs rnnlab's optional `export` extra (`pip install 'rnnlab[export]'`:
# the packages `onnx` and `onnxruntime`). Without it the cells below say so and skip.

# %%
try:
    import onnx  # noqa: F401
    import onnxruntime as ort
except ImportError:
    ort = None
    print("the export extra is not installed (pip install 'rnnlab[export]'): "
          "skipping the ONNX part of this chapter")

MODEL = f"{TWO}/names.onnx"
if ort is not None:
    rnnlab(f"export {TWO} --format onnx --out {MODEL}")

# %% [markdown]
# `rnnlab export` checked the file on a few short samples. The cell below checks it again
# on our own terms: it feeds the same names, one character at a time, to the PyTorch model
# (`model.step`) and to the ONNX file in ONNX Runtime, each carrying its own state, and
# compares every logit. Then it times both at batch 1, one thread, the way a decoder
# would call them.

# %%
import time

import torch
from IPython.display import Markdown, display

from rnnlab.run import load

if ort is not None:
    torch.set_num_threads(1)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(MODEL, opts)
    meta = json.loads(sess.get_modelmeta().custom_metadata_map["rnnlab"])
    itos = meta["tokenizer"]["tokens"]  # id -> character; <pad> <unk> <bos> <eos> first
    stoi = {t: i for i, t in enumerate(itos)}
    BOS, EOS = stoi["<bos>"], stoi["<eos>"]
    L, H = meta["hparams"]["num_layers"], meta["hparams"]["hidden_size"]

    def zeros():
        """The LSTM's starting state (h, c) for one sequence, as ONNX Runtime takes it."""
        return [np.zeros((L, 1, H), np.float32), np.zeros((L, 1, H), np.float32)]

    def ort_step(token, state):
        logits, *state = sess.run(None, {"token": np.array([token]),
                                         "state_0": state[0], "state_1": state[1]})
        return logits, state

    run = load(TWO)  # the same weights, in PyTorch
    lines = open(run.cfg.data.data).read().split()
    names = lines[::max(1, len(lines) // size(200, 10))]  # names spread over the file
    worst_logit = worst_state = 0.0
    compared = 0
    for name in names:
        s_ort, s_pt = zeros(), None
        for token in [BOS, *(stoi.get(ch, stoi["<unk>"]) for ch in name)]:
            l_ort, s_ort = ort_step(token, s_ort)
            l_pt, s_pt = run.model.step(torch.tensor([token]), s_pt)
            worst_logit = max(worst_logit, float(np.abs(l_ort - l_pt.numpy()).max()))
            worst_state = max(worst_state, *(float(np.abs(a - b.numpy()).max())
                                             for a, b in zip(s_ort, s_pt, strict=True)))
            compared += 1

    def tokens_per_second(step, state, n):
        """Calls of `step` per second, n in a row at batch 1, each feeding the last state."""
        for _ in range(n // 10):  # warm up
            _, state = step(BOS, state)
        t0 = time.perf_counter()
        for _ in range(n):
            _, state = step(BOS, state)
        return n / (time.perf_counter() - t0)

    N = size(3000, 100)
    ort_speed = tokens_per_second(ort_step, zeros(), N)
    pt_speed = tokens_per_second(lambda t, s: run.model.step(torch.tensor([t]), s), None, N)
    display(Markdown(
        "| | ONNX Runtime | PyTorch (`model.step`) |\n|---|---:|---:|\n"
        f"| max abs. difference of the logits, {compared:,} steps | "
        f"{worst_logit:.1e} | (reference) |\n"
        f"| max abs. difference of the state (h, c) | {worst_state:.1e} | (reference) |\n"
        f"| tokens per second, batch 1, one thread | {ort_speed:,.0f} | {pt_speed:,.0f} |"))

# %% [markdown]
# The file is all a user needs. The last cell samples names with ONNX Runtime and NumPy
# alone: it reads the alphabet from the file's metadata, starts from `<bos>` and a zero
# state, and draws each character from the softmax of the logits (the special tokens
# `<pad>`, `<unk>` and `<bos>` excluded) until `<eos>`.

# %%
if ort is not None:
    rng = np.random.default_rng(0)
    never = [stoi["<pad>"], stoi["<unk>"], BOS]
    samples = []
    for _ in range(size(12, 3)):
        state, token, chars = zeros(), BOS, []
        for _ in range(30):
            logits, state = ort_step(token, state)
            logits[0, never] = -np.inf  # not characters: never drawn
            p = np.exp(logits[0] - logits[0].max())
            token = int(rng.choice(len(p), p=p / p.sum()))
            if token == EOS:
                break
            chars.append(itos[token])
        samples.append("".join(chars))
    known = set(lines)
    print("  ".join(s + ("" if s in known else "*") for s in samples))
    print("(* not a name of the dataset)")

# %% [markdown]
# ## What to look at
#
# - The first two rows of the table: the ONNX graph computes the same function as the
#   PyTorch model, to float32 rounding, over every step of real names, with each side
#   carrying its own state. A mismatch would show up as a difference near the size of the
#   logits themselves, not in the sixth decimal.
# - The speed row: at batch 1 a step is two small matrix-vector products, so what is being
#   timed is mostly the cost of each call. One fused ONNX Runtime graph has less of it than
#   PyTorch's Python-level step; [docs/export.md](../export.md) measures the same on a
#   larger model.
# - The samples were drawn without PyTorch or rnnlab in the loop: the file carries the
#   weights, the graph and the alphabet.
#
# ## Try
#
# - Three processes: `--nproc_per_node 3`. The batch of 32 rows no longer splits evenly;
#   the curves still agree, because each rank's loss is weighted by its share of tokens.
# - Keep dropout (drop `--dropout 0`): the two runs draw different dropout masks and their
#   curves now differ by that noise, not by rounding.
# - `rnnlab generate runs/names_2proc/names.onnx --prompt "ma" --num 5`: sampling from
#   the ONNX file through rnnlab's command line.
# - Export another task's model, e.g. a translation run of
#   [the translation chapter](12_translation.ipynb): the encoder and one decoder step go to
#   two files (see [docs/export.md](../export.md)).
