"""Tagging (the notes' aligned many-to-many case, "without delay"): one tag per word, e.g.
part-of-speech tags of Universal Dependencies.

Data flow: `datasets.read_conllu` ((words, tags) per sentence, syntactic words only: `1-2`
multiword tokens and `8.1` empty nodes are skipped) -> word, character and tag vocabularies
of the training file -> `batching.TagBatches` (bucketed by length) ->
`models.tagger.SequenceTagger` (word + character embeddings -> bidirectional Recurrent ->
per-word scores, optionally a linear-chain CRF) or `models.hmm.HMMTagger` (counted; Viterbi).
The final figures sit beside the most-frequent-tag baseline on the same split. Known and
unknown words are relative to the training file's words, for every model alike.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from rnnlab.errors import RnnlabError
from rnnlab.options import (
    DATA,
    JSON,
    OUT,
    SPLIT,
    TAGGED_FORMAT,
    TEXTS,
    Command,
    Option,
    Options,
    Shown,
    commands,
    json_lines,
    show_evaluation,
)
from rnnlab.tasks.base import Loaded, Prepared
from rnnlab.tasks.single_run import cv_runs as cv_runs
from rnnlab.tasks.single_run import cv_summary as cv_summary
from rnnlab.tasks.single_run import describe_cv as describe_cv
from rnnlab.tasks.single_run import samples_after_training as samples_after_training
from rnnlab.tasks.tag.config import EXAMPLES as EXAMPLES
from rnnlab.tasks.tag.config import MODEL_ONLY as MODEL_ONLY
from rnnlab.tasks.tag.config import NEURAL, TRAIN_DEFAULTS
from rnnlab.tasks.tag.config import RENAMED as RENAMED
from rnnlab.tasks.tag.config import TRAIN_UNUSED as TRAIN_UNUSED
from rnnlab.tasks.tag.config import DataConfig as DataConfig
from rnnlab.tasks.tag.config import ModelConfig as ModelConfig
from rnnlab.tasks.tag.data import Encoder, read, splits

if TYPE_CHECKING:  # type hints only: no import at run time
    from torch import nn

    from rnnlab.config import RunConfig
    from rnnlab.data.batching import TagBatches
    from rnnlab.models.tagger import SequenceTagger

NAME = "tag"
TITLE = "tagging"
POSTERIOR_TOP = 3  # tags per word that `predict --posteriors` prints
MONITOR = "error_rate"
MONITORS = ("error_rate", "nll")
EVAL_AT_START = False  # no validation before the first step


def check(cfg: RunConfig, given: set[str] | None) -> None:
    d, m = cfg.data, cfg.model
    if d.data is None:
        raise RnnlabError("--task tag needs --data: a CoNLL-U training file, or a dataset "
                          "of `rnnlab data list`, e.g. --data ud_english_ewt")
    if given:
        hmm_only = {"model.order", "model.max_suffix", "model.rare_threshold"}
        if m.model != "hmm" and given & hmm_only:
            raise RnnlabError(f"{', '.join(sorted(g.split('.')[1] for g in given & hmm_only))}"
                              " apply to --model hmm; drop them")
        if m.model == "hmm" and "model.crf" in given and m.crf:
            raise RnnlabError("--crf applies to the neural taggers (lstm, gru, rnn); the HMM "
                              "decodes with Viterbi already: drop --crf")


def _apply_train_defaults(cfg: RunConfig, steps_per_epoch: int) -> dict[str, Any]:
    given = set(cfg.explicit or ())
    chosen = {}
    for key, value in {**TRAIN_DEFAULTS, "eval_every": max(1, steps_per_epoch)}.items():
        if cfg.explicit is not None and f"train.{key}" not in given:
            setattr(cfg.train, key, value)
            chosen[key] = value
    from rnnlab.budget import apply_budget

    chosen.update(apply_budget(cfg))  # --max-time alone: the budget ends the run, not epochs
    return chosen


def prepare(cfg: RunConfig, out: Path, resume: dict[str, Any] | None) -> Prepared:
    parts = splits(cfg)
    tc = cfg.train
    enc = Encoder.from_dict(resume["tagging"]) if resume is not None else Encoder.fit(
        parts["train"])

    def source(part: str, batch_size: int, shuffle: bool) -> TagBatches | None:
        sents = parts[part]
        if not sents:
            return None
        return enc.batches([w for w, _ in sents], [t for _, t in sents], batch_size, shuffle,
                           tc.seed, f"the {part} part")

    chosen = {}
    if cfg.model.model in NEURAL:
        batch_size = tc.batch_size if "train.batch_size" in (cfg.explicit or ()) else \
            TRAIN_DEFAULTS["batch_size"]
        chosen = _apply_train_defaults(cfg, -(-len(parts["train"]) // int(batch_size)))
    train = source("train", tc.batch_size, True)
    if train is None:  # splits() refuses an empty training part before this
        raise RnnlabError("the training part holds no sentence; check --data")
    sizes = {k: len(v) for k, v in parts.items()}
    tokens = {k: sum(len(w) for w, _ in v) for k, v in parts.items()}
    record = {"source": cfg.data.data, "val": cfg.data.val_data or "held out of --data",
              "test": cfg.data.test_data, "tag_column": cfg.data.tag_column,
              "sentences": sizes, "tokens": tokens}
    info = {"source": cfg.data.data, "sizes": sizes, "tokens": tokens,
            "vocab_size": len(enc.words), "chars": len(enc.chars), "tags": len(enc.tags),
            "model": cfg.model.model, "crf": cfg.model.crf, "defaults": chosen,
            "train_batches": len(train)}
    counts = [(w, enc.tags.encode(t)) for w, t in parts["train"]]
    return Prepared(train, source("val", tc.eval_batch_size, False), record,
                    {"tagging": enc.to_dict()}, info, counts=counts if cfg.model.model == "hmm"
                    else None, extra={"parts": parts, "encoder": enc,
                                      "word_freq": enc.word_freq(parts["train"])})


def build_model(cfg: RunConfig, prepared: Prepared) -> nn.Module:
    m, i = cfg.model, prepared.info
    if m.model == "hmm":
        from rnnlab.models.hmm import HMMTagger

        return HMMTagger(i["tags"], order=m.order, max_suffix=m.max_suffix,
                         rare_threshold=m.rare_threshold)
    from rnnlab.models.tagger import SequenceTagger

    return SequenceTagger(
        vocab_size=i["vocab_size"], num_chars=i["chars"], num_tags=i["tags"], cell=m.model,
        embedding_dim=m.embedding_dim, char_encoder=m.char_encoder, char_dim=m.char_dim,
        char_hidden=m.char_hidden, hidden_size=m.hidden_size, num_layers=m.num_layers,
        dropout=m.dropout, word_dropout=m.word_dropout, crf=m.crf, impl=m.impl,
        word_freq=prepared.extra["word_freq"])


def validate(model: nn.Module, batches: Any) -> dict[str, float]:
    """Per-word NLL (the CRF's sequence NLL per word with --crf), accuracy, error rate."""
    from rnnlab.distributed import sum_across_ranks

    was_training = model.training
    model.eval()
    tagger = cast("SequenceTagger", model)  # counted HMMs are not validated by steps
    nll, right, n = 0.0, 0, 0
    for b in batches:
        s, k = tagger.nll(b)
        pred = tagger.decode(b)
        nll, n = nll + s, n + k
        right += int(((pred == b.tags) & (b.tags >= 0)).sum())
    model.train(was_training)
    total, correct, words = sum_across_ranks(nll, right, n)  # torchrun: every rank's shard
    return {"nll": total / words, "accuracy": correct / words,
            "error_rate": 1 - correct / words, "examples": words}


# -- tagging and scoring ---------------------------------------------------------------------
def predict_tags(model: Any, enc: Encoder, sentences: list[list[str]],
                 batch_size: int = 256) -> list[list[int]]:
    """Tag ids of every sentence (an empty sentence gets none), in input order."""
    real = [i for i, s in enumerate(sentences) if s]
    out: list[list[int]] = [[] for _ in sentences]
    if not real:
        return out
    if hasattr(model, "fit_counts") or not hasattr(model, "decode"):  # HMM, baseline
        for i, tags in zip(real, model.tag([sentences[i] for i in real]), strict=True):
            out[i] = [int(t) for t in tags]
        return out
    was_training = model.training
    model.eval()
    src = enc.batches([sentences[i] for i in real], None, batch_size)
    for idx, b in src.indexed_epoch(0):
        pred = model.decode(b).tolist()
        for row, j in enumerate(idx):
            out[real[j]] = pred[row][: len(sentences[real[j]])]
    model.train(was_training)
    return out


def report(model: Any, enc: Encoder, sents: list[tuple[list[str], list[str]]],
           what: str = "--data") -> dict[str, Any]:
    """{"accuracy", "known_accuracy", "unknown_accuracy", "tokens", "unknown_tokens",
    "sentences", "per_tag", "confusion", "seconds", "tokens_per_second"}."""
    from rnnlab.metrics import classification_report

    words = [w for w, _ in sents]
    # a gold tag the model never saw (ParTUT's XPOS beside EWT's) can never be predicted: it
    # counts as an error, under its own name, instead of stopping the evaluation
    known_tags = set(enc.tags.itos)
    unseen = sorted({t for _, ts in sents for t in ts if t not in known_tags})
    names = [*enc.tags.itos, *unseen]
    ids = {t: i for i, t in enumerate(names)}
    gold = [[ids[t] for t in ts] for _, ts in sents]
    t0 = time.process_time()
    pred = predict_tags(model, enc, words)
    seconds = time.process_time() - t0
    flat_gold = [t for ts in gold for t in ts]
    flat_pred = [t for ts in pred for t in ts]
    known = [w in enc.words for ws in words for w in ws]
    r = classification_report(flat_gold, flat_pred, names)

    def acc(sel: bool) -> float | None:
        pairs = [(g, p) for g, p, k in zip(flat_gold, flat_pred, known, strict=True)
                 if k == sel]
        return sum(g == p for g, p in pairs) / len(pairs) if pairs else None

    per_class = cast("dict[str, dict[str, float]]", r["per_class"])
    per_tag = {k: {m: v[m] for m in ("precision", "recall", "f1", "support")}
               for k, v in per_class.items()}
    n = len(flat_gold)
    return {"accuracy": r["accuracy"], "known_accuracy": acc(True),
            "unknown_accuracy": acc(False), "tokens": n, "unknown_tokens": known.count(False),
            "sentences": len(sents), "per_tag": per_tag, "confusion": r["confusion"],
            "unseen_gold_tags": {t: sum(x == t for _, ts in sents for x in ts) for t in unseen},
            "seconds": round(seconds, 3),
            "tokens_per_second": n / seconds if seconds > 0 else None}


def baseline(prepared: Prepared, part: str) -> dict[str, Any]:
    from rnnlab.models.most_frequent import MostFrequentTag

    enc, parts = prepared.extra["encoder"], prepared.extra["parts"]
    mft = MostFrequentTag().fit([(w, enc.tags.encode(t)) for w, t in parts["train"]])
    r = report(mft, enc, parts[part])
    return {k: r[k] for k in ("accuracy", "known_accuracy", "unknown_accuracy", "tokens")}


def finish(cfg: RunConfig, prepared: Prepared, model: nn.Module, out: Path) -> dict[str, Any]:
    """Validation and test figures, the most-frequent-tag baseline on the same parts, the
    test (else validation) confusion matrix: confusion.png, confusion.txt."""
    from rnnlab.metrics import confusion_text
    from rnnlab.plots import plot_confusion

    enc, parts = prepared.extra["encoder"], prepared.extra["parts"]
    result: dict[str, Any] = {"train_tokens": prepared.info["tokens"]["train"]}
    for part in ("val", "test"):
        if parts[part]:
            result[part] = report(model, enc, parts[part], f"the {part} part")
            result.setdefault("baselines", {})[f"most_frequent_{part}"] = baseline(prepared,
                                                                                   part)
    shown = result.get("test") or result.get("val")
    if shown is not None:
        names = [*enc.tags.itos, *shown["unseen_gold_tags"]]  # the report's rows
        plot_confusion(shown["confusion"], names, out / "confusion.png")
        (out / "confusion.txt").write_text(confusion_text(shown["confusion"], names))
    return result


# -- using a trained model -------------------------------------------------------------------
def encoder(loaded: Loaded) -> Encoder:
    return Encoder.from_dict(loaded.payload["tagging"])


def read_tagged_lines(path: str, what: str) -> list[tuple[list[str], list[str]]]:
    """Sentences of WORD/TAG tokens, one a line (the tag after the last "/"; what `predict
    --out` writes for plain text); blank lines are skipped."""
    from rnnlab.data.readers import read_lines

    sents = []
    for n, line in enumerate(read_lines(path, what), 1):
        pairs = [tok.rpartition("/") for tok in line.split()]
        bad = next((w + s + t for w, s, t in pairs if not (w and s and t)), None)
        if bad is not None:
            raise RnnlabError(f"{what}: line {n} of {path!r} has the token {bad!r}, not "
                              "WORD/TAG; --format text reads WORD/TAG tokens (use --format "
                              "conllu for a CoNLL-U file)")
        if pairs:
            sents.append(([w for w, _, _ in pairs], [t for _, _, t in pairs]))
    return sents


def evaluate(loaded: Loaded, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The figures of `report` (without the confusion matrix) on a file (`data`, in `format`:
    conllu, the run's, or text: WORD/TAG lines), or on the run's own val/test part
    (`split`)."""
    o = COMMANDS["evaluate"].bind(options)
    data, split = o.data, o.split
    if data is None and o.format is not None:
        raise RnnlabError("--format is the format of --data: give --data FILE, or drop it")
    if data is not None:
        sents = (read_tagged_lines(data, "--data") if o.format == "text"
                 else read(loaded.cfg, data, "--data"))
        if not sents:
            raise RnnlabError(f"nothing to evaluate: --data {data!r} holds no sentences")
    else:
        sents = splits(loaded.cfg)[split]
        if not sents:
            raise RnnlabError(f"the run has no {split} part (train with --{split}-data, or "
                              "evaluate a file with --data FILE.conllu)")
    r = report(loaded.model, encoder(loaded), sents)
    r.pop("confusion")
    return r


def predict(loaded: Loaded, inputs: list[str], options: Mapping[str, Any] | None = None
            ) -> dict[str, Any]:
    """Tag a CoNLL-U file `data` (its tag column filled, every other byte kept; written to
    `out`) or plain text (one sentence per line, whitespace tokens) or the sentences
    `inputs`. Returns {"sentences": [{"words", "tags"}], "conllu": text or None, "out": path
    or None}."""
    from rnnlab.data.readers import (
        looks_like_conllu,
        read_conllu,
        read_text,
        read_token_lines,
        write_conllu_tags,
    )

    o = COMMANDS["predict"].bind(options)
    path, fmt, out = o.data, o.format, o.out
    texts = list(inputs)
    if o.posteriors:
        check_posteriors(loaded, out)
    if path is None and "format" in o.given:
        raise RnnlabError("--format is the format of --data: give --data FILE, or drop it")
    if any(not t.split() for t in texts):
        raise RnnlabError("cannot tag an empty sentence; give some words")
    if path is not None and texts:
        raise RnnlabError("give either --data FILE or sentences as INPUT arguments, not both")
    if path is None and not texts:
        raise RnnlabError("nothing to tag: give --data FILE (CoNLL-U or plain text) or "
                          "sentences as INPUT arguments")
    enc, column = encoder(loaded), loaded.cfg.data.tag_column
    raw = read_text(path, "--data") if path is not None else None
    conllu = raw is not None and (fmt == "conllu" or (fmt == "auto" and looks_like_conllu(raw)))
    if conllu:
        sentences = [w for w, _ in read_conllu(path, column, "--data", need_tags=False)]
    elif path is not None:
        sentences = read_token_lines(path, "--data")
    else:
        sentences = [t.split() for t in texts]
    ids = predict_tags(loaded.model, enc, sentences, loaded.cfg.train.eval_batch_size)
    tags = [[enc.tags.itos[i] for i in s] for s in ids]
    text = write_conllu_tags(raw, tags, column) if conllu and raw is not None else None
    if out is not None:
        if text is None:
            text = "".join(" ".join(f"{w}/{t}" for w, t in zip(ws, ts, strict=True)) + "\n"
                           for ws, ts in zip(sentences, tags, strict=True))
        Path(out).write_text(text, encoding="utf-8")
    rows: list[dict[str, Any]] = [{"words": w, "tags": t}
                                  for w, t in zip(sentences, tags, strict=True)]
    if o.posteriors:
        for row in rows:
            row["posteriors"] = posteriors(loaded.model, enc, row["words"])
    return {"sentences": rows, "conllu": text if conllu else None, "out": out}


def check_posteriors(loaded: Loaded, out: str | None) -> None:
    """--posteriors needs a model with forward-backward (the HMM) and prints, writes nothing."""
    if not hasattr(loaded.model, "posteriors"):
        raise RnnlabError(
            f"--posteriors prints p(tag | sentence) from the HMM's forward-backward; this "
            f"is a tag run of --model {loaded.cfg.model.model}"
            f"{' with --crf' if loaded.cfg.model.crf else ''}, which has none: drop "
            "--posteriors (or train --model hmm)")
    if out is not None:
        raise RnnlabError("--posteriors prints each word's tag distribution; --out writes "
                          "tags only: drop one of them")


def posteriors(model: Any, enc: Encoder, words: list[str]) -> list[dict[str, float]]:
    """p(y_t = tag | x_1..T) of each word, every tag, likeliest first (forward-backward)."""
    post = model.posteriors(words)  # (T, K), rows sum to 1
    return [{enc.tags.itos[k]: float(row[k]) for k in sorted(range(len(row)),
                                                              key=lambda k: -row[k])}
            for row in post]


# -- what the CLI prints ---------------------------------------------------------------------
def fmt(m: dict[str, Any] | None) -> str:
    if not m:
        return "n/a"

    def pct(v: float | None) -> str:
        return "n/a" if v is None else f"{100 * v:.2f}"

    s = (f"accuracy {pct(m['accuracy'])}%  known {pct(m['known_accuracy'])}%  unknown "
         f"{pct(m['unknown_accuracy'])}%  ({m['tokens']} words")
    if m.get("tokens_per_second"):
        s += f", tagged at {m['tokens_per_second']:,.0f} words/s"
    return s + ")"


def describe_evaluation(m: dict[str, Any]) -> list[str]:
    return [fmt(m)]


def describe_predictions(r: dict[str, Any], options: Options) -> Shown:
    """--json: one object per sentence; else the CoNLL-U with its tag column filled, or
    word/TAG lines (nothing when --out took them)."""
    notes = [f"wrote {r['out']}"] if r["out"] is not None else []
    if options.json:
        return Shown(json_lines(r["sentences"]), notes)
    if options.get("posteriors"):
        return Shown(describe_posteriors(r["sentences"]), notes)
    if r["out"] is not None:
        return Shown([], notes)
    if r["conllu"] is not None:
        return Shown([r["conllu"].removesuffix("\n")], notes)
    return Shown([" ".join(f"{w}/{t}" for w, t in zip(s["words"], s["tags"], strict=True))
                  for s in r["sentences"]], notes)


def describe_posteriors(sentences: list[dict[str, Any]], top: int = POSTERIOR_TOP
                        ) -> list[str]:
    """A line per word: WORD<TAB>TAG p<TAB>... for its `top` likeliest tags of p > 0; a
    blank line between sentences."""
    lines: list[str] = []
    for s in sentences:
        if lines:
            lines.append("")
        for word, dist in zip(s["words"], s["posteriors"], strict=True):
            ranked = list(dist.items())
            best = [(t, p) for t, p in ranked[:top] if p > 0] or ranked[:1]
            lines.append("\t".join([word, *(f"{tag} {p:.4f}" for tag, p in best)]))
    return lines


def describe_ready(i: dict[str, Any], out: Path) -> list[str]:
    s, t = i["sizes"], i["tokens"]
    lines = [f"data: {i['source']}  (sentences train {s['train']} | val {s['val']} | test "
             f"{s['test']}; words {t['train']} | {t['val']} | {t['test']}; vocabulary "
             f"{i['vocab_size']}, {i['chars']} characters, {i['tags']} tags)",
             f"model: {i['model']}{' + CRF' if i['crf'] and i['model'] != 'hmm' else ''}  "
             f"({i['params']:,} parameters)  run folder: {out}"]
    if i.get("defaults"):
        lines.append("tagging defaults for the unset fields: " + ", ".join(
            f"{k}={v}" for k, v in i["defaults"].items()))
    return lines


def describe_progress(e: dict[str, Any]) -> str:
    s = f"step {e['step']:>6}  epoch {e['epoch']:.2f}  train {e['train_loss']:.4f}"
    if "val_nll" in e:
        s += f"  val nll {e['val_nll']:.4f}  accuracy {100 * e['val_accuracy']:.2f}%"
    return s + f"  lr {e['lr']:.2e}  {e['time']:.0f}s"


def describe(final: dict[str, Any]) -> list[str]:
    lines = [f"validation: {fmt(final.get('val'))}", f"test:       {fmt(final.get('test'))}"]
    for name, m in final.get("baselines", {}).items():
        lines.append(f"  {name:<18} {fmt(m)}")
    return lines


def default_out_name(cfg: RunConfig) -> str:
    stem = Path(cfg.data.data).stem if cfg.data.data else "data"
    return f"{stem}-tag-{cfg.model.model}{'-crf' if cfg.model.crf else ''}"


# -- the subcommands of a trained run, with their options ------------------------------------
COMMANDS = commands(
    Command("evaluate", "accuracy on known and unknown words", (
        DATA.but(help="a CoNLL-U file (or WORD/TAG lines with --format text) to evaluate "
                 "instead of the run's own --split"), TAGGED_FORMAT, SPLIT,
        JSON.but(help='print JSON {"accuracy", "known_accuracy", "unknown_accuracy", '
                 '"tokens", ...}')),
        evaluate, show_evaluation(describe_evaluation)),
    Command("predict", "the tags of each INPUT sentence or of the sentences of --data", (
        TEXTS.but(help="sentences to tag (whitespace tokens)", metavar="SENTENCE"),
        DATA.but(help="a file to tag, CoNLL-U or plain text (one sentence a line)"),
        Option("format", "how --data is read: auto (CoNLL-U when its first token line has 10 "
               "tab-separated columns), conllu, or text", str, "auto",
               choices=("auto", "conllu", "text")),
        OUT.but(help="write the tagged file here (CoNLL-U in, CoNLL-U out; else word/TAG "
                "lines)"),
        Option("posteriors", f"--model hmm: each word's p(tag | sentence) by forward-backward, "
               f"its {POSTERIOR_TOP} likeliest tags (every tag with --json)", bool, False),
        JSON.but(help='one JSON object {"words", "tags"} per sentence (with --posteriors: '
                 '"posteriors", a {tag: p} per word)')),
        lambda loaded, o: predict(loaded, o.inputs, o), describe_predictions),
)
