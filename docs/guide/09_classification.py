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
# # Fixed target: classification
#
# The lecture notes sort sequence tasks by the shape of what goes in and what comes out.
# Chapters 9 to 12 take one shape each:
#
# | shape | input | output | example task | `--task` |
# |---|---|---|---|---|
# | fixed target, many to one | $x_1 \ldots x_T$ | a label $y$ | surname → language | `classify` |
# | fixed input, one to many | a label $c$ | $y_1 \ldots y_T$ | language → surname | `conditional` |
# | aligned, many to many | $x_1 \ldots x_T$ | $y_1 \ldots y_T$ | a tag for each word | `tag` |
# | unaligned, many to many | $x_1 \ldots x_S$ | $y_1 \ldots y_U$ | English → French | `translate` |
#
# (`--task` is the flag of `rnnlab train`.) This chapter is the first row: read a whole
# sequence, say one thing about it, as sentiment analysis says whether a review is
# positive. The second row is
# [the conditional generation chapter](10_conditional_generation.ipynb), the aligned case
# [the tagging chapter](11_tagging_hmm.ipynb), where every input step gets its own output,
# and the unaligned case [the translation chapter](12_translation.ipynb), where input and
# output lengths are free.

# %% [markdown]
# ## Many to one
#
# A recurrent network reads the tokens $x_1, \ldots, x_n$ of one example (here the
# characters of a surname) and keeps a state after every step,
#
# $$e_t = E[x_t], \qquad h_t = f(e_t, h_{t-1}), \qquad h_0 = 0,$$
#
# with $f$ an Elman, GRU or LSTM cell (chapters 4 and 6). Only one output is wanted, so the
# $n$ states are first summarised by a **pooling** step into one vector $z$, and a linear
# layer with a softmax gives a distribution over the $K$ classes:
#
# $$z = \operatorname{pool}(h_1, \ldots, h_n), \qquad
#   p(y \mid x_1, \ldots, x_n) = \operatorname{softmax}(V z + c), \qquad
#   \mathcal{L} = -\log p(y^\star \mid x_1, \ldots, x_n).$$
#
# The loss is taken once per sequence, and backpropagation through time carries its
# gradient back through every step that fed $z$. The choices of `--pool`:
#
# | `--pool` | $z$ | what it means |
# |---|---|---|
# | `last` | $h_n$ | the final state must hold everything (the notes' loss at $o_\tau$ only) |
# | `mean` | $\frac{1}{n}\sum_{t=1}^{n} h_t$ | every step counts equally |
# | `max` | $z_j = \max_t h_{t,j}$ | each unit reports the step where it fired most |
# | `attention` | $\sum_t a_t h_t$ | the network learns which steps to read (below) |
#
# Attention pooling (additive, Bahdanau et al., 2015) scores every step and mixes the
# states with the softmax of the scores:
#
# $$s_t = v^\top \tanh(W h_t + b), \qquad
#   a_t = \frac{\exp s_t}{\sum_{u \le n} \exp s_u}, \qquad z = \sum_{t=1}^{n} a_t h_t.$$
#
# With `--bidirectional` a second network reads the name from right to left, and
# $h_t = [\overrightarrow{h}_t; \overleftarrow{h}_t]$ sees the whole name at every step.
# Names in a batch have different lengths, so the batch is padded; every pooling above runs
# over the real steps $t \le n$ only, or a name's prediction would depend on the names it
# was batched with.
#
# The model is [`SequenceClassifier`](../../rnnlab/models/classifier.py) (the `_pool` method
# holds the four poolings); the task around it, with the split and the baselines, is
# [`rnnlab.tasks.classify`](../../rnnlab/tasks/classify/__init__.py).

# %%
import contextlib
import io
import json

import matplotlib.pyplot as plt
from guidekit import SMOKE, budget, fresh, rnnlab
from IPython.display import Image

# %% [markdown]
# ## Train: surname to language
#
# `names_by_language` holds surnames in 18 languages, one file per language. rnnlab drops
# exact duplicates, then splits each class 80/10/10 with a fixed seed (a stratified split:
# every language keeps its share in train, validation and test). The classes are very
# unequal in size, which the first lines of the output show.
#
# We train a bidirectional GRU over characters with attention pooling, on a CPU-time budget.
# The same run fits two baselines on the same split: always answering the largest class,
# and naive Bayes over character 1- to 4-grams (with scikit-learn installed, also NBSVM,
# a logistic regression on naive-Bayes-weighted n-grams).

# %%
RUN = "runs/names_classify"
# (the tests' smoke run adds --baselines counting: NBSVM takes tens of seconds on 18 classes)
rnnlab(f"train --task classify --data names_by_language --bidirectional --pool attention "
       f"--max-time {budget(90)} --clock cpu --no-progress --out {fresh(RUN)}"
       + (" --baselines counting" if SMOKE else ""))

# %% [markdown]
# The last lines compare the network with the baselines on the same test names. Two figures
# are printed for each: **accuracy**, the share of names labelled right, and **macro-F1**,
# the mean over languages of each language's F1 (the harmonic mean of its precision and
# recall), where a language with 10 test names counts as much as one with 900. A model can
# score high accuracy by being good at the large classes only; macro-F1 exposes that.

# %% [markdown]
# ## Evaluate: the figures per language
#
# `rnnlab evaluate RUN --json` scores the best checkpoint on the test part and prints
# accuracy, macro-F1, the mean negative log-likelihood and, per class, precision, recall,
# F1 and support (the number of test names). We keep its output to plot it.

# %%
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    rnnlab(f"evaluate {RUN} --json")
command, output = buf.getvalue().split("\n", 1)
report = json.loads(output)
print(command)
print({k: round(report[k], 4) if isinstance(report[k], float) else report[k]
       for k in ("accuracy", "macro_f1", "nll", "examples")})

per_class = sorted(report["per_class"].items(), key=lambda kv: -kv[1]["support"])
print(f"\n{'language':<12}{'support':>8}{'precision':>11}{'recall':>8}{'F1':>7}")
for name, m in per_class:
    print(f"{name:<12}{m['support']:>8}{m['precision']:>11.3f}{m['recall']:>8.3f}"
          f"{m['f1']:>7.3f}")

# %%
names = [n for n, _ in per_class]
fig, ax = plt.subplots(figsize=(7, 4.5))
ax.barh(names, [m["f1"] for _, m in per_class], color="C0")
for i, (_, m) in enumerate(per_class):
    ax.text(m["f1"] + 0.01, i, f"n={m['support']}", va="center", fontsize=8)
ax.invert_yaxis()
ax.set(xlim=(0, 1.15), xlabel="test F1",
       title="F1 per language, largest test class at the top")
plt.show()

# %% [markdown]
# ## The confusion matrix
#
# Training also wrote `confusion.png` into the run folder: row $i$ is the true language,
# column $j$ the predicted one, each cell the number of test names (the colour is the share
# of the row, so each row's colours sum to one). A perfect classifier is a dark diagonal.

# %%
Image(f"{RUN}/confusion.png")

# %% [markdown]
# ## What to look at
#
# * **The diagonal and the two big columns.** Large classes (compare the supports in the
#   table above) sit dark on the diagonal. The errors of the small classes are not spread
#   evenly over the other columns: they pile up in the columns of the largest classes.
#   Cross-entropy on an unbalanced set rewards guessing a big class when in doubt, which is
#   why accuracy stays high while macro-F1 is low.
# * **Related languages.** Off-diagonal cells away from the big columns tend to join
#   languages that share spelling habits (say, Spanish, Portuguese and Italian, or Chinese,
#   Korean and Vietnamese). Those errors are about the data: some surnames are genuinely
#   spelled the same in two languages, and the deduplication step counted such
#   conflicting texts in the first line of the training output.
# * **The baselines.** Character n-gram counts already carry most of the signal for this
#   task; compare the network's test figures with naive Bayes (and NBSVM) in the training
#   output before concluding that the recurrence is what helps.

# %% [markdown]
# ## Predict, and what the attention reads
#
# `rnnlab predict RUN TEXT...` gives the `--top-k` most probable classes of each text. With
# a model trained with `--pool attention`, `--attention-png` also draws each character's
# weight $a_t$: which steps the pooled vector $z$ was made of.

# %%
rnnlab(f"predict {RUN} Nguyen Schmidt \"O'Sullivan\" Rossi Tanaka Kowalski --top-k 3 "
       f"--attention-png {RUN}/attention.png")

# %%
Image(f"{RUN}/attention.png")

# %% [markdown]
# Each strip is one name, titled with the predicted class and its probability, with the
# weight $a_t$ written in each character's cell. Look at where the weight goes: not spread
# over telling letter groups, but piled on one step near the end of the name. In a
# bidirectional network the forward half of $h_t$ near the end has already read the whole
# name (and the backward half the last few letters), so a single late state is a good
# summary, and attention learns to pick it: here it behaves much like `--pool last`. The
# weights say which *states* were mixed into $z$, not which *letters* mattered; a state
# $h_t$ carries its whole context, so attention weights are not an explanation of the
# decision.

# %% [markdown]
# ## Try
#
# * `--pool last`, `--pool mean`, `--pool max` with the same budget, and compare macro-F1:
#   the pooling is a one-flag change.
# * `--no-bidirectional --pool last`: the textbook many-to-one network, whose last state must
#   remember the start of the name.
# * `--class-weights balanced` weights each class's loss by the inverse of its size: watch
#   accuracy and macro-F1 move in opposite directions.
# * Words instead of characters: `--data sentiment_mr` (sentence polarity) picks a word-level
#   recipe by itself; `--cv 10` runs ten folds and reports the mean and standard deviation.
