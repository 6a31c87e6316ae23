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
# # Language models
#
# A language model is a model of the *density* of sequences: it assigns a probability to
# every possible sequence of tokens, and nothing else. There is no input and no label; the
# data are the sequences themselves. The chain rule of probability turns this one large
# distribution into a product of next-token distributions, one per position:
#
# $$P(x_1, \ldots, x_T) = P(x_1) \prod_{t=2}^{T} P(x_t \mid x_{t-1}, \ldots, x_1).$$
#
# Each factor is a classification over the vocabulary, which is exactly what a recurrent
# network is good at: its hidden state $h_t = f(h_{t-1}, x_{t-1})$ summarises the prefix,
# and a softmax over the output $o_t$ gives $P(x_t \mid x_{t-1}, \ldots, x_1) =
# \mathrm{softmax}(o_t)_{x_t}$. Here the tokens are characters and the sequences are first
# names, one per line; each name starts after a `<bos>` token and ends with an `<eos>`
# token, which is predicted (and counted) like any character, so the model also learns
# where names stop.
#
# ## Cross-entropy, perplexity, bits
#
# A density model is judged by how much probability it gives to text it has not seen. Over
# the $N$ tokens of a held-out set, the average negative log-likelihood (the cross-entropy
# between the data and the model), in nats per token, is
#
# $$\ell = -\frac{1}{N} \sum_{t=1}^{N} \log P(x_t \mid x_{t-1}, \ldots, x_1),
# \qquad \mathrm{PPL} = e^{\ell}, \qquad \text{bits per token} = \ell / \ln 2 .$$
#
# Training minimises the same $\ell$ on the training set. Perplexity reads as a branching
# factor: a model that spreads its probability uniformly over $V$ tokens has
# $\ell = \ln V$ and $\mathrm{PPL} = V$, so a perplexity of $k$ means the model is, on
# average, as unsure as a fair choice among $k$ tokens.
#
# In rnnlab the character LSTM is [`RecurrentLM`](../../rnnlab/models/lm.py); these three
# figures are computed by [`evaluate`](../../rnnlab/metrics.py), which sums the log-loss of
# every real target (padding excluded, `<eos>` included) and divides once at the end, and
# the task itself (data, splits, `rnnlab score`) lives in
# [`rnnlab.tasks.lm`](../../rnnlab/tasks/lm/__init__.py).

# %% [markdown]
# ## Training a character LSTM on names
#
# The `names` dataset holds about 32,000 first names. With `--max-time` the run spends a
# budget of CPU seconds; the learning rate follows a cosine schedule over that budget and
# the best checkpoint on the validation split is kept.

# %%
from guidekit import budget, fresh, rnnlab, size

RUN = "runs/names_lstm"
rnnlab(f"train --data names --model lstm --max-time {budget(90, smoke=1)} --clock cpu "
       f"--samples 5 --no-progress --out {fresh(RUN)}")

# %% [markdown]
# Every evaluation during training is a line of `RUN/metrics.jsonl`. The right-hand axis
# of the plot shows the same curve as a perplexity, $e^{\ell}$.

# %%
import json
import math

import matplotlib.pyplot as plt
import numpy as np

rows = [json.loads(line) for line in open(f"{RUN}/metrics.jsonl")]
steps = [r["step"] for r in rows]
fig, ax = plt.subplots(figsize=(6.5, 3.5))
ax.plot(steps, [r["train_loss"] for r in rows], "o-", ms=3, label="training (with dropout)")
ax.plot(steps, [r["val_nll"] for r in rows], "s-", ms=3, label="validation")
ax.set_xlabel("optimizer step")
ax.set_ylabel("NLL (nats per character)")
# the right-hand axis maps NLL to perplexity and back (its inverse never sees 0)
ppl = ax.secondary_yaxis("right", functions=(np.exp, lambda p: np.log(np.maximum(p, 1e-9))))
ppl.set_ylabel("perplexity")
ax.grid(alpha=0.3)
ax.legend()
ax.set_title("character LSTM on names")
plt.show()

# %% [markdown]
# ## Evaluating
#
# `rnnlab evaluate` scores the test split of the run (the split is recorded in the run
# folder, so it is the same one the training never saw):

# %%
rnnlab(f"evaluate {RUN} --json")

# %% [markdown]
# The three figures are one number in three units. The cell below checks the identities
# and sets them beside a model that knows nothing, the uniform distribution over the
# vocabulary (its size includes the special tokens).

# %%
from rnnlab.run import load
from rnnlab.tasks import lm

run = load(RUN)  # the best checkpoint, as rnnlab.load(RUN)
test = json.load(open(f"{RUN}/final.json"))["test"]
V = len(lm.tokenizer(run))
print(f"test NLL {test['nll']:.4f} nats/char")
print(f"exp(NLL) = {math.exp(test['nll']):.3f}   (perplexity reported: {test['ppl']:.3f})")
print(f"NLL / ln 2 = {test['nll'] / math.log(2):.4f}   (bits reported: {test['bpc']:.4f})")
print(f"uniform over V = {V} tokens: NLL ln V = {math.log(V):.4f}, perplexity {V}")

# %% [markdown]
# ## Generating: sampling and temperature
#
# A density model is also a generator: draw $x_1$ from $P(x_1)$, feed it in, draw $x_2$
# from $P(x_2 \mid x_1)$, and so on until `<eos>`. rnnlab's decoders
# ([`generate`, `beam_search`](../../rnnlab/decoding.py)) run the prompt once and then
# carry the recurrent state, one step per new token.
#
# Before sampling, the logits $o$ can be reshaped. The *temperature* $T$ divides them,
#
# $$P_T(x) = \frac{\exp(o_x / T)}{\sum_{x'} \exp(o_{x'} / T)},$$
#
# so $T < 1$ sharpens the distribution towards its most likely tokens ($T \to 0$ is the
# argmax), $T = 1$ is the model itself, and $T > 1$ flattens it towards uniform. Top-$k$
# keeps only the $k$ most likely tokens and top-$p$ (nucleus) the smallest set whose
# probability reaches $p$; both are in
# [`transform_logits`](../../rnnlab/decoding.py). From the command line:

# %%
rnnlab(f"generate {RUN} --strategy sample --temperature 0.5 --num 8 --seed 1")

# %% [markdown]
# To see what temperature does, the next cell draws the same number of names at several
# temperatures (with the same random seed at each) and measures two things: the average
# log-probability per character that the *untempered* model ($T = 1$) gives to the
# samples, and how many samples are new (not names of the dataset) or repeated. The
# per-character figure counts each name's `<eos>`, as the test NLL does.

# %%
import torch

from rnnlab.data.tokenizers import BOS_ID
from rnnlab.decoding import DecodeConfig, decode

tok = lm.tokenizer(run)
known = set(open(run.cfg.data.data).read().split())  # every name of the dataset
N, MAX_LEN = size(400, 20), 30
temperatures = [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0]
sweep = {}
for T in temperatures:
    cfg = DecodeConfig(strategy="sample", temperature=T, max_new_tokens=MAX_LEN)
    hyps = [h[0] for h in decode(run.model, [[BOS_ID]] * N, cfg,
                                 torch.Generator().manual_seed(0))]
    texts = [tok.decode(h.tokens) for h in hyps]
    # a name that stopped before MAX_LEN ended with <eos>, whose log-probability is included
    chars = sum(len(h.tokens) + (len(h.tokens) < MAX_LEN) for h in hyps)
    sweep[T] = {"texts": texts,
                "nll": -sum(h.log_prob for h in hyps) / chars,
                "new": np.mean([t not in known for t in texts]),
                "distinct": len(set(texts)) / N}
    print(f"T={T:<5} NLL of samples {sweep[T]['nll']:.3f} nats/char   "
          f"new {sweep[T]['new']:.0%}   distinct {sweep[T]['distinct']:.0%}")

# %%
fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
a.plot(temperatures, [sweep[T]["nll"] for T in temperatures], "o-",
       label="samples, scored by the model at T = 1")
a.axhline(test["nll"], color="gray", ls="--", label="test NLL (real names)")
a.set_xlabel("temperature T")
a.set_ylabel("NLL (nats per character)")
a.set_title("how likely the samples are")
a.legend()
a.grid(alpha=0.3)
b.plot(temperatures, [sweep[T]["new"] for T in temperatures], "o-", label="new names")
b.plot(temperatures, [sweep[T]["distinct"] for T in temperatures], "s-",
       label="distinct samples")
b.set_xlabel("temperature T")
b.set_ylabel(f"share of {N} samples")
b.set_title("novelty and diversity")
b.legend()
b.grid(alpha=0.3)
plt.tight_layout()
plt.show()

# %% [markdown]
# The first samples at three temperatures (the same seed: each column starts from the same
# random numbers; `*` marks a name that is in the dataset):

# %%
shown = [0.5, 1.0, 2.0]
print("".join(f"T = {T:<18}" for T in shown))
for i in range(min(10, N)):
    row = [sweep[T]["texts"][i] for T in shown]
    print("".join(f"{t + ('*' if t in known else ''):<22}" for t in row))

# %% [markdown]
# ## What to look at
#
# - **The training curve.** Validation NLL falls quickly and then slowly as the cosine
#   schedule lowers the learning rate. The training loss sits *above* validation: it is
#   measured with dropout on, on batches of the moment, so it is not a sign of
#   underfitting; overfitting would show as validation turning upwards while training
#   keeps falling.
# - **The evaluation.** Perplexity is $e^{\ell}$ and bits are $\ell/\ln 2$, exactly (the
#   printed checks). The model's perplexity is a small fraction of the vocabulary size:
#   after a few characters of a name, only a handful of next characters are plausible.
# - **Temperature, left panel.** At $T = 1$ the samples are about as likely under the
#   model as real test names are: a well-fitted model's own samples look, to itself, like
#   the data. Lower temperatures pick high-probability characters, so the samples' NLL
#   drops far below the test NLL; higher temperatures produce strings the model itself
#   finds unlikely.
# - **Temperature, right panel.** Low temperature buys likelihood with variety: most
#   samples are common names that exist already, many drawn more than once. High
#   temperature gives new, distinct strings, more and more of them not plausible as names
#   (the table). Nothing in the likelihood says which temperature is "best": it is a
#   choice between typical and surprising output.

# %% [markdown]
# ## Greedy decoding and beam search
#
# Sampling draws *a* sequence; sometimes we want the *most likely* one,
# $\arg\max_{x} P(x_1, \ldots, x_T)$. Greedy decoding takes the most likely token at each
# step, which need not give the most likely sequence: an early choice that looks best can
# lead to unlikely continuations. Beam search keeps the $K$ prefixes of highest total
# log-probability at every step and stops once no open prefix can beat the finished ones
# ($K = 1$ is greedy). The cell below calls the same function as
# `rnnlab generate RUN --strategy beam_search --num-beams K --prompt P`, and scores each
# result with `rnnlab score`'s function (the log-probability of the whole name, its
# `<eos>` included).

# %%
prompts = ["", "em", "jo", "ka"]
decoders = {"greedy": {"strategy": "greedy"},
            "beam 5": {"strategy": "beam_search", "num_beams": 5},
            "beam 20": {"strategy": "beam_search", "num_beams": 20}}
print(f"{'prompt':<8}" + "".join(f"{name:<22}" for name in decoders))
for p in prompts:
    cells = []
    for options in decoders.values():
        name = lm.generate_texts(run, {**options, "prompt": p})["texts"][0]
        logp = lm.score(run, [name])[0]["logprob"]
        cells.append(f"{name} ({logp:.2f})")
    print(f"{p or '(none)':<8}" + "".join(f"{c:<22}" for c in cells))

# %% [markdown]
# In the table, each cell is a name and its log-probability $\log P$ in nats (higher is
# more likely; the prompt is part of the name, so the numbers of one row compare). Beam
# search is not guaranteed to find the most likely name either, but it explores more
# prefixes than greedy decoding and usually ends with a more likely name, the more so the
# wider the beam (compare the numbers along each row). Notice also what the most
# likely names look like: short and plain. Every extra character multiplies the
# probability by a factor below one, so the search for the single most probable sequence
# favours short ones, and the most probable name is far from a *typical* name. This is why
# open-ended generation samples, and why beam search, used in translation, comes with a
# length penalty (`--length-penalty`).
#
# ## Try
#
# - `--model gru` or `--model rnn` in the training command, or a longer `--max-time`, and
#   compare the test perplexity.
# - `rnnlab generate RUN --top-k 5` or `--top-p 0.9` at $T = 1$: both cut the unlikely
#   tail that makes high-temperature samples implausible, without sharpening the rest.
# - A text stream instead of lines: `rnnlab train --data timemachine --max-time 120
#   --clock cpu`, then `rnnlab generate RUN --prompt "The Time " --temperature 0.7`.
# - `rnnlab score RUN emma zzyzx` prints the log-probability of any names you like.
