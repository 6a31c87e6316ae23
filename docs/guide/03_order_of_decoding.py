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
# # The order of decoding
#
# The chain rule does not care in which order the tokens are taken. Reading left to right,
#
# $$p(x_1, \ldots, x_T) = p(x_1) \prod_{t=2}^{T} p(x_t \mid x_{t-1}, \ldots, x_1),$$
#
# and reading right to left,
#
# $$p(x_1, \ldots, x_T) = p(x_T) \prod_{t=T-1}^{1} p(x_t \mid x_{t+1}, \ldots, x_T).$$
#
# Both are identities: with the true conditional distributions, the two products are the
# same number for every sequence. Left to right is the usual choice because it matches how
# text is read and written, because a sequence can then be extended one token at a time
# ($p(x_{1..t+1}) = p(x_{1..t})\, p(x_{t+1} \mid x_{1..t})$), and because in many processes
# the past causes the future, so forward conditionals tend to be simpler than backward
# ones.
#
# A *model* only approximates the conditionals, so a model trained left to right and one
# trained right to left are two different estimates of the same distribution. Comparing
# them tells us two things: how much a model's answer depends on the order it was given,
# and which direction is easier to learn for a kind of data.
#
# ## In rnnlab
#
# `rnnlab train --direction r2l` reverses the tokens of every line before training and
# keeps the end marker last, so the name `emma` is read as `a m m e <eos>` after `<bos>`
# ([`encode_line`](../../rnnlab/data/tokenizers.py)). Both directions therefore model the
# same thing, a whole name with its end, and each sums to one over all names. The direction
# is stored with the run, and `rnnlab score`, `evaluate` and `generate` reverse their input
# (and `generate` its output) to match ([`rnnlab.tasks.lm`](../../rnnlab/tasks/lm/__init__.py)),
# so a score is always $\log p(\text{name})$, whichever way it was computed.
#
# ## When the two directions must agree exactly
#
# Counting models without smoothing (`--smoothing mle`, the relative frequencies of the
# previous chapter) give the same probability in both directions, name by name. For a
# bigram model, with $N$ training names, $x_0 = $ `<bos>` and $x_{T+1} = $ `<eos>`,
#
# $$\hat p_{\rightarrow}(x) = \prod_{t=1}^{T+1} \frac{c(x_{t-1}\, x_t)}{c(x_{t-1}\, \cdot)}
# = \frac{\prod_{t=1}^{T+1} c(x_{t-1}\, x_t)}{N \prod_{t=1}^{T} c(x_t)},$$
#
# because every occurrence of a character in the training names is followed by exactly
# one token, so $c(a\, \cdot)$ is just the number of occurrences of $a$, and `<bos>` is
# followed by something once per name. The right-to-left model counts the same pairs read
# backwards and the same characters, so its product is the same fraction. The same
# cancellation goes through for longer contexts. Smoothing and learning break it, each in
# its own way.

# %% [markdown]
# ## Models in both directions
#
# First the counting models on `names`, each direction, at order 3: without smoothing, and
# with modified Kneser-Ney. They take a second each.

# %%
from guidekit import budget, fresh, rnnlab, size

DIRECTIONS = ["l2r", "r2l"]
COUNTS = ["mle", "mkn"]
for smoothing in COUNTS:
    for d in DIRECTIONS:
        rnnlab(f"train --data names --model ngram --order 3 --smoothing {smoothing} "
               f"--direction {d} --samples 0 --no-progress "
               f"--out {fresh(f'runs/order_{smoothing}_{d}')}")

# %% [markdown]
# The unsmoothed model's validation and test NLL are infinite: some names hold a
# three-character sequence that never occurs in training (the perplexity it prints is
# $e^{700}$, the cap rnnlab puts on the exponent, rather than infinity). Below, such names
# are left out of its comparison. The Kneser-Ney warning is the one explained in the
# previous chapter.
#
# Then a GRU language model in each direction, with the same budget and seed. The five
# names each prints at the end are sampled by the model in its own direction and shown in
# reading order.

# %%
for d in DIRECTIONS:
    rnnlab(f"train --data names --model gru --direction {d} "
           f"--max-time {budget(45, smoke=1)} --clock cpu --samples 5 --no-progress "
           f"--out {fresh(f'runs/order_gru_{d}')}")

# %% [markdown]
# ## Scoring a name both ways
#
# `rnnlab score RUN TEXT --json` gives the log-probability of each text and its tokens in
# the order the model predicted them. Note the right-to-left model's first token: it has
# to guess how the name *ends* before it knows anything else.

# %%
for d in DIRECTIONS:
    rnnlab(f"score runs/order_gru_{d} emma xavier --json")

# %% [markdown]
# The same function from Python, on a sample of test names, for the three pairs of models
# (the sample is the first names of the run's own test split, never seen in training):

# %%
import json

import matplotlib.pyplot as plt
import numpy as np

from rnnlab import load
from rnnlab.data.readers import load_splits
from rnnlab.tasks import lm

MODELS = {"counts, no smoothing": "mle", "counts, Kneser-Ney": "mkn", "GRU": "gru"}
runs = {(m, d): load(f"runs/order_{m}_{d}") for m in MODELS.values() for d in DIRECTIONS}
test = load_splits(runs["gru", "l2r"].cfg.data).test[:size(400, 30)]
scores = {key: lm.score(run, test) for key, run in runs.items()}
logp = {key: np.array([s["logprob"] for s in rows]) for key, rows in scores.items()}

print(f"{len(test)} test names; log p in nats, summed over the names each model can score")
print(f"{'model':<22}{'names':>6}{'sum l2r':>11}{'sum r2l':>11}{'mean diff':>11}"
      f"{'mean |diff|':>13}{'max |diff|':>12}")
for label, m in MODELS.items():
    a, b = logp[m, "l2r"], logp[m, "r2l"]
    ok = np.isfinite(a) & np.isfinite(b)
    diff = np.abs(a[ok] - b[ok])
    print(f"{label:<22}{ok.sum():>6}{a[ok].sum():>11.2f}{b[ok].sum():>11.2f}"
          f"{(a[ok] - b[ok]).mean():>+11.2e}{diff.mean():>13.2e}{diff.max():>12.2e}")

fig, axes = plt.subplots(1, 3, figsize=(13, 4.3))
for ax, (label, m) in zip(axes, MODELS.items(), strict=True):
    a, b = logp[m, "l2r"], logp[m, "r2l"]
    ok = np.isfinite(a) & np.isfinite(b)
    ax.scatter(a[ok], b[ok], s=8, alpha=0.5)
    lo, hi = min(a[ok].min(), b[ok].min()), max(a[ok].max(), b[ok].max())
    ax.plot([lo, hi], [lo, hi], color="gray", lw=1, ls="--")
    ax.set_xlabel("log p(name), left to right")
    ax.set_title(f"{label} ({ok.sum()} names)")
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
axes[0].set_ylabel("log p(name), right to left")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Which direction is easier?
#
# The test NLL per character, over the whole test split, of each model in each direction
# (from the runs' `final.json`; the unsmoothed model's is infinite). A lower figure means
# that direction was easier for that model:

# %%
print(f"{'model':<22}{'l2r':>9}{'r2l':>9}{'r2l - l2r':>11}   (test NLL, nats per character)")
for label, m in list(MODELS.items())[1:]:
    nll = {d: json.load(open(f"runs/order_{m}_{d}/final.json"))["test"]["nll"]
           for d in DIRECTIONS}
    print(f"{label:<22}{nll['l2r']:>9.4f}{nll['r2l']:>9.4f}{nll['r2l'] - nll['l2r']:>+11.4f}")

# %% [markdown]
# The totals hide *where* each direction finds a name hard. The cell below averages the
# GRUs' per-token loss by position in the order each model reads: position 1 is the first
# token it predicts (the first letter for left to right, the last letter for right to
# left), and the end marker is shown on its own. It also prints, by plain counting over
# the training names, the entropy of the first letter and of the last letter: the loss
# that the best possible guess of that letter, without any context, would have.

# %%
from collections import Counter


def entropy(letters):
    p = np.array(list(Counter(letters).values()), float)
    p /= p.sum()
    return float(-(p * np.log(p)).sum())


train = load_splits(runs["gru", "l2r"].cfg.data).train
print(f"entropy of the first letter {entropy(n[0] for n in train):.3f} nats, "
      f"of the last letter {entropy(n[-1] for n in train):.3f} nats")
for where, i in (("first", 0), ("last", -1)):
    common = Counter(n[i] for n in train).most_common(6)
    print(f"most common {where} letters: "
          + ", ".join(f"{c} {k / len(train):.0%}" for c, k in common))

K = 8
fig, ax = plt.subplots(figsize=(7, 3.6))
for d, marker in zip(DIRECTIONS, "os", strict=True):
    by_pos = [[] for _ in range(K)]
    ends = []
    for row in scores["gru", d]:
        toks = row["token_logprobs"]
        for k, (_, lp) in enumerate(toks[:-1][:K]):
            by_pos[k].append(-lp)
        ends.append(-toks[-1][1])
    means = [np.mean(v) if v else np.nan for v in by_pos]
    ax.plot(range(1, K + 1), means, marker + "-", label=d)
    ax.plot([K + 1.5], [np.mean(ends)], marker, ms=9, color=ax.lines[-1].get_color())
ax.set_xticks([*range(1, K + 1), K + 1.5], [*map(str, range(1, K + 1)), "<eos>"])
ax.set_xlabel("position of the character in the model's reading order")
ax.set_ylabel("mean NLL (nats)")
ax.set_title("GRU: where the uncertainty lies")
ax.legend()
ax.grid(alpha=0.3)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## What to look at
#
# - **Counts without smoothing (left panel).** Every name lies on the diagonal: the two
#   directions agree to rounding error, as the derivation says, and so do their sums.
# - **Kneser-Ney counts (middle).** Still close to the diagonal, but not on it: the
#   discounts and the back-off to shorter contexts are computed from counts that are not
#   symmetric under reversal (the contexts a character follows are not the contexts it
#   precedes), so the smoothing moves probability differently in each direction.
# - **GRU (right).** The points spread around the diagonal: two networks trained on the
#   same names assign visibly different probabilities to the same name, even though both
#   estimate the same distribution. Per name, the signed differences average out to far
#   less than their size (the columns "mean diff" and "mean |diff|"): each direction
#   favours some names and not others, and over many names the errors largely cancel.
# - **Which direction is easier on names?** Compare the test NLL table: the gap between
#   directions is small next to the gap between model kinds, for the counts (which have no
#   training noise) and for the GRUs. Reading order gives no real advantage on names: a
#   name has no direction in which one part causes the next.
# - **Position profile.** At position 1 the two directions answer different questions
#   with no context at all: the left-to-right model guesses the first letter, the
#   right-to-left model the last one. The printed entropies show that these are not
#   equally hard (the last letter is the more predictable: a handful of letters end most
#   names), and each model's position-1 loss lies close to the matching entropy, as a
#   guess without context should. After the first letter, each direction has positions
#   where it does better, and over a whole name the differences nearly cancel (the table
#   above). The end marker itself is cheap where it occurs; the cost of deciding that a
#   name goes on is paid at the other positions, as a little probability given to `<eos>`
#   too early.
#
# ## Try
#
# - Word level: `--data ptb --direction r2l` (docs/results.md compares the two directions
#   on Penn Treebank sentences, including a sentence with its words scrambled).
# - Raise `--order` for the counting models: without smoothing the two directions still
#   agree, on fewer and fewer names that the model can score at all.
# - Score a name you like both ways: `rnnlab score runs/order_gru_r2l YOURNAME`.
