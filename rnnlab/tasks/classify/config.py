"""The classify task's configuration: its `[data]` and `[model]` fields (flags of `rnnlab train
--task classify`) and which models read which. Torch-free: `rnnlab --help` reads it."""

from __future__ import annotations

from dataclasses import dataclass

from rnnlab.config import STREAM_FIELDS, param
from rnnlab.data.labeled import LabeledDataConfig

POOLS = ("last", "mean", "max", "attention")
BASELINES = ("majority", "naive_bayes", "nbsvm")  # nbsvm: with scikit-learn installed


@dataclass
class DataConfig(LabeledDataConfig):
    cv: int | None = param(None, "K-fold cross-validation: K runs, mean and standard deviation",
                           ge=2, le=100)
    fold: int | None = param(None, "with --cv: run only this fold (0-based) as the test part",
                             ge=0, le=99)
    baselines: str = param("all", "baselines fitted on the same split and printed beside the "
                           "model: all (majority, naive Bayes, and NBSVM where scikit-learn "
                           "is installed), counting (majority and naive Bayes: NBSVM takes "
                           "tens of CPU seconds on many classes), none",
                           choices=("all", "counting", "none"))
    defaults: str = param("auto", "auto: the fields you do not set follow the best measured "
                          "recipe for the texts (several words per example: words, "
                          "bidirectional GRU with max pooling, dropout 0.5, word dropout, "
                          "--monitor error_rate; names and other short single tokens: the "
                          "character GRU; rnnlab/tasks/classify/defaults.py); fixed: the "
                          "documented defaults", choices=("auto", "fixed"))


@dataclass
class ModelConfig:
    model: str = param("gru", "rnn (Elman), gru, lstm", choices=("rnn", "gru", "lstm"),
                       noun="classifier")
    embedding_dim: int = param(64, "embedding size", ge=1, le=1 << 16)
    hidden_size: int = param(128, "hidden units per layer and direction", ge=1, le=1 << 16)
    num_layers: int = param(1, "stacked recurrent layers", ge=1, le=64)
    bidirectional: bool = param(False, "read each sequence in both directions")
    pool: str = param("last", "summary of the steps: last (final state), mean, max, attention "
                      "(additive, weights can be shown)", choices=POOLS)
    dropout: float = param(0.2, "dropout probability", ge=0, lt=1)
    embedding_dropout: float = param(0.0, "dropout on the embedded tokens (before the "
                                     "recurrent layers)", ge=0, lt=1)
    word_dropout: float = param(0.0, "alpha: in training a token of training frequency f "
                                "reads <unk> with probability alpha / (alpha + f)", ge=0,
                                le=1e6)
    impl: str = param("fused", "fused (PyTorch's nn kernels) or loop (hand-written cells)",
                      choices=("fused", "loop"))
    class_weights: str = param("none", "none, or balanced: weight class k by n / (K n_k)",
                               choices=("none", "balanced"))


MODEL_ONLY: dict[str, tuple[str, ...]] = {}  # every model reads every field
# TrainConfig fields no classify run reads
TRAIN_UNUSED: tuple[str, ...] = (*STREAM_FIELDS, "fused_loss")
RENAMED: dict[str, str] = {}  # old "section.key" -> new (none)
# `rnnlab train --task classify --help` ends with these (each runs on a file of yours)
EXAMPLES: tuple[str, ...] = (
    "rnnlab train --task classify --data reviews.tsv --level word --out runs/reviews-gru",
    "rnnlab train --task classify --data names_by_language --bidirectional --pool attention",
    "rnnlab train --task classify --data reviews.tsv --level word --cv 10 --max-steps 500",
)
