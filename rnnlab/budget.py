"""The time budget rule, the same for every task and format: a run given `--max-time` and no
`--max-steps` spends its budget.

Without this rule `--max-time` is only a ceiling over the step limit (2,000 steps by
default), so a 5-minute budget on names stopped after 21 s. With it, when `--max-time` is
given and `--max-steps` is not (neither a flag nor a TOML key: `RunConfig.explicit`), the
fields the user did not set become:

* `max_steps` unbounded and `max_epochs` none: the budget ends the run, and the cosine
  schedule, which follows `max(step / max_steps, seconds / max_time)`, anneals over the time;
* `budget_evals` 20 (unless `--eval-every` is given): evaluations spread over the budget by
  elapsed time, whatever the step rate (the trainer keeps validation under ~10% of the
  budget when one pass is slow), so a 5-minute run evaluates every 15 s, not every 100
  steps;
* `patience_margin` 0.01: early stopping ends the run only when the best of the last
  `--patience` evaluations (20% of the budget at the default patience 4) is at least 1%
  above the best before them: a rise (overfitting), not a plateau. A schedule annealed over
  the budget gains most at its end, so a plateau at a high rate is no reason to stop, and
  validation figures of successive evaluations move by well under 1% on a plateau. Where
  the monitor is an error rate counted on n validation items, a rise must also exceed one
  binomial standard error, sqrt(p (1 - p) / n) (`trainer.noise_floor`): on 960 sentences a
  1% rise is two sentences, which is noise.

An explicit `--max-steps` (or `lm --defaults fixed`) keeps every documented default, so
recorded commands mean what they meant. Task rules applied later (the tagger's training
defaults, `lm --defaults auto`) call `apply_budget` again so the budget still wins.
"""

from __future__ import annotations

from typing import Any

from rnnlab.config import RunConfig

UNBOUNDED_STEPS = 10**9  # steps when only --max-time is given: never the limit that binds
BUDGET_EVALS = 20
BUDGET_PATIENCE_MARGIN = 0.01


def applies(cfg: RunConfig) -> bool:
    """Whether the budget rule sets this run's limits: a config built from flags or TOML
    (`explicit` known) with --max-time and without --max-steps, and not `--defaults fixed`."""
    if cfg.explicit is None or not cfg.train.max_time:
        return False
    if getattr(cfg.data, "defaults", "auto") == "fixed":
        return False
    return "train.max_steps" not in cfg.explicit


def budget_values() -> dict[str, Any]:
    """The TrainConfig values of the rule (for the fields the user did not set)."""
    return {"max_steps": UNBOUNDED_STEPS, "max_epochs": None, "budget_evals": BUDGET_EVALS,
            "patience_margin": BUDGET_PATIENCE_MARGIN}


def apply_budget(cfg: RunConfig) -> dict[str, Any]:
    """Set the rule's values on the fields of `cfg.train` the user did not give; returns
    what was set (empty when the rule does not apply). Idempotent."""
    if not applies(cfg):
        return {}
    given = set(cfg.explicit or ())
    chosen = {}
    for key, value in budget_values().items():
        if key == "budget_evals" and "train.eval_every" in given:
            continue  # a given --eval-every keeps its step cadence
        if f"train.{key}" not in given:
            setattr(cfg.train, key, value)
            chosen[key] = value
    return chosen


def describe_budget(cfg: RunConfig) -> str:
    """One line saying what the budget rule chose for this run ("" when it does not apply)."""
    if not applies(cfg):
        return ""
    t, given = cfg.train, set(cfg.explicit or ())
    parts = [f"--max-time {t.max_time:g} ({t.clock} seconds) ends the run"]
    if t.max_epochs is not None:
        parts.append(f"or --max-epochs {t.max_epochs}")
    parts.append("cosine over the time" if t.schedule == "cosine"
                 else f"--schedule {t.schedule}")
    if t.budget_evals:
        parts.append(f"about {t.budget_evals} evaluations over it")
    else:
        parts.append(f"evaluation every {t.eval_every} steps")
    if t.patience:
        rise = (f"{t.patience_margin:.0%}" + (" and one standard error" if t.monitor ==
                                             "error_rate" else "") + " above the earlier best")
        parts.append(f"early stopping when the best of the last {t.patience} evaluations is "
                     + (rise if t.patience_margin else "no new best"))
    else:
        parts.append("no early stopping")
    note = "" if "train.max_steps" in given else " (--max-steps N for a fixed number of steps)"
    return "budget: " + ", ".join(parts) + note
