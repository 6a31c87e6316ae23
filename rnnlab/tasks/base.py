"""What every task module provides, and what its `prepare` returns.

A task (`rnnlab/tasks/<name>.py`) is plain functions over the shared parts, no framework:

    NAME                         the --task value
    COMMANDS                     the subcommands that apply to its runs
    MONITOR                      the validation metric the trainer minimizes ("nll", "mae")
    DataConfig, ModelConfig      dataclasses: the task's own flags (rnnlab.config.param fields)
    check(cfg, given)            combinations of values (ranges are checked by rnnlab.config)
    prepare(cfg, out, resume)    read, split, fit vocabularies or scalers, build batch sources
    build_model(cfg, prepared)   the model (nn.Module of the Output contract)
    validate(model, batches)     what the trainer monitors
    finish(run_dir, prepared, model)   the final figures of a finished training
    evaluate(run, ...)           the --json of `rnnlab evaluate`

Shared parts (batching, models, trainer) import torch; a task imports them inside its
functions, so `rnnlab --help` reads the config classes without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Prepared:
    """A task's data, ready for the driver (rnnlab.run.train)."""

    train: Any  # batch source of the training split (epoch(epoch, start), __len__)
    val: Any | None  # batch source the trainer validates on, or None
    split: dict[str, Any]  # split.json: how the data was divided, sizes and digests
    artifacts: dict[str, Any]  # what travels in every checkpoint (tokenizer, scaler, ...)
    info: dict[str, Any]  # what the CLI prints before training (task's describe_ready)
    counts: Any = None  # count models: what `fit_counts` reads instead of gradient training
    extra: dict[str, Any] = field(default_factory=dict)  # anything else `finish` needs


@dataclass
class Loaded:
    """A trained run: its task, config, best model (eval mode) and checkpoint payload."""

    task: str
    cfg: Any  # RunConfig
    model: Any  # nn.Module
    payload: dict[str, Any]
    path: Path  # the checkpoint file read


def eval_line(e: dict[str, Any]) -> str:
    """The line an evaluation event prints (tasks whose validation metric is `nll`)."""
    s = f"step {e['step']:>6}  train {e['train_loss']:.4f}"
    if "val_nll" in e:
        s += f"  val {e['val_nll']:.4f}"
    return s + f"  lr {e['lr']:.2e}  {e['time']:.0f}s"
