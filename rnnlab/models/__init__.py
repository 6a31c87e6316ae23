"""Model registry: `--model` names -> constructors, and rebuilding from checkpoint hparams."""

from __future__ import annotations

from typing import Any

from torch import nn

from rnnlab.errors import RnnlabError

LM_MODELS = ("bigram", "ngram", "linear", "mlp", "cnn", "rnn", "gru", "lstm")


def model_class(name: str) -> type[nn.Module]:
    if name in ("bigram", "ngram"):
        return _import("NGramLM")
    if name in ("linear", "mlp", "cnn"):
        return _import("WindowLM")
    if name in ("rnn", "gru", "lstm"):
        return _import("RecurrentLM")
    raise RnnlabError(
        f"unknown model {name!r}; choose one of: {', '.join(LM_MODELS)}"
    )


def build_lm(name: str, vocab_size: int, **kw: Any) -> nn.Module:
    """Build a language model by `--model` name; `kw` are the model's hyper-parameters."""
    cls = model_class(name)
    if name == "bigram":
        kw = {"order": 2, "smoothing": "add-k", "k": kw.get("k", 1.0)}
    elif name in ("linear", "mlp", "cnn"):
        kw = {**kw, "kind": name}
    elif name in ("rnn", "gru", "lstm"):
        kw = {**kw, "cell": name}
    return cls(vocab_size=vocab_size, **kw)


# checkpoint class name -> module that defines it (imported only when needed)
MODEL_MODULES: dict[str, str] = {
    "RecurrentLM": "rnnlab.models.lm",
    "WindowLM": "rnnlab.models.window",
    "NGramLM": "rnnlab.models.ngram",
    "Forecaster": "rnnlab.models.forecaster",
    "ForecastCombination": "rnnlab.models.forecaster",
    "SequenceClassifier": "rnnlab.models.classifier",
    "NaiveBayes": "rnnlab.models.naive_bayes",
    "ConditionalLM": "rnnlab.models.conditional",
    "SequenceTagger": "rnnlab.models.tagger",
    "HMMTagger": "rnnlab.models.hmm",
    "Seq2Seq": "rnnlab.models.seq2seq",
}


def _import(class_name: str) -> type[nn.Module]:
    # each model module is imported when first needed: a run loads only its own model's code
    import importlib

    return getattr(importlib.import_module(MODEL_MODULES[class_name]), class_name)


def rebuild(class_name: str, hparams: dict[str, Any]) -> nn.Module:
    """Rebuild a model from the class name and hparams stored in a checkpoint."""
    if class_name not in MODEL_MODULES:
        raise RnnlabError(
            f"checkpoint names an unknown model class {class_name!r}; it was written by a "
            "different program or a newer rnnlab"
        )
    return _import(class_name)(**hparams)
