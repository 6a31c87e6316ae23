"""rnnlab: sequence modeling with recurrent neural networks, from counting Markov chains to
LSTMs, trained with backpropagation through time on a laptop CPU.

The public names below are imported on first use (PEP 562), so `import rnnlab` and
`rnnlab --help` do not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "BpttStream": "rnnlab.data.batching", "PaddedBatches": "rnnlab.data.batching",
    "pad_batch": "rnnlab.data.batching", "windows": "rnnlab.data.batching",
    "TagBatches": "rnnlab.data.batching", "TagBatch": "rnnlab.models.base",
    "SequenceTagger": "rnnlab.models.tagger", "read_conllu": "rnnlab.data.readers",
    "Scaler": "rnnlab.data.series", "SeriesWindows": "rnnlab.data.series",
    "load_checkpoint": "rnnlab.checkpoint", "load_model": "rnnlab.checkpoint",
    "save_checkpoint": "rnnlab.checkpoint",
    "RunConfig": "rnnlab.config", "TrainConfig": "rnnlab.config",
    "DecodeConfig": "rnnlab.decoding", "beam_search": "rnnlab.decoding",
    "generate": "rnnlab.decoding", "transform_logits": "rnnlab.decoding",
    "RnnlabError": "rnnlab.errors", "evaluate": "rnnlab.metrics", "build_lm": "rnnlab.models",
    "LMBatch": "rnnlab.models.base", "Output": "rnnlab.models.base",
    "SeriesBatch": "rnnlab.models.base", "State": "rnnlab.models.base",
    "ElmanCell": "rnnlab.models.cells", "GRUCell": "rnnlab.models.cells",
    "LSTMCell": "rnnlab.models.cells", "Forecaster": "rnnlab.models.forecaster",
    "RecurrentLM": "rnnlab.models.lm", "NGramLM": "rnnlab.models.ngram",
    "Recurrent": "rnnlab.models.recurrent", "WindowLM": "rnnlab.models.window",
    "CharTokenizer": "rnnlab.data.tokenizers", "Tokenizer": "rnnlab.data.tokenizers",
    "Vocab": "rnnlab.data.tokenizers", "WordTokenizer": "rnnlab.data.tokenizers",
    "History": "rnnlab.trainer", "Trainer": "rnnlab.trainer",
    "train": "rnnlab.run", "load": "rnnlab.run", "make_config": "rnnlab.runconfig",
    "TASKS": "rnnlab.tasks",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'rnnlab' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
