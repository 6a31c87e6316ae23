"""Classification (the notes' "fixed target", many-to-one): a label from a sequence, e.g. a
name's language or a sentence's polarity.

Data flow: `datasets.read_labeled_tsv` / `read_labeled_folder` ((text, label) pairs) ->
`datasets.dedupe` (exact duplicates dropped before splitting, so no test example also sits in
training) -> `datasets.stratified_split` (or fold k of `stratified_folds` with --cv) ->
tokenizer and `LabelVocab` fitted on the training part -> `batching.ClassBatches` ->
`models.classifier.SequenceClassifier` (embedding -> Recurrent -> pooling over real steps ->
linear). The final figures sit beside two baselines computed on the same split: the majority
class and multinomial naive Bayes over n-grams (`models.naive_bayes`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnnlab.config import flag
from rnnlab.data.labeled import (
    check_labeled,
    encoded,
    read,
    splits,
    vocabularies,
)
from rnnlab.errors import RnnlabError
from rnnlab.options import (
    DATA,
    JSON,
    LABELED_FORMAT,
    OUT,
    SPLIT,
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
from rnnlab.tasks.classify.config import BASELINES
from rnnlab.tasks.classify.config import EXAMPLES as EXAMPLES
from rnnlab.tasks.classify.config import MODEL_ONLY as MODEL_ONLY
from rnnlab.tasks.classify.config import RENAMED as RENAMED
from rnnlab.tasks.classify.config import TRAIN_UNUSED as TRAIN_UNUSED
from rnnlab.tasks.classify.config import DataConfig as DataConfig
from rnnlab.tasks.classify.config import ModelConfig as ModelConfig
from rnnlab.tasks.single_run import samples_after_training as samples_after_training

if TYPE_CHECKING:  # type hints only: no import at run time
    from torch import nn

    from rnnlab.config import RunConfig

NAME = "classify"
TITLE = "classification"
MONITOR = "nll"
MONITORS = ("nll", "error_rate")  # --monitor error_rate keeps the most accurate weights
EVAL_AT_START = False  # no validation before the first step


def check(cfg: RunConfig, given: set[str] | None) -> None:
    d = cfg.data
    check_labeled(d, given, NAME)
    if d.cv is not None and (d.val_data or d.test_data):
        raise RnnlabError("--cv makes its own test folds: drop --val-data/--test-data")
    if d.fold is not None and (d.cv is None or d.fold >= d.cv):
        raise RnnlabError(f"--fold {d.fold} needs --cv K with K > {d.fold}")


def prepare(cfg: RunConfig, out: Path, resume: dict[str, Any] | None) -> Prepared:
    from rnnlab.data.batching import ClassBatches

    d, tc = cfg.data, cfg.train
    parts, record = splits(d)
    auto = apply_defaults(cfg, parts["train"]) if resume is None else {}
    tok, labels, counts = vocabularies(d, parts, resume)
    if len(counts) < 2:
        raise RnnlabError(f"the training part holds {len(counts)} class(es) "
                          f"({', '.join(counts) or 'none'}); a classifier needs two or more")

    def source(part: str, batch_size: int, shuffle: bool) -> ClassBatches | None:
        data = encoded(parts, part, tok, labels)
        return ClassBatches(*data, batch_size, shuffle, tc.seed) if data else None

    n = sum(counts.values())
    weights = ([n / (len(labels) * counts[c]) for c in labels.itos]
               if cfg.model.class_weights == "balanced" else None)
    info = {"source": d.data, "examples": record["dedupe"], "classes": len(labels),
            "sizes": record["sizes"], "vocab_size": len(tok), "model": cfg.model.model,
            "class_counts": dict(sorted(counts.items())), "auto": auto}
    return Prepared(source("train", tc.batch_size, True), source("val", tc.eval_batch_size, False),
                    record, {"tokenizer": tok.to_dict(), "labels": labels.to_dict()}, info,
                    extra={"parts": parts, "tokenizer": tok, "labels": labels,
                           "class_weights": weights, "token_freq": token_freq(
                               parts, tok) if cfg.model.word_dropout > 0 else None,
                           "test": source("test", tc.eval_batch_size, False)})


def apply_defaults(cfg: RunConfig, train: list[tuple[str, str]]) -> dict[str, Any]:
    """With `--defaults auto` and a config built from flags or TOML (`cfg.explicit` known):
    the level from the training texts (unless given) and that level's recipe of `defaults.py`
    on every field the user did not give. Returns what was set (config.json has the values)."""
    from rnnlab.tasks.classify.defaults import BUDGET_EVALS, level_for, recipe

    if cfg.data.defaults != "auto" or cfg.explicit is None:
        return {}
    given = set(cfg.explicit)
    level = cfg.data.level if "data.level" in given else level_for(t for t, _ in train)
    chosen: dict[str, Any] = {}
    for section, values in recipe(level, given).items():
        for key, value in values.items():
            setattr(getattr(cfg, section), key, value)
            chosen[key] = value
    if cfg.train.budget_evals and not given & {"train.budget_evals", "train.eval_every"}:
        # a validation pass is cheap here (under a second), and the weights kept are chosen
        # by a noisy accuracy: finer evaluation pays (MR fold 0 in 240 CPU-s: 75.45 at 20
        # evaluations, 77.13 at 50; the recipe's 100-step cadence 77.04)
        chosen["budget_evals"] = cfg.train.budget_evals = BUDGET_EVALS
    check(cfg, None)  # the chosen values with the given ones
    return chosen


def build_model(cfg: RunConfig, prepared: Prepared) -> nn.Module:
    from rnnlab.models.classifier import SequenceClassifier

    m = cfg.model
    return SequenceClassifier(
        vocab_size=prepared.info["vocab_size"], num_classes=prepared.info["classes"],
        cell=m.model, embedding_dim=m.embedding_dim, hidden_size=m.hidden_size,
        num_layers=m.num_layers, bidirectional=m.bidirectional, pool=m.pool, dropout=m.dropout,
        impl=m.impl, class_weights=prepared.extra["class_weights"],
        embedding_dropout=m.embedding_dropout, word_dropout=m.word_dropout,
        token_freq=prepared.extra.get("token_freq"))


def token_freq(parts: dict[str, list[tuple[str, str]]], tok: Any) -> list[int]:
    """Training-part count of every token id (word dropout's f; 0 for the specials)."""
    counts = [0] * len(tok)
    for text, _ in parts["train"]:
        for i in tok.encode(text):
            counts[i] += 1
    return counts


def predictions(model: nn.Module, batches: Any) -> tuple[list[int], Any, float]:
    """(true labels, log-probabilities (N, K), summed NLL) over every batch."""
    import torch

    was_training = model.training
    model.eval()
    ys, lps, nll = [], [], 0.0
    with torch.no_grad():
        for b in batches:
            lp = torch.log_softmax(model(b._replace(labels=None)).logits.float(), -1)  # (B, K)
            ys += b.labels.tolist()
            nll -= float(lp.gather(1, b.labels[:, None]).sum())
            lps.append(lp)
    model.train(was_training)
    return ys, (torch.cat(lps) if lps else torch.zeros(0, 1)), nll


def validate(model: nn.Module, batches: Any) -> dict[str, float]:
    """Mean NLL (monitored), accuracy and error rate on the validation part, and the number
    of examples they were counted on (early stopping's noise floor, `trainer.noise_floor`)."""
    from rnnlab.distributed import sum_across_ranks

    ys, lp, nll = predictions(model, batches)
    hits = sum(int(p == y) for p, y in zip(lp.argmax(1).tolist(), ys, strict=True))
    nll, right, n = sum_across_ranks(nll, float(hits), len(ys))  # torchrun: every rank's shard
    return {"nll": nll / n, "accuracy": right / n, "error_rate": 1 - right / n, "examples": n}


def report(model: nn.Module, batches: Any, labels: list[str]) -> dict[str, Any]:
    """{"accuracy", "macro_f1", "nll", "examples", "per_class", "confusion"}."""
    from rnnlab.metrics import classification_report

    ys, lp, nll = predictions(model, batches)
    r = classification_report(ys, lp.argmax(1).tolist(), labels)
    return {**r, "nll": nll / max(len(ys), 1)}


def baselines(prepared: Prepared, level: str, which: str = "all") -> dict[str, Any]:
    """Majority class and multinomial naive Bayes (char 1-4-grams, or word 1-2-grams), and
    NBSVM with `which` all, fitted on the training part, scored on the test part (none: {})."""
    from rnnlab.metrics import classification_report
    from rnnlab.models.naive_bayes import NaiveBayes, majority_class

    parts, labels = prepared.extra["parts"], prepared.extra["labels"]
    train, test = parts["train"], parts["test"]
    if not test or which == "none":
        return {}
    y_train = labels.encode(lab for _, lab in train)
    y_test = labels.encode(lab for _, lab in test)
    major = majority_class(y_train)
    nb = NaiveBayes(level=level, n_min=1, n_max=4 if level == "char" else 2)
    nb.fit([t for t, _ in train], y_train, len(labels))
    out = {}
    for name, pred in (("majority", [major] * len(test)),
                       ("naive_bayes", list(nb.predict([t for t, _ in test])))):
        r = classification_report(y_test, [int(p) for p in pred], labels.itos)
        out[name] = {k: r[k] for k in ("accuracy", "macro_f1", "examples")}
    out["naive_bayes"]["features"] = (f"{level} {nb.n_min}-{nb.n_max}-grams, add-"
                                      f"{nb.alpha:g} smoothing")
    from rnnlab.models import nbsvm

    if which == "all" and nbsvm.available():  # the optional scikit-learn extra
        svm = nbsvm.nbsvm_predict([t for t, _ in train], y_train, [t for t, _ in test],
                                  len(labels), level)
        r = classification_report(y_test, [int(p) for p in svm], labels.itos)
        out["nbsvm"] = {**{k: r[k] for k in ("accuracy", "macro_f1", "examples")},
                        "features": f"binary {level} n-grams scaled by NB log-count ratios, "
                                    "logistic regression (scikit-learn)"}
    return out


def finish(cfg: RunConfig, prepared: Prepared, model: nn.Module, out: Path) -> dict[str, Any]:
    """Validation and test figures, the baselines on the same split, the confusion matrix
    (confusion.png, confusion.txt)."""
    from rnnlab.metrics import confusion_text
    from rnnlab.plots import plot_confusion

    labels = prepared.extra["labels"].itos
    result: dict[str, Any] = {}
    if prepared.val is not None:
        result["val"] = report(model, prepared.val.epoch(0), labels)
    test = prepared.extra["test"]
    if test is not None:
        result["test"] = report(model, test.epoch(0), labels)
        cm = result["test"]["confusion"]
        plot_confusion(cm, labels, out / "confusion.png")
        (out / "confusion.txt").write_text(confusion_text(cm, labels))
    result["baselines"] = baselines(prepared, cfg.data.level, cfg.data.baselines)
    return result


# -- using a trained model -------------------------------------------------------------------
def _tok_labels(loaded: Loaded) -> tuple[Any, Any]:
    from rnnlab.data.tokenizers import LabelVocab, Tokenizer

    return (Tokenizer.from_dict(loaded.payload["tokenizer"]),
            LabelVocab.from_dict(loaded.payload["labels"]))


def evaluate(loaded: Loaded, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """{"accuracy", "macro_f1", "nll", "examples", "per_class", "confusion": {"labels",
    "counts" (true label x predicted label)}} on a file (`data`, in `format`, default the
    run's) or on the run's own `split`."""
    from rnnlab.data.batching import ClassBatches

    o = COMMANDS["evaluate"].bind(options)
    data, split = o.data, o.split
    cfg = loaded.cfg
    tok, labels = _tok_labels(loaded)
    if data is not None:
        cfg.data.format = o.format or cfg.data.format
        exs = read(cfg.data, data, "--data")
    else:
        if o.format is not None:
            raise RnnlabError("--format is the format of --data: give --data, or drop it")
        exs = splits(cfg.data)[0][split]
    if not exs:
        raise RnnlabError(f"nothing to evaluate: the {split if data is None else 'file'} holds "
                          "no examples")
    y = labels.encode((lab for _, lab in exs), "--data label")
    b = ClassBatches([tok.encode(t) for t, _ in exs], y, cfg.train.eval_batch_size)
    r = report(loaded.model, b.epoch(0), labels.itos)
    r["confusion"] = {"labels": list(labels.itos), "counts": r["confusion"]}  # rows: true
    return r


def predict(loaded: Loaded, inputs: list[str], options: Mapping[str, Any] | None = None
            ) -> list[dict[str, Any]]:
    """{"text", "top": [[class, probability]]}: the `top_k` most probable classes of each
    text; with `attention` or `attention_png` (a model trained with --pool attention) also
    "attention": each token's weight, drawn as a heat map into `attention_png`."""
    import torch

    from rnnlab.data.batching import ClassBatches

    o = COMMANDS["predict"].bind(options)
    texts = list(inputs)
    if not texts:
        raise RnnlabError("nothing to classify: give TEXT arguments")
    attention = o.attention or o.attention_png is not None
    tok, labels = _tok_labels(loaded)
    k = min(o.top_k, len(labels))
    b = next(iter(ClassBatches([tok.encode(t) for t in texts], None, len(texts) or 1).epoch(0)))
    with torch.no_grad():
        p = torch.softmax(loaded.model(b).logits.float(), -1)  # (N, K)
        weights = loaded.model.attention_weights(b).tolist() if attention else None  # (N, T)
    top = p.topk(k, dim=1)
    rows = []
    for i, t in enumerate(texts):
        row: dict[str, Any] = {"text": t, "top": [
            [labels.itos[j], float(v)] for v, j in zip(top.values[i].tolist(),
                                                        top.indices[i].tolist(), strict=True)]}
        if weights is not None:
            toks = tok.split(t) or [t]
            row["attention"] = [[w, a] for w, a in zip(toks, weights[i], strict=False)]
        rows.append(row)
    if o.attention_png is not None:
        from rnnlab.plots import plot_token_weights

        plot_token_weights([([w for w, _ in r["attention"]], [a for _, a in r["attention"]],
                             f"{r['top'][0][0]} {r['top'][0][1]:.2f}: {r['text'][:60]}")
                            for r in rows], Path(o.attention_png))
    return rows


def describe_predictions(rows: list[dict[str, Any]], options: Options) -> Shown:
    """CLASS PROBABILITY columns and the text, a line each (--attention: each token's
    weight below it)."""
    notes = ([f"attention heat map: {options.attention_png}"]
             if options.attention_png is not None else [])
    if options.json:
        return Shown(json_lines(rows), notes)
    lines = []
    for r in rows:
        lines.append("\t".join([*(f"{lab} {p:.3f}" for lab, p in r["top"]), r["text"]]))
        if options.attention:
            lines.append("  attention: " + " ".join(f"{w}:{a:.2f}" for w, a in r["attention"]))
    return Shown(lines, notes)


def cv_runs(cfg: RunConfig) -> list[RunConfig]:
    """--cv K (without --fold): the K runs `rnnlab train` makes, fold k the test part of the
    k-th; otherwise none (one ordinary run)."""
    import copy

    if cfg.data.cv is None or cfg.data.fold is not None:
        return []
    runs = []
    for k in range(cfg.data.cv):
        fold = copy.deepcopy(cfg)
        fold.data.fold = k
        runs.append(fold)
    return runs


def cv_summary(folds: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and standard deviation over the folds' test figures (the `finish` of each fold),
    for the model and each baseline."""
    import statistics

    summary: dict[str, Any] = {"folds": len(folds)}
    for name in ("model", *BASELINES):
        if name != "model" and not all(name in f["baselines"] for f in folds):
            continue
        for key in ("accuracy", "macro_f1"):
            v = [f["test"][key] if name == "model" else f["baselines"][name][key]
                 for f in folds]
            summary[f"{name}_{key}"] = {"mean": statistics.mean(v),
                                        "std": statistics.stdev(v) if len(v) > 1 else 0.0,
                                        "folds": v}
    return summary


# -- what the CLI prints ---------------------------------------------------------------------
def describe_cv(summary: dict[str, Any]) -> list[str]:
    lines = [f"{summary['folds']}-fold cross-validation (test folds), mean +- standard "
             "deviation:"]
    for name in ("model", *BASELINES):
        if f"{name}_accuracy" not in summary:
            continue
        a, f = summary[f"{name}_accuracy"], summary[f"{name}_macro_f1"]
        lines.append(f"  {name:<12} accuracy {a['mean']:.4f} +- {a['std']:.4f}  macro-F1 "
                     f"{f['mean']:.4f} +- {f['std']:.4f}")
    return lines



def fmt(m: dict[str, Any] | None) -> str:
    if not m:
        return "n/a"
    return (f"accuracy {m['accuracy']:.4f}  macro-F1 {m['macro_f1']:.4f}  nll "
            f"{m.get('nll', float('nan')):.4f}  ({m['examples']} examples)")


def describe_evaluation(m: dict[str, Any]) -> list[str]:
    return [fmt(m)]


def describe_ready(i: dict[str, Any], out: Path) -> list[str]:
    e = i["examples"]
    return [f"data: {i['source']}  ({e['examples']} examples, {e['duplicates']} exact "
            f"duplicates{' dropped' if e['kept'] < e['examples'] else ''}, "
            f"{e['conflicting_texts']} texts with conflicting labels; split train "
            f"{i['sizes']['train']} | val {i['sizes']['val']} | test {i['sizes']['test']}; "
            f"{i['classes']} classes, vocabulary {i['vocab_size']})",
            f"model: {i['model']}  ({i['params']:,} parameters)  run folder: {out}"] + ([
            "defaults of the best measured recipe (--defaults fixed to keep the documented "
            "ones): " + ", ".join(shown(k, v) for k, v in i["auto"].items())]
        if i.get("auto") else [])


def shown(key: str, value: Any) -> str:
    """A chosen value as its flag: --bidirectional, --no-dedupe, --pool max."""
    if isinstance(value, bool):
        return flag(key) if value else "--no-" + flag(key)[2:]
    return f"{flag(key)} {value}"


def describe_progress(e: dict[str, Any]) -> str:
    s = f"step {e['step']:>6}  train {e['train_loss']:.4f}"
    if "val_nll" in e:
        s += f"  val nll {e['val_nll']:.4f}  accuracy {e['val_accuracy']:.4f}"
    return s + f"  lr {e['lr']:.2e}  {e['time']:.0f}s"


def describe(final: dict[str, Any]) -> list[str]:
    lines = [f"validation: {fmt(final.get('val'))}", f"test:       {fmt(final.get('test'))}"]
    for name, m in final.get("baselines", {}).items():
        lines.append(f"  {name:<12} accuracy {m['accuracy']:.4f}  macro-F1 {m['macro_f1']:.4f}"
                     " (same test part)")
    return lines


def default_out_name(cfg: RunConfig) -> str:
    return f"{Path(cfg.data.data).stem if cfg.data.data else 'data'}-classify-{cfg.model.model}"


# -- the subcommands of a trained run, with their options ------------------------------------
COMMANDS = commands(
    Command("evaluate", "accuracy, macro-F1 and nll", (
        DATA.but(help="a file of labeled texts to evaluate instead of the run's own --split"),
        LABELED_FORMAT, SPLIT,
        JSON.but(help='print JSON {"accuracy", "macro_f1", "nll", "examples", "per_class"}')),
        evaluate, show_evaluation(describe_evaluation)),
    Command("predict", "the most probable classes of each INPUT", (
        TEXTS.but(help="texts to classify", metavar="TEXT"),
        Option("top_k", "the K most probable classes of each text", int, 3, ge=1, le=1 << 20),
        Option("attention", "models trained with --pool attention: each token's attention "
               "weight", bool, False),
        OUT.but(name="attention_png", help="models trained with --pool attention: draw the "
                "weights of every input as a heat map into this PNG file"),
        JSON.but(help='one JSON object {"text", "top"} per text')),
        lambda loaded, o: predict(loaded, o.inputs, o), describe_predictions),
)
