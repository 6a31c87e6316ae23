"""README.md's Python example runs as written (with fewer steps), and its quickstart block
holds one `rnnlab train` command per task, each naming a dataset of the registry."""

from __future__ import annotations

import re
import runpy
import shlex
from pathlib import Path

import pytest

from rnnlab.data.registry import find
from rnnlab.tasks import TASKS

README = Path(__file__).resolve().parents[1] / "README.md"


def _block(after: str, lang: str) -> str:
    text = README.read_text()
    m = re.search(re.escape(after) + r".*?```" + lang + r"\n(.*?)```", text, re.S)
    assert m is not None, f"no {lang} block after {after!r}"
    return m.group(1)


def test_the_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 shared_dataset) -> None:
    shared_dataset("names")
    code = _block("## In Python", "python")
    assert '"max_steps": 300' in code and len(code.splitlines()) <= 22
    script = tmp_path / "example.py"
    script.write_text(code.replace('"max_steps": 300', '"max_steps": 20'))
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(script), run_name="__main__")
    assert (tmp_path / "runs" / "py-names" / "curves.png").stat().st_size > 0


def test_the_quickstart_has_one_command_per_task_on_a_dataset() -> None:
    block = re.search(r"<!-- quickstart:start -->(.*?)<!-- quickstart:end -->",
                      README.read_text(), re.S)
    assert block is not None
    tasks = []
    for line in block.group(1).splitlines():
        if not line.startswith("rnnlab "):
            continue
        argv = shlex.split(line)
        tasks.append(argv[argv.index("--task") + 1] if "--task" in argv else "lm")
        assert find(argv[argv.index("--data") + 1]) is not None, line
    assert sorted(tasks) == sorted(TASKS)
