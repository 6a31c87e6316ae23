"""The training-side members of a task that trains one run and shows nothing after it: no
cross-validation (`cv_runs` is empty, so `rnnlab train` never asks for a summary) and no
samples after training. A task without these abilities re-exports them from here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rnnlab.config import RunConfig
    from rnnlab.tasks.base import Prepared


def cv_runs(cfg: RunConfig) -> list[RunConfig]:
    """No cross-validation: `rnnlab train` makes the one run of `cfg`."""
    return []


def cv_summary(folds: list[dict[str, Any]]) -> dict[str, Any]:
    """Never asked for (no folds are made); the number of folds, for completeness."""
    return {"folds": len(folds)}


def describe_cv(summary: dict[str, Any]) -> list[str]:
    return []


def samples_after_training(cfg: RunConfig, prepared: Prepared, model: Any, n: int
                           ) -> tuple[list[str], str] | None:
    """Nothing to show after training."""
    return None
