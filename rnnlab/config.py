"""Run configuration: typed fields with their defaults, validation in one place, TOML io.

A run is `RunConfig(task, data, model, train)`: `task` names a package of `rnnlab.tasks`,
which owns the classes of `data` and `model`; `train` (TrainConfig, here) is shared by every
task. `rnnlab.runconfig.make_config` builds one with the task's defaults and checks it.
Precedence when a config is built: these defaults < a `--config FILE.toml` < flags. A TOML
file has a top-level `task = "..."` key (default "lm") and up to three tables, `[data]`,
`[model]`, `[train]`, whose keys are the field names (the CLI flags are the same names with
dashes).

Every field is declared with `param(default, help, ...)`: its range, choices and the values
with a special meaning (`0` = off for `clip`, ...) live beside it, so the CLI's `--help`, the
TOML loader and the Python API check exactly the same thing (`check_section`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnlab.errors import RnnlabError

SECTIONS = ("data", "model", "train")
BIG = 1 << 62  # "no practical limit" for counts such as --max-steps
# TrainConfig fields that only a text stream cut into TBPTT chunks reads (lm --format text); a
# task that trains on no such stream lists them in its TRAIN_UNUSED
STREAM_FIELDS: tuple[str, ...] = ("seq_len", "partition", "stream_val_batch", "eval_rows")


def param(
    default: Any, help: str, *, choices: tuple[str, ...] | None = None,
    ge: float | None = None, gt: float | None = None, le: float | None = None,
    lt: float | None = None, special: dict[Any, str] | None = None, noun: str | None = None,
    input: bool = False,
) -> Any:
    """A config field: default, one-line help, and what a valid value is. `special` maps
    values outside the range to their documented meaning (e.g. {0: "no clipping"}); `input`
    marks a path the run reads (`rnnlab train` checks it exists before anything else)."""
    meta = {"help": help, "choices": choices, "ge": ge, "gt": gt, "le": le, "lt": lt,
            "special": special or {}, "noun": noun, "input": input}
    return field(default=default, metadata=meta)


@dataclass
class TrainConfig:
    """The training fields every task shares (`[train]` in TOML, flags of `rnnlab train`),
    each declared with its range and meaning by `param`."""

    batch_size: int = param(32, "sequences (or windows) per training batch", ge=1, le=1 << 20)
    seq_len: int = param(64, "text format: TBPTT chunk length", ge=1, le=1 << 20)
    partition: str = param("sequential", "text format: sequential (carry state) or random "
                           "(reset state)", choices=("sequential", "random"))
    optimizer: str = param("adamw", "adamw or sgd", choices=("adamw", "sgd"))
    lr: float = param(3e-3, "learning rate", gt=0, le=100)
    weight_decay: float = param(0.1, "weight decay (adamw: on matrices only)", ge=0, le=100)
    momentum: float = param(0.0, "sgd momentum", ge=0, lt=1)
    schedule: str = param("cosine", "constant, cosine (after warmup) or step (decay per epoch)",
                          choices=("constant", "cosine", "step"))
    warmup: int = param(0, "warmup steps", ge=0, le=BIG)
    lr_decay: float = param(0.5, "step schedule: factor per epoch", gt=0, le=1)
    decay_start: int = param(4, "step schedule: first decayed epoch (0-based)", ge=0, le=BIG)
    clip: float | None = param(1.0, "max global gradient norm", gt=0, le=1e12,
                               special={0: "no clipping"})
    max_steps: int = param(2000, "stop after this many optimizer steps", ge=1, le=BIG)
    max_epochs: int | None = param(None, "stop after this many epochs (default: no limit)",
                                   ge=1, le=BIG)
    max_time: float | None = param(None, "stop after this many seconds of training", gt=0,
                                   le=1e9, special={0: "no limit"})
    clock: str = param("wall", "wall, or cpu: --max-time counts this process's CPU seconds "
                       "(shared box)", choices=("wall", "cpu"))
    eval_every: int = param(100, "evaluate and checkpoint every N steps", ge=1, le=BIG)
    budget_evals: int | None = param(None, "with --max-time: N evaluations over the budget, "
                                     "by time (rnnlab/budget.py)", ge=1, le=BIG)
    eval_batch_size: int = param(256, "lines format: sequences per evaluation batch", ge=1,
                                 le=1 << 20)
    patience: int | None = param(4, "stop after N evaluations without improvement", ge=1,
                                 le=BIG, special={0: "never stop early"})
    patience_margin: float = param(0.0, "--patience: relative rise over the best that stops "
                                   "(rnnlab/budget.py)", ge=-0.5, le=1)
    monitor: str = param("auto", "validation figure whose lowest value keeps best.pt and "
                         "drives --patience: auto (the task's own), nll, or error_rate "
                         "(classify, tag)", choices=("auto", "nll", "error_rate"))
    seed: int = param(0, "random seed of initialization, dropout and batch order", ge=0,
                      le=(1 << 63) - 1)
    threads: int | None = param(None, "torch threads (default: 1 unless the model is huge; "
                                "rnnlab/threads.py)", ge=1, le=1024)
    precision: str = param("fp32", "fp32; bf16: autocast the training forward (fp32 weights "
                           "and loss); bf16-head: only the fused output layer in bf16",
                           choices=("fp32", "bf16", "bf16-head"))
    fused_loss: bool = param(False, "output layer + cross-entropy in one pass (recurrent LMs, "
                                    "translation)")
    compile: bool = param(False, "torch.compile the training forward (minutes on CPU)")
    stream_val_batch: int = param(1, "text format: validation rows during training (1: exact)",
                                  ge=1, le=1 << 20)
    eval_rows: int = param(1, "text format: rows of the final evaluation and of `rnnlab "
                           "evaluate` (1: exact; B > 1: B times fewer sequential steps, each "
                           "row after a warm-up of context)", ge=1, le=1 << 20)
    log_grad_norms: bool = param(False, "per-parameter gradient norms in metrics.jsonl")
    device: str = param("cpu", "cpu, or cuda (one GPU per torchrun process; untested here)",
                        choices=("cpu", "cuda"))
    dist_timeout: float = param(300.0, "torchrun: seconds a rank waits for the others in a "
                                "collective before it stops with an error", gt=0, le=86400)


# -- validation ------------------------------------------------------------------------------
def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def field_types(cls: type) -> dict[str, tuple[set[type], bool]]:
    """name -> (allowed Python types, None allowed) from a config dataclass's annotations."""
    out = {}
    for name, hint in typing.get_type_hints(cls).items():
        args = set(typing.get_args(hint)) if isinstance(hint, types.UnionType) else {hint}
        out[name] = ({a for a in args if a is not type(None)}, type(None) in args)
    return out


def _num(v: float) -> str:
    if isinstance(v, int) and v >= 1 << 32:  # 2^63 - 1 reads better than 19 digits
        for k, sub in ((v.bit_length(), 1), (v.bit_length() - 1, 0)):
            if v == (1 << k) - sub:
                return f"2^{k}" + (" - 1" if sub else "")
    return f"{v:,}" if isinstance(v, int) else f"{v:g}"


def expectation(f: dataclasses.Field, kinds: set[type]) -> str:
    """What a valid value of field `f` is, in words (for errors and --help)."""
    m = f.metadata
    if m.get("choices"):
        return "one of " + ", ".join(m["choices"])
    if bool in kinds:
        return "true or false"
    kind = "a whole number" if int in kinds and float not in kinds else "a finite number"
    # an upper bound of BIG or more means "no practical limit": not worth printing
    bounds = [f"{op} {_num(m[key])}" for key, op in (("ge", ">="), ("gt", ">"), ("le", "<="),
                                                      ("lt", "<"))
              if m.get(key) is not None and not (key in ("le", "lt") and m[key] == BIG)]
    text = kind + (" " + " and ".join(bounds) if bounds else "")
    if m.get("special"):
        text += " (" + "; ".join(f"{k}: {v}" for k, v in m["special"].items()) + ")"
    return text


def _bound_broken(f: dataclasses.Field, value: float) -> str | None:
    m = f.metadata
    for key, op, ok in (("ge", ">=", lambda b: value >= b), ("gt", ">", lambda b: value > b),
                        ("le", "<=", lambda b: value <= b), ("lt", "<", lambda b: value < b)):
        if m.get(key) is not None and not ok(m[key]):
            return f"{op} {_num(m[key])}"
    return None


def check_value(section: str, f: dataclasses.Field, value: Any,
                kinds: set[type], nullable: bool) -> Any:
    """The value, coerced (int -> float for float fields), or a RnnlabError naming the flag,
    the value, what is expected and an example."""
    name = flag(f.name)
    where = f"({f.name} in [{section}]: {expectation(f, kinds)})"
    example = f"; e.g. {name} {f.default}" if f.default not in (None, False, True) else ""
    if value is None:
        if nullable:
            return None
        raise RnnlabError(f"{name} must be set, got nothing {where}{example}")
    if bool in kinds:
        if not isinstance(value, bool):
            raise RnnlabError(f"{name} must be true or false, got {value!r} {where}")
        return value
    if str in kinds:
        choices = f.metadata.get("choices")
        if not isinstance(value, str):
            raise RnnlabError(f"{name} must be text, got {value!r} {where}")
        if choices and value not in choices:
            noun = f.metadata.get("noun") or f.name.replace("_", " ")
            raise RnnlabError(f"{name} {value!r}: unknown {noun}; choose one of "
                              f"{', '.join(choices)} ({f.name} in [{section}]){example}")
        return value
    whole = float not in kinds
    if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)):
        what = "a whole number" if whole else "a number"
        raise RnnlabError(f"{name} must be {what}, got {value!r} {where}{example}")
    if isinstance(value, float) and not math.isfinite(value):
        raise RnnlabError(f"{name} must be finite, got {value!r} {where}{example}")
    if value in f.metadata.get("special", {}):
        return value if whole else float(value)
    broken = _bound_broken(f, value)
    if broken:
        raise RnnlabError(f"{name} must be {broken}, got {value!r} {where}{example}")
    return value if whole else float(value)


def check_section(section: str, obj: Any) -> None:
    """Validate (and coerce) every field of one config section in place."""
    kinds = field_types(type(obj))
    for f in dataclasses.fields(obj):
        allowed, nullable = kinds[f.name]
        setattr(obj, f.name, check_value(section, f, getattr(obj, f.name), allowed, nullable))


def overlay(cfg: Any, d: dict[str, Any], source: str, foreign: Any = None) -> set[str]:
    """Set `{section: {key: value}}` on `cfg`; returns the "section.key" names given.
    `foreign(section, key)` may name the task a key belongs to, for a better error."""
    given = set()
    for section, values in d.items():
        if section in ("task", "explicit"):
            continue
        if section not in SECTIONS or not isinstance(values, dict):
            raise RnnlabError(
                f"{source}: unknown section [{section}]; use [data], [model] or [train]"
            )
        target = getattr(cfg, section)
        names = {f.name for f in dataclasses.fields(target)}
        for key, value in values.items():
            if key not in names:
                other = foreign(section, key) if foreign else None
                if other:
                    raise RnnlabError(
                        f"{source}: {key!r} in [{section}] is a key of --task {other}, not of "
                        f"--task {cfg.task}; put task = \"{other}\" at the top of the file "
                        f"(or pass --task {other}), or drop the key"
                    )
                raise RnnlabError(
                    f"{source}: unknown key {key!r} in [{section}]; known keys: "
                    f"{', '.join(sorted(names))}"
                )
            setattr(target, key, value)
            given.add(f"{section}.{key}")
    return given


def load_toml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise RnnlabError(f"--config: file {str(p)!r} does not exist; check the path")
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise RnnlabError(f"--config: {str(p)!r} is not valid TOML ({e}); fix the file") from None


@dataclass
class RunConfig:
    """One run: the task's name and its three sections. `make_config(task)` (rnnlab.runconfig)
    fills `data` and `model` with the task's defaults and validates; built by hand, pass the
    task's `DataConfig()` and `ModelConfig()`."""

    task: str = "lm"
    data: Any = None  # the task's DataConfig
    model: Any = None  # the task's ModelConfig
    train: TrainConfig = field(default_factory=TrainConfig)
    # "section.key" of the values set by a flag or a TOML key (make_config); None when built
    # in Python. Defaults that adapt to the data (lm --defaults auto) leave these alone.
    explicit: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save_json(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    def sections(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in SECTIONS}
