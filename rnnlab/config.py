"""Run configuration: typed dataclasses with the defaults, and TOML/JSON io.

Precedence when the CLI builds a config: these defaults < a `--config FILE.toml` < flags.
A TOML file has up to three tables, `[data]`, `[model]`, `[train]`, whose keys are the field
names below (the CLI flags are the same names with dashes).
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnlab.errors import RnnlabError


@dataclass
class DataConfig:
    data: str | None = None  # None: the embedded Spanish names
    format: str = "lines"  # "text" (one stream) or "lines" (one example per line)
    level: str = "char"  # "char" or "word"
    val_data: str | None = None  # explicit splits, else split `data` deterministically
    test_data: str | None = None
    split_seed: int = 1337
    val_size: int | None = None  # lines: examples (default min(1000, 10%))
    test_size: int | None = None
    val_fraction: float = 0.05  # text: contiguous fractions
    test_fraction: float = 0.05
    min_freq: int = 1
    max_vocab: int | None = None
    direction: str = "l2r"  # "r2l": train and score on reversed lines (see run.encode_split)


@dataclass
class ModelConfig:
    model: str = "lstm"  # bigram, ngram, linear, mlp, cnn, rnn, gru, lstm
    embedding_dim: int = 64
    hidden_size: int = 256
    num_layers: int = 1
    dropout: float = 0.3  # small character data overfits fast without it
    tie_weights: bool = False
    impl: str = "fused"  # recurrent models: "fused" (torch.nn) or "loop" (hand-written cells)
    feedback: bool = False  # Elman output-to-hidden R y_{t-1} (loop impl)
    init_range: float | None = None
    context: int = 3  # window models
    direct: bool = False  # Bengio's direct input-to-output connection
    order: int = 3  # n-gram
    smoothing: str = "mkn"
    k: float = 1.0  # add-k


@dataclass
class TrainConfig:
    batch_size: int = 32
    seq_len: int = 64  # TBPTT chunk length (text format)
    partition: str = "sequential"  # text format: "sequential" or "random"
    optimizer: str = "adamw"  # "adamw" or "sgd"
    lr: float = 3e-3
    weight_decay: float = 0.1  # on matrices only (see trainer.make_optimizer)
    momentum: float = 0.0
    schedule: str = "cosine"  # "constant", "cosine" (after warmup), "step" (decay per epoch)
    warmup: int = 0  # steps
    lr_decay: float = 0.5  # "step": multiply by this every epoch from `decay_start`
    decay_start: int = 4  # "step": first epoch (0-based) with a decayed lr
    clip: float | None = 1.0  # max global gradient norm; None disables clipping
    max_steps: int = 2000
    max_epochs: int | None = None
    max_time: float | None = None  # seconds of training
    clock: str = "wall"  # max_time and logged times: "wall", or "cpu" (this process's CPU time)
    eval_every: int = 100
    eval_batch_size: int = 256
    patience: int | None = 4  # evaluations without improvement before stopping; None: never
    seed: int = 0
    threads: int | None = None  # torch intra-op threads; None: torch's default
    precision: str = "fp32"  # "bf16": autocast the training forward (fp32 weights and loss)
    fused_loss: bool = False  # output layer + cross-entropy in one pass (models/lm.py)
    compile: bool = False  # torch.compile the training forward (minutes of compile on CPU)
    stream_val_batch: int = 1  # text format: rows of the validation stream during training
    log_grad_norms: bool = False  # per-parameter gradient norms in metrics.jsonl


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        cfg = cls()
        cfg.update(d, source="config")
        return cfg

    def update(self, d: dict[str, Any], source: str) -> None:
        """Overlay `{section: {key: value}}`, refusing keys that do not exist."""
        for section, values in d.items():
            target = getattr(self, section, None)
            if target is None or not dataclasses.is_dataclass(target):
                raise RnnlabError(
                    f"{source}: unknown section [{section}]; use [data], [model] or [train]"
                )
            names = {f.name for f in dataclasses.fields(target)}
            for key, value in values.items():
                if key not in names:
                    raise RnnlabError(
                        f"{source}: unknown key {key!r} in [{section}]; known keys: "
                        f"{', '.join(sorted(names))}"
                    )
                setattr(target, key, value)

    def save_json(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")


def load_toml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise RnnlabError(f"--config: file {str(p)!r} does not exist; check the path")
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise RnnlabError(f"--config: {str(p)!r} is not valid TOML ({e}); fix the file") from None
