"""The task protocol, and what a task's `prepare` returns.

A task (`rnnlab/tasks/<name>/`) is a package of plain functions over the shared parts, no
framework; `Task` below is what every package provides, checked by the type checker where the
registry (rnnlab/tasks/__init__.py) lists it.

Use time has one naming scheme: `COMMANDS` declares the subcommands a task offers, each with
its options (`rnnlab.options.Command`); the command line builds its parsers from them and
calls `Command.run(loaded, options)` and `Command.show(result, options)`, never a task by
name. `evaluate` and `predict` are the two every task offers; `describe_evaluation` and
`describe_predictions` are what the command line prints of their results.

Shared parts (batching, models, trainer) import torch; a task imports them inside its
functions, so `rnnlab --help` reads the config classes without importing torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from rnnlab.config import RunConfig
    from rnnlab.options import Command, Options, Shown


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


class Task(Protocol):
    """What every task package provides (module attributes and functions)."""

    NAME: str  # the --task value
    TITLE: str  # a human name, as errors name the task
    COMMANDS: dict[str, Command]  # the use-time subcommands it offers, with their options
    MONITOR: str  # the validation figure the trainer minimizes by default
    MONITORS: tuple[str, ...]  # the figures --monitor may name
    DataConfig: type  # dataclasses of the task's own flags (rnnlab.config.param fields)
    ModelConfig: type
    # -- training side: what `rnnlab train` and rnnlab.runconfig ask the task --
    EVAL_AT_START: bool  # validate before the first step too (the trainer's eval_at_start)
    MODEL_ONLY: dict[str, tuple[str, ...]]  # model field -> the models that read it
    TRAIN_UNUSED: tuple[str, ...]  # TrainConfig fields no run of the task reads
    RENAMED: dict[str, str]  # old "section.key" -> its new name (read with a note)
    EXAMPLES: tuple[str, ...]  # commands that end `rnnlab train --task NAME --help`

    def check(self, cfg: RunConfig, given: set[str] | None) -> None:
        """Combinations of values (single values are range-checked by rnnlab.config)."""

    def prepare(self, cfg: RunConfig, out: Path, resume: dict[str, Any] | None) -> Prepared:
        """Read, split, fit vocabularies or scalers, build batch sources."""

    def build_model(self, cfg: RunConfig, prepared: Prepared) -> Any:
        """The model (an nn.Module of the Output contract)."""

    def validate(self, model: Any, batches: Any) -> dict[str, Any]:
        """What the trainer monitors ("nll", "error_rate", "mae")."""

    def finish(self, cfg: RunConfig, prepared: Prepared, model: Any, out: Path
               ) -> dict[str, Any]:
        """The final figures of a finished training."""

    def default_out_name(self, cfg: RunConfig) -> str:
        """The run folder's name under runs/ when --out is not given."""

    def describe_ready(self, info: dict[str, Any], out: Path) -> list[str]:
        """The lines printed before training."""

    def describe_progress(self, e: dict[str, Any]) -> str:
        """The line printed at each evaluation during training."""

    def cv_runs(self, cfg: RunConfig) -> list[RunConfig]:
        """The configs of a cross-validation (one per fold), or [] for one ordinary run."""

    def cv_summary(self, folds: list[dict[str, Any]]) -> dict[str, Any]:
        """cv.json: the summary of the folds' final figures (asked only when cv_runs gave
        some)."""

    def describe_cv(self, summary: dict[str, Any]) -> list[str]:
        """The lines printed of `cv_summary`."""

    def samples_after_training(self, cfg: RunConfig, prepared: Prepared, model: Any, n: int
                               ) -> tuple[list[str], str] | None:
        """What `rnnlab train` shows at its end (lines, samples.txt), or None."""

    def describe(self, final: dict[str, Any]) -> list[str]:
        """The lines printed after training."""

    # -- use time: every task offers `evaluate` and `predict` (COMMANDS holds the others) --
    def evaluate(self, loaded: Loaded, options: Mapping[str, Any] | None = None
                 ) -> dict[str, Any]:
        """The figures of `rnnlab evaluate` (its --json) on the run's split or a file."""

    def predict(self, loaded: Loaded, inputs: list[str], options: Mapping[str, Any] | None = None
                ) -> Any:
        """The task's prediction for `inputs` (a list of rows, or a dict)."""

    def describe_evaluation(self, result: dict[str, Any]) -> list[str]:
        """The lines `rnnlab evaluate` prints of `evaluate`'s result."""

    def describe_predictions(self, result: Any, options: Options) -> Shown:
        """What `rnnlab predict` prints of `predict`'s result (--json: one object a line)."""
