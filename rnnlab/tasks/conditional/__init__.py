"""Conditional generation (the notes' "fixed input", one-to-many): a sequence from a single
input, here a character language model conditioned on a class, p(x_1..x_n | c) =
prod_t p(x_t | x_<t, c), e.g. a surname given its language.

Data flow: labeled examples (`tasks/labeled.py`: tsv or folder, deduplicated, stratified
split) -> tokenizer and `LabelVocab` from the training part -> `batching.CondBatches`
(<bos> w1..wn / w1..wn <eos>, padded, with the class ids) -> `models.conditional.ConditionalLM`
(the class as the initial state, or concatenated to every input). To show what the condition
buys, `finish` also trains the same architecture without the class (`condition="none"`) on
the same split with the same budget, and reports both NLLs per character.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from rnnlab.data.labeled import (
    check_labeled,
    encoded,
    splits,
    vocabularies,
)
from rnnlab.errors import RnnlabError
from rnnlab.options import (
    DATA,
    DECODING,
    JSON,
    LABELED_FORMAT,
    NUM,
    PROMPT,
    SPLIT,
    TEXTS,
    Command,
    Option,
    Options,
    Shown,
    commands,
    decode_config,
    json_lines,
    show_evaluation,
)
from rnnlab.tasks.base import Loaded, Prepared, eval_line
from rnnlab.tasks.conditional.config import EXAMPLES as EXAMPLES
from rnnlab.tasks.conditional.config import MODEL_ONLY as MODEL_ONLY
from rnnlab.tasks.conditional.config import RENAMED as RENAMED
from rnnlab.tasks.conditional.config import TRAIN_UNUSED as TRAIN_UNUSED
from rnnlab.tasks.conditional.config import DataConfig as DataConfig
from rnnlab.tasks.conditional.config import ModelConfig as ModelConfig
from rnnlab.tasks.single_run import cv_runs as cv_runs
from rnnlab.tasks.single_run import cv_summary as cv_summary
from rnnlab.tasks.single_run import describe_cv as describe_cv
from rnnlab.tasks.single_run import samples_after_training as samples_after_training

if TYPE_CHECKING:  # type hints only: no import at run time
    from torch import nn

    from rnnlab.config import RunConfig
    from rnnlab.decoding import DecodeConfig

NAME = "conditional"
TITLE = "conditional generation"
MONITOR = "nll"
MONITORS = (MONITOR,)
EVAL_AT_START = False  # no validation before the first step
UNCONDITIONED = "unconditioned.pt"  # the twin without the class, in the run folder


def check(cfg: RunConfig, given: set[str] | None) -> None:
    check_labeled(cfg.data, given, NAME)


# -- training --------------------------------------------------------------------------------
def prepare(cfg: RunConfig, out: Path, resume: dict[str, Any] | None) -> Prepared:
    from rnnlab.data.batching import CondBatches

    d, tc = cfg.data, cfg.train
    parts, record = splits(d)
    tok, labels, counts = vocabularies(d, parts, resume)
    if not counts:
        raise RnnlabError("the training part holds no examples; pass more data")

    def source(part: str, batch_size: int, shuffle: bool) -> CondBatches | None:
        data = encoded(parts, part, tok, labels)
        return CondBatches(*data, batch_size, shuffle, tc.seed) if data else None

    train = cast("CondBatches", source("train", tc.batch_size, True))  # counts: not empty
    info = {"source": d.data, "examples": record["dedupe"], "classes": len(labels),
            "sizes": record["sizes"], "vocab_size": len(tok), "model": cfg.model.model,
            "condition": cfg.model.condition, "train_tokens": train.num_tokens()}
    return Prepared(train, source("val", tc.eval_batch_size, False), record,
                    {"tokenizer": tok.to_dict(), "labels": labels.to_dict()}, info,
                    extra={"parts": parts, "tokenizer": tok, "labels": labels,
                           "test": source("test", tc.eval_batch_size, False)})


def model_for(cfg: RunConfig, vocab_size: int, num_classes: int, condition: str) -> nn.Module:
    from rnnlab.models.conditional import ConditionalLM

    m = cfg.model
    return ConditionalLM(vocab_size=vocab_size, num_classes=num_classes, cell=m.model,
                         embedding_dim=m.embedding_dim, hidden_size=m.hidden_size,
                         num_layers=m.num_layers, dropout=m.dropout, impl=m.impl,
                         condition=condition, class_dim=m.class_dim)


def build_model(cfg: RunConfig, prepared: Prepared) -> nn.Module:
    return model_for(cfg, prepared.info["vocab_size"], prepared.info["classes"],
                     cfg.model.condition)


def validate(model: nn.Module, batches: Any) -> dict[str, Any]:
    from rnnlab.metrics import evaluate

    return evaluate(model, batches)


def finish(cfg: RunConfig, prepared: Prepared, model: nn.Module, out: Path) -> dict[str, Any]:
    """Conditioned NLL per character on validation and test; with --unconditioned, the same
    architecture trained without the class on the same split and budget (unconditioned.pt)."""
    import torch

    from rnnlab.checkpoint import rebuild_model, save_checkpoint
    from rnnlab.metrics import evaluate
    from rnnlab.trainer import Trainer

    def scores(net: nn.Module) -> dict[str, Any]:
        return {split: evaluate(net, b.epoch(0)) for split, b in
                (("val", prepared.val), ("test", prepared.extra["test"])) if b is not None}

    result = {"conditioned": scores(model)}
    if cfg.model.unconditioned:
        torch.manual_seed(cfg.train.seed)
        twin = model_for(cfg, prepared.info["vocab_size"], prepared.info["classes"], "none")
        best: dict[str, Any] = {}

        def keep_best(net: nn.Module, batches: Any) -> dict[str, Any]:
            m = evaluate(net, batches)
            if m["nll"] < best.get("nll", float("inf")):
                best.update(nll=m["nll"], state={k: v.clone() for k, v in
                                                 net.state_dict().items()})
            return m

        Trainer(cfg.train, None, None, {}, eval_fn=keep_best).fit(twin, prepared.train,
                                                                   prepared.val)
        if "state" in best:
            twin.load_state_dict(best["state"])
        save_checkpoint(out / UNCONDITIONED, {"model_class": type(twin).__name__,
                                              "hparams": dict(cast(dict[str, Any],
                                                                   twin.hparams)),
                                              "model_state": twin.state_dict()})
        twin = rebuild_model({"model_class": type(twin).__name__, "hparams": twin.hparams,
                              "model_state": twin.state_dict()})
        result["unconditioned"] = scores(twin)
    return result


# -- using a trained model -------------------------------------------------------------------
def _tok_labels(loaded: Loaded) -> tuple[Any, Any]:
    from rnnlab.data.tokenizers import LabelVocab, Tokenizer

    return (Tokenizer.from_dict(loaded.payload["tokenizer"]),
            LabelVocab.from_dict(loaded.payload["labels"]))


def evaluate(loaded: Loaded, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """{"nll", "ppl", "bpc", "tokens"} of the conditioned model on a file (`data`, in
    `format`) or the run's `split`, and "unconditioned": the same for the twin trained
    without the class, when present."""
    from rnnlab.checkpoint import load_checkpoint, rebuild_model
    from rnnlab.data.batching import CondBatches
    from rnnlab.data.labeled import read
    from rnnlab.metrics import evaluate as evaluate_batches

    o = COMMANDS["evaluate"].bind(options)
    cfg = loaded.cfg
    tok, labels = _tok_labels(loaded)
    if o.data is not None:
        cfg.data.format = o.format or cfg.data.format
        exs = read(cfg.data, o.data, "--data")
    else:
        if o.format is not None:
            raise RnnlabError("--format is the format of --data: give --data, or drop it")
        exs = splits(cfg.data)[0][o.split]
    if not exs:
        raise RnnlabError("nothing to evaluate: no examples")
    y = labels.encode((lab for _, lab in exs), "--data label")
    b = CondBatches([tok.encode(t) for t, _ in exs], y, cfg.train.eval_batch_size)
    m: dict[str, Any] = evaluate_batches(loaded.model, b.epoch(0))
    twin = loaded.path.parent / UNCONDITIONED
    if twin.is_file():
        m["unconditioned"] = evaluate_batches(rebuild_model(load_checkpoint(twin)), b.epoch(0))
    return m


def generate(loaded: Loaded, condition: str, dc: DecodeConfig, num: int, prompt: str = "",
             seed: int = 0) -> list[str]:
    """`num` sequences of class `condition` (continuing `prompt`, if given)."""
    import dataclasses

    import torch

    from rnnlab.data.tokenizers import BOS_ID, unk_untrained
    from rnnlab.decoding import generate as decode

    dc.check()
    dc = dataclasses.replace(dc, block_unk=dc.block_unk or unk_untrained(loaded.cfg.data))
    tok, labels = _tok_labels(loaded)
    if not condition:
        raise RnnlabError(f"--condition is needed: one of {', '.join(labels.itos[:20])}")
    c = labels.encode([condition], "--condition")[0]
    ids = [BOS_ID, *tok.encode_strict(prompt, "--prompt")] if prompt else [BOS_ID]
    if dc.strategy == "beam_search":
        num = 1
    g = torch.Generator().manual_seed(seed)
    rows = decode(loaded.model, [ids] * num, dc, g, condition=torch.full((num,), c))
    return [prompt + tok.decode(r) for r in rows]


def training_texts(loaded: Loaded) -> set[str]:
    return {t for t, _ in splits(loaded.cfg.data)[0]["train"]}


def _samples(loaded: Loaded, conditions: list[str], o: Options) -> list[dict[str, Any]]:
    """{"condition", "text", "new"} rows: `num` samples of each condition (one with greedy or
    beam_search); "new": not a text of the training part."""
    dc, seen = decode_config(o), training_texts(loaded)
    num = o.num if o.strategy == "sample" else 1
    return [{"condition": c, "text": t, "new": t not in seen} for c in conditions
            for t in generate(loaded, c, dc, num, o.get("prompt", ""), o.seed)]


def generate_texts(loaded: Loaded, options: Mapping[str, Any] | None = None
                   ) -> list[dict[str, Any]]:
    """`rnnlab generate`: samples of class `condition`, marked new or in the training set."""
    o = COMMANDS["generate"].bind(options)
    return _samples(loaded, [o.condition or ""], o)


def predict(loaded: Loaded, inputs: list[str], options: Mapping[str, Any] | None = None
            ) -> list[dict[str, Any]]:
    """`num` samples of each class in `inputs`, marked new or in the training set."""
    o = COMMANDS["predict"].bind(options)
    if not inputs:
        raise RnnlabError("give the classes to generate for as INPUT arguments")
    return _samples(loaded, list(inputs), o)


def describe_predictions(rows: list[dict[str, Any]], options: Options) -> Shown:
    """Samples as `make demo` marks names: CLASS<TAB>TEXT new | in training set."""
    if options.json:
        return Shown(json_lines(rows))
    return Shown([f"{r['condition']}\t{r['text']:<24} "
                  f"{'new' if r['new'] else 'in training set'}" for r in rows])


# -- what the CLI prints ---------------------------------------------------------------------
def describe_evaluation(m: dict[str, Any]) -> list[str]:
    lines = [f"conditioned    nll {m['nll']:.4f} nats/char  ppl {m['ppl']:.3f}  "
             f"({m['tokens']} tokens)"]
    if "unconditioned" in m:
        u = m["unconditioned"]
        lines.append(f"unconditioned  nll {u['nll']:.4f} nats/char  ppl {u['ppl']:.3f}  "
                     f"(the same model trained without the class)")
    return lines


def describe_ready(i: dict[str, Any], out: Path) -> list[str]:
    e = i["examples"]
    return [f"data: {i['source']}  ({e['examples']} examples, {e['duplicates']} exact "
            f"duplicates; split train {i['sizes']['train']} | val {i['sizes']['val']} | test "
            f"{i['sizes']['test']}; {i['classes']} classes, vocabulary {i['vocab_size']})",
            f"model: {i['model']}, condition {i['condition']}  ({i['params']:,} parameters)  "
            f"run folder: {out}"]


def describe_progress(e: dict[str, Any]) -> str:
    return eval_line(e)


def describe(final: dict[str, Any]) -> list[str]:
    lines = []
    for name in ("conditioned", "unconditioned"):
        for split, m in final.get(name, {}).items():
            lines.append(f"{name:<13} {split:<4} nll {m['nll']:.4f} nats/char  ppl "
                         f"{m['ppl']:.3f}  ({m['tokens']} tokens)")
    return lines


def default_out_name(cfg: RunConfig) -> str:
    stem = Path(cfg.data.data).stem if cfg.data.data else "data"
    return f"{stem}-conditional-{cfg.model.model}"


# -- the subcommands of a trained run, with their options ------------------------------------
PER_CLASS = NUM.but(help="samples per class (greedy and beam_search give one)", default=5)
SAMPLES_JSON = JSON.but(help='one JSON object {"condition", "text", "new"} per sample')
COMMANDS = commands(
    Command("evaluate", "nll and perplexity, conditioned and not", (
        DATA.but(help="a file of labeled texts to evaluate instead of the run's own --split"),
        LABELED_FORMAT,
        SPLIT, JSON.but(help='print JSON {"nll", "ppl", "bpc", "tokens", "unconditioned"}')),
        evaluate, show_evaluation(describe_evaluation)),
    Command("generate", "samples of the class --condition", (
        Option("condition", "the class to generate for (needed)", str),
        PROMPT.but(help="text the samples start with",
                   special={"": "none: a sample starts at the beginning"}),
        NUM, *DECODING, SAMPLES_JSON),
        generate_texts, describe_predictions),
    Command("predict", "samples of each class INPUT", (
        TEXTS.but(help="the classes to generate for", metavar="CLASS"), PER_CLASS, *DECODING,
        SAMPLES_JSON),
        lambda loaded, o: predict(loaded, o.inputs, o), describe_predictions),
)
