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
# # Unaligned: translation with attention and beam search
#
# In tagging every input token gets exactly one output, so input and output can be read
# side by side. Translation has no such alignment: "I am cold." becomes "J'ai froid."
# (word for word, "I have cold"), one English word may need two French ones ("don't" is
# "ne ... pas", around the verb), and the order of words may change ("a red car" is "une
# voiture rouge"). The model reads a whole source sentence $x_1, \ldots, x_S$ and then writes a
# target sentence $y_1, \ldots, y_T$ of its own length, one token at a time:
#
# $$p(y_1, \ldots, y_T \mid x) = \prod_{t=1}^{T} p(y_t \mid y_1, \ldots, y_{t-1}, x),$$
#
# where $y_T$ is an end-of-sentence token, so the model decides when to stop.
#
# ## Encoder and decoder
#
# An **encoder** RNN reads the source and leaves one vector per source position, $h_s$ for
# $s = 1, \ldots, S$ (in rnnlab a bidirectional GRU, so $h_s$ has read the whole sentence,
# left and right of $x_s$). A **decoder** RNN is a language model over the target whose
# state $s_t$ is updated by the token it just wrote, $s_t = f(s_{t-1}, y_{t-1})$, and whose
# softmax gives $p(y_t \mid y_{<t}, x)$. (So $s_t$ with a time index is the decoder's
# state, and $s$ alone numbers the source positions.)
#
# The simplest link between the two starts the decoder from the encoder's last state and
# gives it nothing else. Then the whole source, however long, must pass through one vector
# of fixed size: the *context bottleneck*. Short sentences fit; long ones lose words.
#
# ## Attention
#
# Attention removes the bottleneck by letting the decoder look back at every $h_s$ at every
# step. A score says how well the decoder's state matches each source position; a softmax
# over the source positions turns the scores into weights, and the weights average the
# encoder's vectors into a context vector:
#
# $$\alpha_{t,s} = \operatorname{softmax}_s\big(\operatorname{score}(s_{t-1}, h_s)\big)
# = \frac{\exp \operatorname{score}(s_{t-1}, h_s)}{\sum_{s'=1}^{S} \exp
# \operatorname{score}(s_{t-1}, h_{s'})}, \qquad
# c_t = \sum_{s=1}^{S} \alpha_{t,s}\, h_s .$$
#
# The additive score (Bahdanau et al., 2015) is a one-hidden-layer network,
# $\operatorname{score}(s, h) = v^\top \tanh(W_q s + W_k h)$; the multiplicative one
# (Luong et al., 2015) is $s^\top W h$. The weights $\alpha_{t,\cdot}$ are a probability
# distribution over the source for each target token: plotted as a matrix, they show
# which source words the model read while writing each target word, a soft alignment
# learned without ever being shown one.
#
# rnnlab's [`Seq2Seq`](../../rnnlab/models/seq2seq.py) follows Luong et al. in where the
# attention sits: the decoder first steps its recurrence, then attends with its new state
# $s_t$ in place of $s_{t-1}$, and predicts from $\tilde s_t = \tanh(W_c [c_t; s_t])$,
# $p(y_t \mid y_{<t}, x) = \operatorname{softmax}(W_o \tilde s_t + b_o)$. Its tokens are
# subword pieces (SentencePiece BPE, [`subword.py`](../../rnnlab/data/subword.py)), so a
# rare word is spelled with a few frequent pieces instead of being unknown. The task
# (data, split, BLEU) is [`rnnlab.tasks.translate`](../../rnnlab/tasks/translate/__init__.py).
#
# ## Greedy and beam search
#
# Training uses the reference prefix (teacher forcing). To translate, the model must
# choose its own tokens, and the best translation, $\arg\max_y p(y \mid x)$, is a search
# over all sentences. *Greedy* decoding takes the most likely token at each step and never
# looks back. *Beam search* keeps the $K$ most probable prefixes at every step, extends
# each by every token, and keeps the $K$ best of those; it ranks finished translations by
# $\log p(y \mid x) / \mathrm{lp}(y)$ with the length penalty
# $\mathrm{lp}(y) = ((5 + |y|)/6)^{\alpha}$ (Wu et al., 2016), because a plain product of
# probabilities prefers short outputs. $K = 1$ is greedy. Both are in
# [`decoding.py`](../../rnnlab/decoding.py).

# %% [markdown]
# ## Training on Tatoeba English-French
#
# `tatoeba_eng_fra` holds Tatoeba's English sentences with their French translations (the
# first line the command prints says how many pairs each part has). The split is by
# English sentence, so no test sentence was seen in training in any of its translations.
#
# Translation needs far more training than a chapter can afford. rnnlab's defaults for
# this task (8,000 subword pieces a side, 256 hidden units, dropout) are the recipe
# measured for runs of 20 to 60 CPU minutes; in a budget of a few minutes a smaller model
# takes more steps and learns more. So this run is deliberately small:
#
# - `--max-len 12`: only pairs of at most 12 words and punctuation marks a side, most of
#   Tatoeba; `--subword-vocab 1000` pieces a side;
# - `--hidden-size 128 --embedding-dim 128 --dropout 0`, batches of 128 pairs at a learning
#   rate of 0.003, and six validations over the budget (`--budget-evals 6`: each one costs
#   training time);
# - `--test-fraction 0.01`: a test part of 1% of the English sentences (the default is
#   5%), so that decoding it takes seconds; `--final-beams 0` scores it greedily at the
#   end of training, and the beam comes after.
#
# Expect translations of short, common sentences, with mistakes. Longer training keeps
# improving them: [BENCHMARKS.md](../../BENCHMARKS.md) has the BLEU of the default command
# after 20 CPU minutes and of several recipes after 60, on the full-length sentences.

# %%
import json

from guidekit import budget, fresh, rnnlab, size

RUN = "runs/eng_fra"
# the smoke run keeps only pairs of at most 4 tokens a side, so that it loads in seconds
rnnlab(f"train --task translate --data tatoeba_eng_fra --max-len {size(12, 4)} "
       f"--subword-vocab 1000 --hidden-size 128 --embedding-dim 128 --dropout 0 "
       f"--batch-size 128 --lr 0.003 --budget-evals 6 --test-fraction 0.01 --final-beams 0 "
       f"--max-time {budget(180, smoke=2)} --clock cpu --no-progress --out {fresh(RUN)}")

# %% [markdown]
# The training and validation NLL per target piece at each validation
# (`RUN/metrics.jsonl`). Where the curves are still falling when the budget runs out, more
# time would give a better model.

# %%
import matplotlib.pyplot as plt

rows = [json.loads(line) for line in open(f"{RUN}/metrics.jsonl")]
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.plot([r["step"] for r in rows], [r["train_loss"] for r in rows], "o-", ms=3,
        label="training")
ax.plot([r["step"] for r in rows], [r["val_nll"] for r in rows], "s-", ms=3,
        label="validation")
ax.set_xlabel("optimizer step (128 sentence pairs each)")
ax.set_ylabel("NLL (nats per target piece)")
ax.grid(alpha=0.3)
ax.legend()
plt.show()

# %% [markdown]
# ## Looking at the attention
#
# `rnnlab translate` translates any sentence with the trained run, and `--attention-png`
# draws its attention weights $\alpha_{t,s}$: one row per target piece, one column per
# source piece (plus the source's `<eos>`), darker for more weight; each row sums to one.
# `▁` marks a piece that starts a word. The sentence is negated: French wraps the verb in
# two words, *ne* (or *n'*) before it and *pas* after it, both for the English "n't", so
# the alignment cannot be a plain diagonal.

# %%
from IPython.display import Image

rnnlab(f'translate {RUN} "Tom doesn\'t like cats." --strategy beam_search '
       f"--attention-png {RUN}/attention.png")
Image(f"{RUN}/attention.png")

# %% [markdown]
# ## What to look at
#
# - Each row is where the decoder looked while writing that piece. Where French follows
#   the English order (the subject, the verb, the noun) the dark cells run down the
#   diagonal.
# - The negation: look at the rows of *n'* and *pas*. If the model has learned it, *pas*,
#   written after the verb, looks back to the "n't" pieces, to the left of the verb's
#   column: a step back against the diagonal, which no word-by-word reading would make.
# - Pieces of one word usually look at the same source word or its pieces, and the final
#   punctuation looks at the source's punctuation or `<eos>`. A row spread over many
#   columns is a piece the decoder wrote more from what it knows of French than from any
#   one English word.
# - The map is learned: nothing in training says which words correspond. A model trained
#   longer has sharper rows; [docs/results.md](../results.md) shows maps of a run of an
#   hour.

# %% [markdown]
# ## Greedy against beam search
#
# `rnnlab evaluate` decodes the run's test part again, this time with a beam of 5, and
# scores it with sacreBLEU (BLEU, and chrF on characters); the greedy scores come from the
# end of training (`RUN/final.json`).

# %%
import contextlib
import io

out = io.StringIO()
with contextlib.redirect_stdout(out):
    rnnlab(f"evaluate {RUN} --strategy beam_search --num-beams 5 --json")
print(out.getvalue())
beam = json.loads(out.getvalue()[out.getvalue().index("{"):])
greedy = json.load(open(f"{RUN}/final.json"))["test_greedy"]
print(f"{'decoding':<10}{'BLEU':>8}{'chrF':>8}{'CPU ms per sentence':>22}")
for name, m in [("greedy", greedy), ("beam 5", beam)]:
    print(f"{name:<10}{m['bleu']:>8.2f}{m['chrf']:>8.2f}"
          f"{1000 * m['cpu_seconds_per_sentence']:>22.1f}")

# %% [markdown]
# A beam is a better *search*, not a better *model*: it looks for translations that the
# same model finds more probable. The cell below makes that visible on the whole test part
# (its pairs are in `RUN/test_translations.tsv`). It calls rnnlab's
# [`beam_search`](../../rnnlab/decoding.py) directly with growing beams $K$ ($K = 1$ is
# greedy), once ranking finished translations by $\log p(y \mid x)$ alone ($\alpha = 0$)
# and once with rnnlab's default length penalty ($\alpha = 0.6$; with $K = 5$ this is what
# `rnnlab evaluate` ran above), and records the mean $\log p(y \mid x)$ of the translations
# it returns, their length and their BLEU.

# %%
import numpy as np
from sacrebleu.metrics import BLEU

from rnnlab.decoding import beam_search, prefill_sources
from rnnlab.run import load
from rnnlab.tasks.translate import default_cap, tokenizers_of
from rnnlab.tasks.translate.evaluation import encode_source

run = load(RUN)
src_tok, tgt_tok = tokenizers_of(run)
lines = open(f"{RUN}/test_translations.tsv").read().splitlines()[1:]
pairs = [line.split("\t")[:2] for line in lines]  # (source, reference)
distinct = list(dict.fromkeys(s for s, _ in pairs))  # a source may have several references
sources = [encode_source(src_tok, s) for s in distinct]

beams = [1, 2, 3, 5, 8]
sweep = {}
for alpha in [0.0, 0.6]:
    for K in beams:
        best = [h[0] for h in beam_search(run.model, prefill_sources(run.model, sources),
                                          num_beams=K, max_new_tokens=default_cap(run.cfg),
                                          length_penalty=alpha, num_return=1)]
        text = {s: tgt_tok.decode(h.tokens) for s, h in zip(distinct, best, strict=True)}
        bleu = BLEU().corpus_score([text[s] for s, _ in pairs], [[t for _, t in pairs]])
        sweep[alpha, K] = {"logp": np.mean([h.log_prob for h in best]), "bleu": bleu.score,
                           "length": np.mean([len(h.tokens) for h in best]), "text": text}
        print(f"alpha {alpha}  K {K}:  mean log p(y|x) {sweep[alpha, K]['logp']:7.3f}   "
              f"mean length {sweep[alpha, K]['length']:5.2f} pieces   "
              f"BLEU {sweep[alpha, K]['bleu']:5.2f}")

# %%
fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.5))
for alpha, style in [(0.0, "o-"), (0.6, "s--")]:
    a.plot(beams, [sweep[alpha, K]["logp"] for K in beams], style,
           label=f"length penalty alpha = {alpha}")
    b.plot(beams, [sweep[alpha, K]["bleu"] for K in beams], style,
           label=f"length penalty alpha = {alpha}")
a.set_ylabel("mean log p(y | x) of the output")
a.set_title("what the search optimizes")
b.set_ylabel(f"BLEU ({len(pairs)} test pairs)")
b.set_title("what we care about")
for ax in (a, b):
    ax.set_xlabel("beam width K (1 = greedy)")
    ax.set_xticks(beams)
    ax.grid(alpha=0.3)
    ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# A few test sentences where greedy decoding and a beam of 5 disagree:

# %%
differ = [s for s in distinct if sweep[0.6, 1]["text"][s] != sweep[0.6, 5]["text"][s]]
print(f"greedy and beam 5 differ on {len(differ)} of {len(distinct)} test sources; the first:\n")
reference = dict(pairs)  # one reference per source
for src in differ[:6]:
    print(f"source:    {src}\nreference: {reference[src]}\n"
          f"greedy:    {sweep[0.6, 1]['text'][src]}\nbeam 5:    {sweep[0.6, 5]['text'][src]}\n")

# %% [markdown]
# ## What to look at
#
# - The table after `rnnlab evaluate`: the beam's BLEU and chrF beside greedy's on the
#   same test part, and the CPU time each needs per sentence. A beam of $K$ runs the
#   decoder on $K$ rows at once, so it costs several times greedy's time.
# - Left plot: the mean $\log p(y \mid x)$ of the returned translations rises as the beam
#   widens. Greedy's choices are the least probable: taking the best next piece at each
#   step often leads to a sentence that is less probable as a whole than one that started
#   with a second-best piece. (Beam search is still a heuristic: nothing guarantees that a
#   wider beam finds a more probable sentence, only that it looks at more of them.)
# - The printed mean lengths: wider beams tend to return shorter translations, because
#   every extra piece multiplies in one more probability below one. The length penalty
#   ($\alpha = 0.6$) divides that away in part, trading a little $\log p$ for length.
# - Right plot: BLEU is what we want, and it need not follow $\log p$. Most of the gain, if
#   there is one, comes from the first few beams; the model is not perfect, so its most
#   probable translation is not always the best one.
#
# ## Try
#
# - `--attention none`: the encoder-decoder with the bottleneck. The end of training
#   prints BLEU by source length; compare how fast it falls with length against this run
#   (BENCHMARKS.md "Translation" has the same comparison at 60 CPU minutes).
# - `--attention multiplicative`, or `--model lstm`.
# - `--swap-columns` translates French into English.
# - `rnnlab translate RUN "..." --strategy sample --temperature 0.7 --seed 1`: a sampled
#   translation instead of the most probable one.
