"""A run killed with SIGKILL mid-training and resumed ends with exactly the weights of an
uninterrupted run of the same seed (checkpoints carry optimizer, RNG, position, TBPTT state)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rnnlab.checkpoint import load_checkpoint

STEPS = 300


def _argv(data: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "rnnlab", "train", "--data", str(data), "--out", str(out),
            "--max-steps", str(STEPS), "--eval-every", "10", "--threads", "1", "--no-progress",
            "--samples", "0", "--hidden-size", "32", "--embedding-dim", "16", "--dropout", "0.2",
            "--batch-size", "16", "--seed", "3", *extra]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    payload = load_checkpoint(run / "last.pt")
    assert payload["trainer"]["step"] == STEPS
    return payload["model_state"]


@pytest.mark.parametrize("fmt", ["lines", "text"])
def test_sigkill_then_resume_matches_uninterrupted(tmp_path, names_file, text_file, fmt):
    data = names_file if fmt == "lines" else text_file
    extra = ("--format", "text", "--seq-len", "20") if fmt == "text" else ()
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    subprocess.run(_argv(data, ref, *extra), check=True, capture_output=True, env=env)

    proc = subprocess.Popen(_argv(data, killed, *extra), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 120
    step = 0
    while time.time() < deadline and proc.poll() is None:
        last = killed / "last.pt"
        if last.exists():
            try:
                step = load_checkpoint(last)["trainer"]["step"]
            except Exception:  # noqa: BLE001 - the file may be mid-replace on some filesystems
                step = 0
            if step >= 40:
                break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 40 <= step < STEPS, f"could not kill mid-run (step {step})"

    resume = [sys.executable, "-m", "rnnlab", "train", "--out", str(killed), "--resume",
              "--threads", "1", "--no-progress", "--samples", "0"]
    subprocess.run(resume, check=True, capture_output=True, env=env)
    a, b = _weights(ref), _weights(killed)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
