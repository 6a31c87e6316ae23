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
# # Aligned: tagging, and the HMM as a dynamic Bayesian network
#
# The third shape of [the classification chapter](09_classification.ipynb)'s table: a
# sequence in, a sequence of the *same length* out, one output per input step. The
# textbook case is part-of-speech tagging: each word $x_t$ of a sentence gets a tag $y_t$
# (noun, verb, determiner, ...). Here the tags are the 17 universal part-of-speech tags
# (UPOS) of the English Web Treebank, `ud_english_ewt`: sentences from blogs, reviews,
# e-mails and question-answer sites, with the treebank's own train, dev and test files.
#
# Two models, one trained, one counted, take the two views of the notes.

# %% [markdown]
# ## A recurrent tagger: one softmax per word
#
# A bidirectional network reads the sentence both ways, so the state at word $t$ has seen
# the whole sentence, and a softmax turns it into a tag distribution:
#
# $$h_t = [\overrightarrow{h}_t; \overleftarrow{h}_t], \qquad
#   p(y_t \mid x_1, \ldots, x_T) = \operatorname{softmax}(V h_t + c), \qquad
#   \mathcal{L} = -\sum_{t=1}^{T} \log p(y_t^\star \mid x_1, \ldots, x_T).$$
#
# The input at word $t$ is the word's embedding next to a vector computed from its
# characters (a small BiLSTM over the spelling), so a word never seen in training still
# gets a representation from its suffix and capitals. As a graphical model this is the
# notes' RNN without edges between outputs: given the sentence, the tags are independent,
# $y_t \perp y_s \mid x_1, \ldots, x_T$; each is chosen by its own softmax. The model is
# [`SequenceTagger`](../../rnnlab/models/tagger.py) (`--crf` adds a transition score
# between neighbouring tags).

# %% [markdown]
# ## The HMM: hidden tags that emit words
#
# The hidden Markov model is the classic dynamic Bayesian network: the tags form a Markov
# chain of hidden states, and each tag emits its word,
#
# $$p(x_1, \ldots, x_T, y_1, \ldots, y_T) = \prod_{t=1}^{T}
#   \underbrace{p(y_t \mid y_{t-1})}_{\text{transition}}\;
#   \underbrace{p(x_t \mid y_t)}_{\text{emission}}.$$
#
# Both tables are **counted** from the training sentences (with smoothing, and a model of
# word endings for unknown words); no gradient is involved. rnnlab's
# [`HMMTagger`](../../rnnlab/models/hmm.py) conditions each tag on the *two* previous
# tags (a second-order chain, TnT; Brants, 2000); the equations below are written for the
# first-order chain, and the second-order one runs the same recursions over pairs of tags.
#
# Tagging a sentence means reasoning backwards from the observed words to the hidden tags.
# Two questions, two dynamic programmes (each $O(T K^2)$ for $K$ tags, instead of the
# $K^T$ tag sequences):
#
# * **Viterbi**, the single most probable tag sequence
#   $\hat y = \arg\max_{y} p(y \mid x)$: keep the best score of a path ending in each tag,
#
#   $$\delta_t(k) = \max_j \delta_{t-1}(j)\, p(k \mid j)\, p(x_t \mid k),$$
#
#   remember which $j$ won, and trace back from the best final tag.
# * **Forward-backward**, the probability of every tag at every word with all the other
#   tags summed out:
#
#   $$\alpha_t(k) = p(x_1, \ldots, x_t, y_t = k) = \sum_j \alpha_{t-1}(j)\, p(k \mid j)\,
#     p(x_t \mid k),$$
#   $$\beta_t(k) = p(x_{t+1}, \ldots, x_T \mid y_t = k) = \sum_j p(j \mid k)\,
#     p(x_{t+1} \mid j)\, \beta_{t+1}(j),$$
#   $$p(y_t = k \mid x_1, \ldots, x_T) = \frac{\alpha_t(k)\, \beta_t(k)}
#     {\sum_j \alpha_T(j)}.$$
#
# Viterbi replaces the forward sum by a max. The two need not agree: the best *sequence*
# may pass through a tag that is not the most probable tag of its word. The code is
# `HMMTagger._viterbi` and `HMMTagger._forward_backward`;
# [docs/hmm_posteriors.md](../hmm_posteriors.md) writes out the second-order recursions.
# The task that reads the CoNLL-U files and scores both models is
# [`rnnlab.tasks.tag`](../../rnnlab/tasks/tag/__init__.py).

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from guidekit import SMOKE, budget, fresh, rnnlab, size

import rnnlab as lab
from rnnlab.data.fetch import ensure, get_dataset

# The quick test run (SMOKE) trains on EWT's small dev file instead of the training file,
# which takes seconds to read; the figures on this page come from the full data.
EWT = ("ud_english_ewt/en_ewt-ud-dev.conllu --test-data ud_english_ewt/en_ewt-ud-test.conllu"
       if SMOKE else "ud_english_ewt")

# %% [markdown]
# ## Count the HMM, train the recurrent tagger
#
# `--data ud_english_ewt` brings the treebank's own train, dev and test files. The HMM is
# counted in one pass; every tag run also scores the simplest baseline, the most frequent
# tag of each word (the most frequent tag overall for unknown words).

# %%
HMM, NEURAL = "runs/ewt_hmm", "runs/ewt_bilstm"
rnnlab(f"train --task tag --data {EWT} --model hmm --out {fresh(HMM)}")

# %% [markdown]
# The recurrent tagger (the defaults: a two-layer bidirectional LSTM over word embeddings
# and a character BiLSTM) gets a budget of CPU seconds; the tagging task evaluates it on
# the dev file now and then during the budget (the points of the curve below) and keeps
# the best weights.

# %%
rnnlab(f"train --task tag --data {EWT} --max-time {budget(120)} --clock cpu --no-progress "
       f"--out {fresh(NEURAL)}")

# %% [markdown]
# Test accuracy of the three, over all words and split by whether the word occurs in the
# training file (*known*) or not (*unknown*), read from each run's `final.json`:

# %%
final = {run: json.loads(Path(run, "final.json").read_text()) for run in (HMM, NEURAL)}
table = [("most frequent tag", final[HMM]["baselines"]["most_frequent_test"]),
         ("HMM, counted", final[HMM]["test"]),
         ("bi-LSTM, trained", final[NEURAL]["test"])]
print(f"{'tagger':<20}{'all':>8}{'known':>8}{'unknown':>9}")
for name, m in table:
    print(f"{name:<20}{m['accuracy']:>8.2%}{m['known_accuracy']:>8.2%}"
          f"{m['unknown_accuracy']:>9.2%}")

# %%
history = [json.loads(line) for line in Path(NEURAL, "metrics.jsonl").read_text().splitlines()]
evals = [r for r in history if "val_accuracy" in r]
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot([r["time"] for r in evals], [r["val_accuracy"] for r in evals], "o-",
        label="bi-LSTM while training")
ax.axhline(final[HMM]["val"]["accuracy"], color="C3", ls="--", label="HMM (counted)")
ax.axhline(final[HMM]["baselines"]["most_frequent_val"]["accuracy"], color="gray", ls=":",
           label="most frequent tag")
ax.set(xlabel="training time (CPU seconds)", ylabel="dev accuracy",
       title="UPOS tagging, EWT dev")
ax.legend(loc="lower right")
plt.show()

# %% [markdown]
# The counted model is ready after one pass over the data; the network starts far below it
# and climbs with every CPU second. Whether it passes the HMM depends on the budget: at the
# budget above, read the table; given tens of CPU-minutes the recurrent tagger ends ahead
# of the HMM on known and unknown words alike (the full-size comparison is in
# [docs/results.md](../results.md)).

# %% [markdown]
# ## The HMM's posteriors over one sentence
#
# Now the dynamic Bayesian network view on one test sentence. We pick it by a rule: among
# test sentences of 8 to 14 words, one where Viterbi's best sequence and the word-by-word
# most probable tags disagree somewhere (and, among those, the one whose disputed word is
# most uncertain). `rnnlab predict RUN SENTENCE --posteriors` prints each word's three most
# probable tags by forward-backward.

# %%
test_file = ensure(get_dataset("ud_english_ewt")) / "en_ewt-ud-test.conllu"
test = lab.read_conllu(test_file, "upos")
test = test[: size(len(test), 300)]  # the quick test run scores a slice
run = lab.load(HMM)
hmm, tags = run.model, run.payload["tagging"]["tags"]


def entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


viterbi_right = marginal_right = words = 0
best, best_key = None, (False, -1.0)
for sentence, gold in test:
    path = hmm.tag([sentence])[0]  # Viterbi: tag ids of the best sequence
    post = hmm.posteriors(sentence)  # forward-backward: (T, K), each row sums to 1
    marginal = post.argmax(1)  # the most probable tag of each word on its own
    viterbi_right += sum(tags[k] == g for k, g in zip(path, gold, strict=True))
    marginal_right += sum(tags[k] == g for k, g in zip(marginal, gold, strict=True))
    words += len(sentence)
    differ = [t for t in range(len(sentence)) if path[t] != marginal[t]]
    # candidates: 8 to 14 words (no double quote, to pass the sentence on the command line);
    # a disagreement ranks first, then the entropy of the most uncertain disputed word
    if 8 <= len(sentence) <= 14 and '"' not in "".join(sentence):
        key = (bool(differ), max(entropy(post[t]) for t in differ or range(len(sentence))))
        if key > best_key:
            best, best_key = (sentence, gold, path, post, differ), key

print(f"test words: {words}; accuracy of the Viterbi path {viterbi_right / words:.4f}, "
      f"of the per-word most probable tags {marginal_right / words:.4f}")
sentence, gold, path, post, differ = best
print("sentence:", " ".join(sentence))
for t in differ:
    print(f"  word {t + 1} {sentence[t]!r}: Viterbi {tags[path[t]]}, most probable "
          f"{tags[post[t].argmax()]} ({post[t].max():.3f}), gold {gold[t]}")

# %%
rnnlab(f"predict {HMM} \"{' '.join(sentence)}\" --posteriors")

# %%
rows = np.arange(len(sentence))
fig, ax = plt.subplots(figsize=(8, 0.4 * len(sentence) + 1.8))
im = ax.imshow(post, cmap="Blues", vmin=0, vmax=1, aspect="auto")
ax.plot(path, rows, color="C3", lw=1, alpha=0.7)
ax.scatter(path, rows, s=110, facecolors="none", edgecolors="C3", lw=2,
           label="Viterbi path", zorder=3)
gold_ids = [tags.index(g) if g in tags else np.nan for g in gold]
ax.scatter(gold_ids, rows, marker="x", s=35, color="C1", label="gold tag", zorder=4)
ax.set_xticks(range(len(tags)), tags, rotation=60, fontsize=8)
ax.set_yticks(rows, sentence)
ax.set(xlabel="tag $k$", title=r"HMM posteriors $p(y_t = k \mid x_1, \ldots, x_T)$")
ax.legend(loc="lower right", fontsize=8, framealpha=0.9)
fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## What to look at
#
# * **One dark cell per row** is a word the model is sure about: punctuation, determiners,
#   most function words. Rows where the blue is split between two or three tags are the
#   ambiguous words, typically a form that is a noun in one sentence and a verb in another;
#   the posterior says how ambiguous the HMM thinks it is *in this sentence*, after the
#   neighbouring words have been taken into account by $\alpha$ and $\beta$.
# * **The red circles** mark the Viterbi path. Almost everywhere they sit on the darkest
#   cell of the row, but not on the word(s) printed above the command: the best sequence
#   as a whole goes through a tag that is not that word's most probable one. The two
#   accuracies printed before the figure show how rarely this happens over the whole test
#   file, and that neither decoding is clearly better: they answer different questions
#   (the best sequence against the best tag per word).
# * **The orange crosses** are the treebank's tags. Where a cross sits off the circle, the
#   HMM is wrong; look at how much posterior mass the right tag had.

# %% [markdown]
# ## Try
#
# * `rnnlab predict runs/ewt_hmm "I saw her duck ." --posteriors` on sentences of your own.
# * `--order 1` (a first-order chain, as in the equations above) and compare the accuracy.
# * The neural tagger with `--crf`, which adds tag-to-tag transition scores and decodes
#   with Viterbi like the HMM; or `--char-encoder none`, and watch the unknown-word column.
# * `--tag-column xpos` for the treebank's finer, language-specific tags.
