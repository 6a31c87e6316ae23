"""The DBN view of one sentence: an HMM tagger's posteriors p(y_t | x_1..T), hidden path
summed out, beside its Viterbi path and the gold tags.

Trains HMMTagger (order 2, UPOS) on EWT train, picks one EWT test sentence of 8-14 tokens
with a word tagged both NOUN and VERB in training (at least 10 times each), the one where
that word's posterior is most uncertain (highest entropy), and writes
docs/hmm_posteriors.png (heatmap tokens x tags) and docs/hmm_posteriors.md (table and the
forward-backward equations of the second-order chain).

    PYTHONPATH=$PWD python benchmarks/hmm_posteriors.py            # writes both files
    PYTHONPATH=$PWD python benchmarks/hmm_posteriors.py --sent-id weblog-...  # another one
"""

from __future__ import annotations

import argparse
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import torch

from rnnlab.models.hmm import HMMTagger

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "ud_english_ewt"
if not DATA.is_dir():
    DATA = Path("/work/shared/data/ud_english_ewt")

EQUATIONS = r"""
## Marginalizing the hidden tags

The HMM is the classic dynamic Bayesian network: a hidden tag y_t per token, emitting the
word x_t, with the tags a Markov chain. For a first-order chain with forward and backward
messages

    alpha_t(k) = p(x_1..x_t, y_t = k) = sum_j alpha_{t-1}(j) p(k | j) p(x_t | k)
    beta_t(k)  = p(x_{t+1}..x_T | y_t = k) = sum_j p(j | k) p(x_{t+1} | j) beta_{t+1}(j)

the posterior of one tag sums every other tag of the path out:

    p(y_t = k | x_1..T) = alpha_t(k) beta_t(k) / sum_j alpha_T(j) beta_T(j)

(sum_j alpha_T(j) when beta_T = 1, i.e. without a closing transition). The tagger here is
second order (TnT, Brants 2000), so the chain runs over tag pairs (i, j) = (y_{t-1}, y_t),
with the boundary tag S before the sentence (y_{-1} = y_0 = S) and after it (y_{T+1} = S):

    alpha_0(S, S) = 1
    alpha_t(i, j) = sum_h alpha_{t-1}(h, i) p(j | h, i) p(x_t | j)
    beta_T(i, j)  = p(S | i, j)
    beta_t(i, j)  = sum_k p(k | i, j) p(x_{t+1} | k) beta_{t+1}(j, k)
    p(x_1..T)     = sum_{i,j} alpha_T(i, j) beta_T(i, j)
    p(y_t = k | x_1..T) = sum_i alpha_t(i, k) beta_t(i, k) / p(x_1..T)

Each step is one sum over (K+1)^3 transitions; alphas and betas are rescaled per step so
200-token sentences do not underflow (`HMMTagger.posteriors`). Viterbi replaces the sums by
maxima and gives the single best path, which need not pass through every token's most
probable tag.
"""


def read(path: Path) -> list[tuple[str, list[str], list[str]]]:
    import conllu

    out = []
    with open(path, encoding="utf-8") as f:
        for sent in conllu.parse_incr(f):
            toks = [t for t in sent if isinstance(t["id"], int)]  # no 1-2 ranges, no 8.1
            out.append((sent.metadata.get("sent_id", ""), [t["form"] for t in toks],
                        [t["upos"] for t in toks]))
    return out


def entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def pick(model: HMMTagger, test, tags: list[str], ambiguous: set[str], sent_id: str | None):
    if sent_id is not None:
        return next(s for s in test if s[0] == sent_id)
    best, best_h = None, -1.0
    for sent in test:
        sid, words, gold = sent
        if not 8 <= len(words) <= 14 or not ambiguous & set(words):
            continue
        post = model.posteriors(words)
        h = max(entropy(post[i]) for i, w in enumerate(words) if w in ambiguous)
        if h > best_h:
            best, best_h = sent, h
    return best


def plot(words, tags, post, viterbi, gold, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 0.42 * len(words) + 1.6), dpi=110)
    im = ax.imshow(post, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    rows = np.arange(len(words))
    ax.scatter(viterbi, rows, marker="o", s=90, facecolors="none", edgecolors="C3", lw=1.8,
               label="Viterbi path")
    ax.plot(viterbi, rows, color="C3", lw=0.8, alpha=0.6)
    ax.scatter([tags.index(g) for g in gold], rows, marker="x", s=30, color="C1", label="gold")
    ax.set_xticks(range(len(tags)), tags, rotation=60, fontsize=8)
    ax.set_yticks(rows, words, fontsize=9)
    ax.set_xlabel("tag k")
    ax.set_title("p(y_t = k | x_1..T): HMM (order 2) posteriors, hidden path summed out",
                 fontsize=9)
    ax.legend(loc="lower right", fontsize=7, framealpha=0.9)
    fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--order", type=int, default=2, choices=(1, 2))
    ap.add_argument("--sent-id", default=None, help="an EWT test sent_id instead of the rule")
    ap.add_argument("--out-dir", type=Path, default=ROOT / "docs")
    args = ap.parse_args()
    torch.set_num_threads(1)

    train = read(DATA / "en_ewt-ud-train.conllu")
    test = read(DATA / "en_ewt-ud-test.conllu")
    tags = sorted({t for _, _, ts in train for t in ts})
    index = {t: i for i, t in enumerate(tags)}
    model = HMMTagger(len(tags), order=args.order)
    t0 = time.process_time()
    model.fit_counts([(w, [index[t] for t in ts]) for _, w, ts in train])
    fit_s = time.process_time() - t0
    by_word: dict[str, Counter] = defaultdict(Counter)
    for _, words, ts in train:
        for w, t in zip(words, ts, strict=True):
            by_word[w][t] += 1
    ambiguous = {w for w, c in by_word.items() if c["NOUN"] >= 10 and c["VERB"] >= 10}

    sid, words, gold = pick(model, test, tags, ambiguous, args.sent_id)
    post = model.posteriors(words)
    viterbi = model.tag([words])[0]
    args.out_dir.mkdir(parents=True, exist_ok=True)
    png = args.out_dir / "hmm_posteriors.png"
    plot(words, tags, post, viterbi, gold, png)

    lines = [
        "# An HMM tagger's posteriors on one sentence (the DBN view)",
        "",
        f"EWT test sentence `{sid}` (UD 2.16), HMMTagger order {args.order} trained on EWT "
        f"train UPOS ({fit_s:.1f} CPU s). Chosen by rule: 8-14 tokens, holding a word tagged "
        "NOUN and VERB at least 10 times each in training, the most uncertain such word. "
        f"log p(x_1..T) = {model.log_likelihood(words):.2f} nats.",
        "",
        f"![posteriors]({png.name})",
        "",
        "| t | token | known | Viterbi | top posteriors p(y_t = k &#124; x) | gold |",
        "|---:|---|---|---|---|---|",
    ]
    for i, w in enumerate(words):
        top = np.argsort(-post[i])[:3]
        cells = ", ".join(f"{tags[k]} {post[i, k]:.3f}" for k in top if post[i, k] >= 0.001)
        mark = "" if tags[viterbi[i]] == gold[i] else " ✗"
        amb = " (N/V)" if w in ambiguous else ""
        lines.append(f"| {i + 1} | `{w}`{amb} | {'yes' if model.is_known(w) else 'no'} | "
                     f"{tags[viterbi[i]]}{mark} | {cells} | {gold[i]} |")
    lines += ["", "(N/V): tagged both NOUN and VERB >= 10 times in training; ✗: Viterbi != gold.",
              EQUATIONS.rstrip(), "",
              "Made by `PYTHONPATH=$PWD python benchmarks/hmm_posteriors.py`"
              + (f" --order {args.order}" if args.order != 2 else "")
              + (f" --sent-id {args.sent_id}" if args.sent_id else "") + ".", ""]
    (args.out_dir / "hmm_posteriors.md").write_text("\n".join(lines), encoding="utf-8")
    print(f"{sid}: {' '.join(words)}")
    print(f"wrote {png} and {args.out_dir / 'hmm_posteriors.md'}")


if __name__ == "__main__":
    main()
