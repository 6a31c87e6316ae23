"""The task registry: `--task` name -> the task's package (tasks/base.py: the protocol each
package satisfies). A task imports no other task; what two share lives below them."""

from __future__ import annotations

from typing import Any

from rnnlab.errors import RnnlabError
from rnnlab.tasks import classify, conditional, forecast, lm, tag, translate
from rnnlab.tasks.base import Task

TASKS: dict[str, Task] = {
    m.NAME: m for m in (lm, forecast, classify, conditional, tag, translate)}
DEFAULT_TASK = lm.NAME


def get_task(name: Any, what: str = "--task") -> Task:
    if name not in TASKS:
        raise RnnlabError(
            f"{what} {name!r} is not a task; choose one of: {', '.join(TASKS)}"
        )
    return TASKS[name]
