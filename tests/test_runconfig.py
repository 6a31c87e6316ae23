"""rnnlab/runconfig.py with rnnlab/budget.py: `--max-time` without `--max-steps` makes the
budget end the run (every task and format), while an explicit `--max-steps` and
`lm --defaults fixed` keep the documented limits; a tiny budget ends a real run by time."""

from __future__ import annotations

import pytest

from rnnlab.budget import BUDGET_EVALS, UNBOUNDED_STEPS, describe_budget
from rnnlab.config import TrainConfig
from rnnlab.errors import RnnlabError
from rnnlab.runconfig import make_config

DOCUMENTED = TrainConfig()


def _train(task: str = "lm", data: dict | None = None, **train: object) -> TrainConfig:
    cfg, _ = make_config(task, flags={"data": data or {"data": "x.txt"}, "train": train})
    return cfg.train


@pytest.mark.parametrize("task,data", [
    ("lm", {"data": "x.txt", "format": "lines"}),
    ("lm", {"data": "x.txt", "format": "text"}),
    ("classify", {"data": "x.tsv"}),
    ("translate", {"data": "x.tsv"}),
    ("tag", {"data": "x.conllu"}),
])
def test_max_time_alone_lets_the_budget_end_the_run(task, data) -> None:
    t = _train(task, data, max_time=300.0)
    assert t.max_steps == UNBOUNDED_STEPS and t.max_epochs is None
    assert t.budget_evals == BUDGET_EVALS and t.patience_margin > 0


def test_explicit_steps_and_fixed_defaults_keep_the_documented_limits() -> None:
    t = _train(max_time=300.0, max_steps=2000)
    assert (t.max_steps, t.budget_evals, t.patience_margin) == (2000, None, 0.0)
    fixed = _train(data={"data": "x.txt", "format": "text", "defaults": "fixed"},
                   max_time=300.0)
    assert (fixed.max_steps, fixed.eval_every, fixed.budget_evals) == (
        DOCUMENTED.max_steps, DOCUMENTED.eval_every, None)
    plain = _train()  # no budget at all: today's defaults
    assert (plain.max_steps, plain.budget_evals, plain.patience_margin) == (2000, None, 0.0)


def test_given_fields_win_over_the_budget_rule() -> None:
    t = _train(max_time=60.0, budget_evals=5, patience_margin=0.0, max_epochs=3)
    assert (t.max_steps, t.budget_evals, t.patience_margin, t.max_epochs) == (
        UNBOUNDED_STEPS, 5, 0.0, 3)


def test_given_eval_every_keeps_its_step_cadence() -> None:
    t = _train(max_time=60.0, eval_every=7)
    assert (t.max_steps, t.eval_every, t.budget_evals) == (UNBOUNDED_STEPS, 7, None)


def test_budget_evals_needs_max_time() -> None:
    with pytest.raises(RnnlabError, match="--budget-evals .*--max-time"):
        _train(budget_evals=5)


def test_describe_budget_names_the_chosen_values() -> None:
    cfg, _ = make_config("lm", flags={"data": {"data": "x.txt"}, "train": {"max_time": 300.0}})
    line = describe_budget(cfg)
    assert "--max-time 300" in line and "20 evaluations" in line
    cfg, _ = make_config("lm", flags={"data": {"data": "x.txt"}, "train": {"max_steps": 50}})
    assert describe_budget(cfg) == ""


def test_tiny_budget_ends_a_run_by_time_not_steps(tmp_path, names_file) -> None:
    from rnnlab.run import train

    flags = {"data": {"data": str(names_file), "format": "lines"},
             "model": {"model": "gru", "hidden_size": 16, "embedding_dim": 8},
             "train": {"max_time": 2.0, "clock": "cpu", "threads": 1, "batch_size": 8}}
    cfg, _ = make_config("lm", flags=flags)
    result = train("lm", cfg, tmp_path / "run")
    assert result.history.stopped == "max_time"
    assert result.history.steps < UNBOUNDED_STEPS
    # the explicit step limit still ends the same run by steps
    flags["train"]["max_steps"] = 20
    cfg, _ = make_config("lm", flags=flags)
    result = train("lm", cfg, tmp_path / "run2")
    assert result.history.stopped == "max_steps" and result.history.steps == 20


@pytest.mark.parametrize("task", ["lm", "translate", "classify", "tag"])
def test_every_task_with_defaults_fixed_keeps_its_limits_under_max_time(task) -> None:
    """`--defaults fixed` switches the budget rule off for each task that has it, so
    recorded commands that give --max-time alone mean what they meant."""
    data = {"defaults": "fixed", **({} if task == "lm" else {"data": "x"})}
    cfg, _ = make_config(task, None, {"data": data, "train": {"max_time": 30.0}})
    assert cfg.train.max_steps == TrainConfig().max_steps
    assert cfg.train.budget_evals is None and cfg.train.patience_margin == 0.0
