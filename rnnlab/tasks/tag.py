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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnnlab.config import param
from rnnlab.errors import RnnlabError
from rnnlab.tasks.base import Loaded, Prepared
from rnnlab.tasks.tagged import Encoder, read, splits

if TYPE_CHECKING:  # type hints only: no import at run time
    from torch import nn

    from rnnlab.tasks import RunConfig

NAME = "tag"
TITLE = "tagging"
COMMANDS = ("evaluate", "predict")
MONITOR = "error_rate"
MONITORS = ("error_rate", "nll")
NEURAL = ("lstm", "gru", "rnn")


@dataclass
class DataConfig:
    data: str | None = param(None, "training file, CoNLL-U (UD); multiword tokens and empty "
                             "nodes are kept out of tagging")
    val_data: str | None = param(None, "validation CoNLL-U file (early stopping; else a "
                                 "seeded --val-fraction of the training sentences)")
    test_data: str | None = param(None, "test CoNLL-U file (the final figures)")
    tag_column: str = param("upos", "the CoNLL-U column to predict", choices=("upos", "xpos"))
    val_fraction: float = param(0.1, "without --val-data: training sentences held out",
                                ge=0, lt=1)
    split_seed: int = param(1337, "seed of the held-out validation sentences", ge=0,
                            le=(1 << 63) - 1)


@dataclass
class ModelConfig:
    model: str = param("lstm", "bidirectional lstm, gru or rnn (Elman) tagger, or hmm "
                       "(second-order HMM, counted)", choices=(*NEURAL, "hmm"), noun="tagger")
    embedding_dim: int = param(100, "word embedding size", ge=1, le=1 << 16)
    char_encoder: str = param("bilstm", "words' spelling: bilstm, cnn or none",
                              choices=("bilstm", "cnn", "none"))
    char_dim: int = param(32, "character embedding size", ge=1, le=1 << 16)
    char_hidden: int = param(64, "character BiLSTM units per direction (cnn: filters)", ge=1,
                             le=1 << 16)
    hidden_size: int = param(128, "hidden units per layer and direction", ge=1, le=1 << 16)
    num_layers: int = param(2, "stacked bidirectional layers", ge=1, le=64)
    dropout: float = param(0.33, "dropout probability", ge=0, lt=1)
    word_dropout: float = param(0.25, "alpha: a training word of frequency f reads <unk> with "
                                "probability alpha / (alpha + f)", ge=0, le=1e6,
                                special={0: "off"})
    crf: bool = param(False, "a linear-chain CRF over the tag scores (Viterbi decoding)")
    impl: str = param("fused", "fused (torch.nn) or loop (hand-written cells)",
                      choices=("fused", "loop"))
    order: int = param(2, "hmm: tags of context (1 bigram, 2 trigram)", ge=1, le=2)
    max_suffix: int = param(10, "hmm: longest suffix of the unknown-word model", ge=0, le=100)
    rare_threshold: int = param(10, "hmm: words seen at most this often train the suffix "
                                "model", ge=1, le=1 << 30)


# training settings that suit tagging, applied to the fields a user did not set
TRAIN_DEFAULTS = {"lr": 2e-3, "weight_decay": 0.0, "max_steps": 10**9, "max_epochs": 30,
                  "patience": 5, "batch_size": 32}


def check(cfg: RunConfig, given: set[str] | None) -> None:
    d, m = cfg.data, cfg.model
    if d.data is None:
        raise RnnlabError("--task tag needs --data: a CoNLL-U training file, e.g. "
                          "--data ../shared/data/ud_english_ewt/en_ewt-ud-train.conllu")
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
    return chosen


def prepare(cfg: RunConfig, out: Path, resume: dict[str, Any] | None) -> Prepared:
    parts = splits(cfg)
    tc = cfg.train
    enc = Encoder.from_dict(resume["tagging"]) if resume is not None else Encoder.fit(
        parts["train"])

    def source(part: str, batch_size: int, shuffle: bool):
        sents = parts[part]
        if not sents:
            return None
        return enc.batches([w for w, _ in sents], [t for _, t in sents], batch_size, shuffle,
                           tc.seed, f"the {part} part")

    chosen = {}
    if cfg.model.model in NEURAL:
        batch_size = tc.batch_size if "train.batch_size" in (cfg.explicit or ()) else \
            TRAIN_DEFAULTS["batch_size"]
        chosen = _apply_train_defaults(cfg, -(-len(parts["train"]) // batch_size))
    train = source("train", tc.batch_size, True)
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
    nll, right, n = 0.0, 0, 0
    for b in batches:
        s, k = model.nll(b)
        pred = model.decode(b)
        nll, n = nll + s, n + k
        right += int(((pred == b.tags) & (b.tags >= 0)).sum())
    model.train(was_training)
    nll, right, n = sum_across_ranks(nll, right, n)  # torchrun: every rank's shard
    return {"nll": nll / n, "accuracy": right / n, "error_rate": 1 - right / n}


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

    per_tag = {k: {m: v[m] for m in ("precision", "recall", "f1", "support")}
               for k, v in r["per_class"].items()}
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
    from rnnlab.plots import plot_confusion
    from rnnlab.tasks.classify import confusion_text

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


def evaluate(loaded: Loaded, data: str | None = None, split: str = "test") -> dict[str, Any]:
    """The figures of `report` (without the confusion matrix) on a CoNLL-U file, or on the
    run's own val/test part."""
    if data is not None:
        sents = read(loaded.cfg, data, "--data")
    else:
        if split not in ("val", "test"):
            raise RnnlabError(f"--split must be 'val' or 'test', got {split!r}")
        sents = splits(loaded.cfg)[split]
        if not sents:
            raise RnnlabError(f"the run has no {split} part (train with --{split}-data, or "
                              "evaluate a file with --data FILE.conllu)")
    r = report(loaded.model, encoder(loaded), sents)
    r.pop("confusion")
    return r


def predict(loaded: Loaded, path: str | None, texts: list[str], fmt: str | None = None,
            out: str | None = None) -> dict[str, Any]:
    """Tag a CoNLL-U file (its tag column filled, every other byte kept; written to `out`) or
    plain text (one sentence per line, whitespace tokens) or `texts`. Returns {"sentences":
    [{"words", "tags"}], "conllu": text or None, "out": path or None}."""
    from rnnlab.datasets import (
        looks_like_conllu,
        read_conllu,
        read_text,
        read_token_lines,
        write_conllu_tags,
    )

    if fmt not in (None, "auto", "conllu", "text"):
        raise RnnlabError(f"--format for a tag run must be auto, conllu or text, got {fmt!r}")
    if path is not None and texts:
        raise RnnlabError("give either --data FILE or sentences as INPUT arguments, not both")
    if path is None and not texts:
        raise RnnlabError("nothing to tag: give --data FILE (CoNLL-U or plain text) or "
                          "sentences as INPUT arguments")
    enc, column = encoder(loaded), loaded.cfg.data.tag_column
    raw = read_text(path, "--data") if path is not None else None
    conllu = raw is not None and (fmt == "conllu" or (fmt in (None, "auto")
                                                      and looks_like_conllu(raw)))
    if conllu:
        sentences = [w for w, _ in read_conllu(path, column, "--data", need_tags=False)]
    elif path is not None:
        sentences = read_token_lines(path, "--data")
    else:
        sentences = [t.split() for t in texts]
    ids = predict_tags(loaded.model, enc, sentences, loaded.cfg.train.eval_batch_size)
    tags = [[enc.tags.itos[i] for i in s] for s in ids]
    text = write_conllu_tags(raw, tags, column) if conllu else None
    if out is not None:
        if text is None:
            text = "".join(" ".join(f"{w}/{t}" for w, t in zip(ws, ts, strict=True)) + "\n"
                           for ws, ts in zip(sentences, tags, strict=True))
        Path(out).write_text(text, encoding="utf-8")
    return {"sentences": [{"words": w, "tags": t} for w, t in zip(sentences, tags,
                                                                   strict=True)],
            "conllu": text if conllu else None, "out": out}


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


def describe_eval(e: dict[str, Any]) -> str:
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
