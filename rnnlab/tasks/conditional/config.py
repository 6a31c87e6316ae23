"""The conditional task's configuration: its `[data]` and `[model]` fields (flags of `rnnlab train
--task conditional`) and which models read which. Torch-free: `rnnlab --help` reads it."""

from __future__ import annotations

from dataclasses import dataclass

from rnnlab.config import STREAM_FIELDS, param
from rnnlab.data.labeled import LabeledDataConfig


@dataclass
class DataConfig(LabeledDataConfig):
    pass


@dataclass
class ModelConfig:
    model: str = param("gru", "rnn (Elman), gru, lstm", choices=("rnn", "gru", "lstm"),
                       noun="conditional model")
    condition: str = param("concat", "how the class enters: init (its embedding is the initial "
                           "state) or concat (beside every input)", choices=("init", "concat"))
    class_dim: int = param(32, "class embedding size", ge=1, le=1 << 16)
    embedding_dim: int = param(64, "embedding size", ge=1, le=1 << 16)
    hidden_size: int = param(256, "hidden units per layer", ge=1, le=1 << 16)
    num_layers: int = param(1, "stacked recurrent layers", ge=1, le=64)
    dropout: float = param(0.1, "dropout probability", ge=0, lt=1)
    impl: str = param("fused", "fused (PyTorch's nn kernels) or loop (hand-written cells)",
                      choices=("fused", "loop"))
    unconditioned: bool = param(True, "also train the same model without the class, for "
                                "comparison (twice the training time)")


MODEL_ONLY: dict[str, tuple[str, ...]] = {}  # every model reads every field
# TrainConfig fields no conditional run reads
TRAIN_UNUSED: tuple[str, ...] = (*STREAM_FIELDS, "fused_loss")
RENAMED: dict[str, str] = {}  # old "section.key" -> new (none)
# `rnnlab train --task conditional --help` ends with these (a dataset name or a file of yours)
EXAMPLES: tuple[str, ...] = (
    "rnnlab train --task conditional --data names_by_language --out runs/names-by-language",
    "rnnlab train --task conditional --data reviews.tsv --level word --condition init "
    "--no-unconditioned",
)
