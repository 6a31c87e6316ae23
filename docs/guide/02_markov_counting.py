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
# # Markov models and counting
#
# The chain rule writes the probability of a sequence as a product of next-token
# probabilities, each conditioned on the whole prefix. A *Markov model of order $k$*
# replaces the prefix by its last $k$ tokens:
#
# $$p(x_1, \ldots, x_T) \approx \prod_{t=1}^{T} p(x_t \mid x_{t-k}, \ldots, x_{t-1}).$$
#
# With $k = 1$ each token depends only on the one before it,
# $p(x_1, \ldots, x_T) = p(x_1) \prod_{t=2}^{T} p(x_t \mid x_{t-1})$. A Markov model of order
# $k$ is the same thing as an *n-gram model* with $n = k + 1$: it needs the probability of
# each token after each context of $n - 1$ tokens. For discrete tokens these probabilities
# can be estimated without any gradient descent, by counting. With $c(h\,w)$ the number of
# times context $h$ is followed by token $w$ in the training data and
# $c(h\,\cdot) = \sum_{w'} c(h\,w')$, the maximum-likelihood estimate is the relative
# frequency
#
# $$\hat p(w \mid h) = \frac{c(h\,w)}{c(h\,\cdot)} .$$
#
# Here the tokens are the characters of first names (the registry dataset `names`, about
# 32,000 of them). Each name is a sequence that starts after a `<bos>` context and ends with
# an `<eos>` token, predicted like a character, so the model also learns where names stop.
#
# In rnnlab the model is [`NGramLM`](../../rnnlab/models/ngram.py): `fit_counts` counts
# every n-gram of the training names and turns the counts into one table of log
# probabilities per order ([`ngram_counts.py`](../../rnnlab/models/ngram_counts.py)), and
# it then plugs into evaluation, scoring and generation like any neural language model.
# `rnnlab train --model ngram --order N --smoothing S` fits one; it "trains" in well under
# a second.

# %% [markdown]
# ## Counting models of every order
#
# One command, run for each order $n$ and for two ways of smoothing the counts (both are
# explained below): `add-k` with its default $k = 1$ (add-one) and `mkn`, interpolated
# modified Kneser-Ney. Every run uses the same seeded split of the names into training,
# validation and test. The warning printed by the first `mkn` run is expected (Python
# shows it once, though it applies to every `mkn` model here): Kneser-Ney estimates the
# discounts of each order from how many n-grams of that order occur once or twice, and at
# character level every single character, the order-1 level of the model, is far more
# frequent than that, so rnnlab falls back to fixed discounts for that level, as KenLM's
# `--discount_fallback` does.

# %%
from guidekit import fresh, rnnlab, size

ORDERS = list(range(1, size(9, 4)))  # 1..8 (1..3 in the quick test run)
SMOOTHINGS = ["add-k", "mkn"]
for smoothing in SMOOTHINGS:
    for order in ORDERS:
        rnnlab(f"train --data names --model ngram --order {order} --smoothing {smoothing} "
               f"--samples 0 --no-progress --out {fresh(f'runs/names_{smoothing}_{order}')}")

# %% [markdown]
# ## Counting, by hand
#
# The add-one bigram ($n = 2$) is simple enough to check by hand. Add-$k$ smoothing adds $k$
# to every count before normalising,
#
# $$\hat p_{\text{add-}k}(w \mid h) = \frac{c(h\,w) + k}{c(h\,\cdot) + k V'},$$
#
# where $V'$ is the number of tokens that can follow a context (the characters, `<eos>` and
# `<unk>`; not `<bos>` or padding). The cell below counts the character pairs of the
# training names with a `Counter` and compares the formula with the probability the
# trained model gives, for a few pairs.

# %%
import collections
import json
import math

import numpy as np

from rnnlab import load
from rnnlab.data.readers import load_splits
from rnnlab.tasks import lm

bigram = load("runs/names_add-k_2")
tok = lm.tokenizer(bigram)
splits = load_splits(bigram.cfg.data)  # the run's own train / val / test names
pairs, contexts = collections.Counter(), collections.Counter()
for name in splits.train:
    seq = ["<bos>", *name, "<eos>"]
    for h, w in zip(seq[:-1], seq[1:], strict=True):
        pairs[h, w] += 1
        contexts[h] += 1
V1 = len(tok.vocab) - 2  # every id except <pad> and <bos>
print(f"{len(splits.train):,} training names, V' = {V1}")
print(f"{'h':>6} {'w':>6} {'c(h w)':>8} {'c(h .)':>8} {'by hand':>10} {'rnnlab':>10}")
for h, w in [("q", "u"), ("q", "a"), ("<bos>", "x"), ("a", "<eos>"), ("z", "q")]:
    by_hand = (pairs[h, w] + 1) / (contexts[h] + V1)
    ctx, target = np.array([tok.vocab.encode([h])]), np.array(tok.vocab.encode([w]))
    model = math.exp(bigram.model.log_prob(ctx, target)[0])
    print(f"{h:>6} {w:>6} {pairs[h, w]:>8} {contexts[h]:>8} {by_hand:>10.6f} {model:>10.6f}")

# %% [markdown]
# ## Why counts need smoothing
#
# The relative frequency gives probability zero to every n-gram that never occurred in
# training. One such n-gram in a test name makes that name's probability zero and the test
# NLL infinite. The longer the context, the more of the n-grams met at test time are new.
# The cell below measures it on the validation names: the share of positions whose whole
# n-gram (context and next token) never occurs in the training names, and the share whose
# context alone never occurs.

# %%
def ngrams(names, n):
    """(context, next token) at every position, the context cut at the name's start."""
    for name in names:
        seq = ["<bos>", *name, "<eos>"]
        for t in range(1, len(seq)):
            yield tuple(seq[max(0, t - n + 1):t]), seq[t]


unseen = {}
for n in ORDERS:
    seen = set(ngrams(splits.train, n))
    seen_ctx = {h for h, _ in seen}
    val = list(ngrams(splits.val, n))
    unseen[n] = (np.mean([g not in seen for g in val]),
                 np.mean([g[0] not in seen_ctx for g in val]))
    print(f"n = {n}: n-gram never seen {unseen[n][0]:6.1%}   context never seen "
          f"{unseen[n][1]:6.1%}")

# %% [markdown]
# Smoothing moves some probability from the n-grams that were seen to those that were not.
#
# - **Add-one** does it blindly: every unseen continuation of a context gets the same share,
#   and a context never seen at all gets the uniform distribution $1/V'$.
# - **Interpolated Kneser-Ney** (Kneser and Ney, 1995; Chen and Goodman, 1998) subtracts a
#   small discount $D$ from every count and gives the freed mass to the model of the next
#   lower order, whose context is one token shorter:
#
#   $$p_{\mathrm{KN}}(w \mid h) = \frac{\max(c(h\,w) - D, 0)}{c(h\,\cdot)}
#   + \gamma(h)\, p_{\mathrm{KN}}(w \mid h'), \qquad
#   \gamma(h) = \frac{D\, N_{1+}(h\,\cdot)}{c(h\,\cdot)},$$
#
#   with $h'$ the context without its oldest token and $N_{1+}(h\,\cdot)$ the number of
#   distinct tokens seen after $h$, so the probabilities still sum to one. The lower orders
#   count, instead of occurrences, the number of distinct contexts a token follows: a token
#   that is frequent but only ever after one context is a poor guess for a new one.
#   *Modified* Kneser-Ney (`mkn`) uses three discounts, for n-grams seen once, twice, and
#   three or more times. rnnlab estimates them as KenLM does, and its perplexities match
#   KenLM's (docs/results.md).
#
# The cell below reads each run's validation and test NLL from its `final.json` and plots
# the test NLL against the order, next to the shares just measured.

# %%
import matplotlib.pyplot as plt

nll = {s: {n: json.load(open(f"runs/names_{s}_{n}/final.json")) for n in ORDERS}
       for s in SMOOTHINGS}
print(f"{'order':>5}" + "".join(f"{s + ' val':>12}{s + ' test':>12}" for s in SMOOTHINGS))
for n in ORDERS:
    print(f"{n:>5}" + "".join(f"{nll[s][n]['val']['nll']:>12.4f}{nll[s][n]['test']['nll']:>12.4f}"
                              for s in SMOOTHINGS))

names = {"add-k": "add-one", "mkn": "modified Kneser-Ney"}
fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.8))
for s, marker in zip(SMOOTHINGS, "os", strict=True):
    a.plot(ORDERS, [nll[s][n]["test"]["nll"] for n in ORDERS], marker + "-", label=names[s])
a.axhline(math.log(V1), color="gray", ls=":", label=f"uniform over V' = {V1}")
a.set_xlabel("order n (context of n - 1 characters)")
a.set_ylabel("test NLL (nats per character)")
ppl = a.secondary_yaxis("right", functions=(np.exp, lambda p: np.log(np.maximum(p, 1e-9))))
ppl.set_ylabel("perplexity")
a.set_title("n-gram models of names")
a.legend(loc="center right")
a.grid(alpha=0.3)
b.plot(ORDERS, [unseen[n][0] for n in ORDERS], "o-", label="n-gram never seen in training")
b.plot(ORDERS, [unseen[n][1] for n in ORDERS], "s-", label="context never seen in training")
b.set_xlabel("order n")
b.set_ylabel("share of validation positions")
b.set_title("what the counts have not seen")
b.legend()
b.grid(alpha=0.3)
for ax in (a, b):
    ax.set_xticks(ORDERS)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## What to look at
#
# - **Order 1** is the frequency of each character regardless of context, and both
#   smoothings agree there: nothing is unseen. From order 2 on, every character of context
#   helps at first; a model that knows the previous character is already far better.
# - **Add-one turns around.** Past a few characters of context, a growing share of the
#   validation positions have an n-gram, or even a context, that never occurred in training
#   (right panel). Add-one answers an unseen context with the uniform distribution and
#   gives an unseen continuation of a seen context a tiny share, the same for every token,
#   so a longer context makes it *worse*, and at the highest orders it climbs towards the
#   uniform line.
# - **Kneser-Ney keeps improving and then levels off.** When a long context is new or
#   rare, it falls back on the shorter contexts, which are well estimated, so adding
#   context costs little even where it no longer helps. The best order on the validation
#   split is the one used below.
# - The gap between the curves at high orders is entirely smoothing: the counts are the
#   same.

# %% [markdown]
# ## The most likely sequence, by dynamic programming
#
# A language model can also be asked for the single most probable continuation: of all
# sequences of $L$ tokens, the one with the highest $\sum_t \log p(x_t \mid \text{context})$.
# Taking the most likely token at each step (greedy decoding) does not solve this: a choice
# that looks best now can force unlikely tokens later. Trying all $V'^L$ sequences is out of
# the question. For a Markov model there is an exact and cheap way: the next-token
# distribution depends only on the *state*, the last $n - 1$ tokens, so among all prefixes
# that end in the same state only the best one can be part of the best sequence. The
# Viterbi recursion keeps, for every state $s$, the best score of a prefix ending in it,
#
# $$\delta_t(s) = \max_{s' \to s}\ \big[\delta_{t-1}(s') + \log p(w \mid s')\big],$$
#
# where $w$ is the token that moves the chain from state $s'$ to state $s$, and a pointer
# to the maximising $s'$; following the pointers back from the best final state gives the
# sequence. The work is (number of live states) $\times V'$ per step instead of exponential
# in $L$. rnnlab's [`viterbi`](../../rnnlab/models/ngram_decode.py) does this over the
# states of the n-gram, merging histories whose longest stored suffix is the same (they
# have the same next-token distribution), and `rnnlab generate RUN --strategy most_likely`
# calls it. An `<eos>` inside the $L$ tokens ends a name and the next one starts there.
#
# First, greedy decoding from `<bos>` with the Kneser-Ney model of the best validation
# order:

# %%
best = min(ORDERS, key=lambda n: nll["mkn"][n]["val"]["nll"])
RUN = f"runs/names_mkn_{best}"
print(f"best order on validation: {best}")
rnnlab(f"generate {RUN} --strategy greedy")

# %% [markdown]
# The greedy name has some number $L$ of tokens, its `<eos>` included. The same call in
# Python returns the name, and `rnnlab score`'s function gives its log-probability. Then
# the exact search over all sequences of the same length $L$:

# %%
run = load(RUN)
greedy = lm.generate_texts(run, {"strategy": "greedy"})["texts"][0]
scored = lm.score(run, [greedy])[0]  # log p(name, <eos> | <bos>)
L = scored["tokens"]
print(f"greedy: {greedy!r}, {L} tokens, log p = {scored['logprob']:.4f}")
rnnlab(f"generate {RUN} --strategy most_likely --max-new-tokens {L}")

# %% [markdown]
# The same comparison after a few prompts: the continuation greedy decoding produces
# (until its `<eos>`), and the most likely continuation of exactly as many tokens, each with
# its log-probability given the prompt. The search ranks every sequence of that length,
# whether or not it ends the name: a result without `<eos>` is the most likely start of a
# longer name.

# %%
print(f"{'prompt':<8}{'greedy':<16}{'log p':>9}   {'most likely (Viterbi)':<24}{'log p':>9}")
for prompt in ["", "em", "jo", "x", "ka"]:
    g = lm.generate_texts(run, {"strategy": "greedy", "prompt": prompt})["texts"][0]
    steps = lm.score(run, [g])[0]["token_logprobs"][len(prompt):]  # after the prompt
    v = lm.most_likely(run, prompt, len(steps))
    print(f"{prompt or '(none)':<8}{g:<16}{sum(lp for _, lp in steps):>9.3f}   "
          f"{v['text']:<24}{v['logprob']:>9.3f}")

# %% [markdown]
# ## What to look at
#
# - The Viterbi continuation's log-probability is never below greedy's: greedy's output is
#   one of the sequences Viterbi searches over. Where the two differ, greedy was led astray
#   by a locally likely character.
# - The most likely sequences are common, plain names. The single most probable string is
#   not a typical sample: most of the probability lies in the long tail of less likely
#   names, which is why generation usually samples (chapter 7).
# - The search is exact, not a heuristic: the tests compare it with enumerating every
#   sequence on small models.
#
# ## Try
#
# - `--smoothing kn` (one discount per order) or `--smoothing add-k --k 0.01` in the
#   training command, and see which orders they prefer.
# - `--smoothing mle`: no smoothing at all; the test NLL is infinite from order 2 on.
# - `--data timemachine --format text` for a character model of a novel, where contexts
#   cross word boundaries and higher orders pay for longer.
# - `rnnlab export RUN --format arpa --out names.arpa` writes the model as an ARPA file that
#   KenLM or SRILM can read.
