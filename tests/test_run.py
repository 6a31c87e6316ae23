"""rnnlab/run.py, the one driver: a run killed with SIGKILL mid-training and resumed ends with
exactly the weights of an uninterrupted run of the same seed (checkpoints carry optimizer, RNG,
position, TBPTT state); `train` then `load` gives back the best model and its config."""

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


def test_train_then_load_returns_the_best_model_and_its_config(tmp_path, names_file):
    """rnnlab.run.train (the one driver) and rnnlab.run.load without the command line."""
    from rnnlab.errors import RnnlabError
    from rnnlab.models.base import LMBatch
    from rnnlab.run import load, train
    from rnnlab.runconfig import default_config

    cfg = default_config()
    cfg.data.data = str(names_file)
    cfg.model.model, cfg.model.hidden_size, cfg.model.embedding_dim = "gru", 8, 8
    cfg.train.max_steps, cfg.train.eval_every, cfg.train.batch_size = 3, 1, 8
    cfg.train.threads, cfg.train.samples = 1, 0
    events = []
    result = train("lm", cfg, tmp_path / "run", on_event=events.append)
    assert [e["step"] for e in events if "val_nll" in e][-1] == 3
    loaded = load(tmp_path / "run")
    assert loaded.task == "lm" and loaded.path.name == "best.pt" and not loaded.model.training
    assert loaded.cfg.model.hidden_size == 8 and loaded.cfg.train.max_steps == 3
    x = torch.tensor([[2, 5, 6, 7]])
    b = LMBatch(x, None, None, True)
    with torch.no_grad():
        assert torch.equal(loaded.model(b).logits, result.model(b).logits)
    vals = {e["step"]: e["val_nll"] for e in events if "val_nll" in e}
    best_step = min(vals, key=vals.get)
    assert result.history.best_step == best_step
    assert result.history.best_val == pytest.approx(vals[best_step])
    with pytest.raises(RnnlabError, match="lm"):
        load(tmp_path / "run", command="forecast")  # a subcommand of another task


def _tiny_lm(names_file: Path):
    from rnnlab.runconfig import default_config

    cfg = default_config()
    cfg.data.data = str(names_file)
    cfg.model.model, cfg.model.hidden_size, cfg.model.embedding_dim = "gru", 8, 8
    cfg.train.max_steps, cfg.train.eval_every, cfg.train.batch_size = 2, 1, 8
    cfg.train.threads, cfg.train.samples = 1, 0
    return cfg


@pytest.mark.parametrize("where", ["prepare", "build_model"])
def test_an_exception_before_the_first_checkpoint_leaves_nothing(tmp_path, names_file,
                                                                 monkeypatch, where):
    """Any exception (not only a user error) in prepare or build_model: train() removes
    what the start made, folders included, and releases the lock; the retry runs."""
    from rnnlab import runlock
    from rnnlab.run import train
    from rnnlab.tasks import get_task

    task = get_task("lm")
    real = getattr(task, where)

    def broken(*args):
        real(*args)
        raise RuntimeError(f"{where} broke")

    out = tmp_path / "a" / "b" / "run"
    with monkeypatch.context() as m:
        m.setattr(task, where, broken)
        with pytest.raises(RuntimeError, match="broke"):
            train("lm", _tiny_lm(names_file), out)
    assert list(tmp_path.iterdir()) == [names_file] and not runlock._HELD
    train("lm", _tiny_lm(names_file), out)
    assert (out / "last.pt").is_file()


def test_a_failure_after_the_first_checkpoint_keeps_the_run(tmp_path, names_file,
                                                           monkeypatch):
    """task.finish fails after training: the checkpoints (and config, metrics) stay, so
    the run can be evaluated or resumed."""
    from rnnlab.run import load, train
    from rnnlab.tasks import get_task

    out = tmp_path / "run"
    with monkeypatch.context() as m:
        m.setattr(get_task("lm"), "finish", lambda *a: (_ for _ in ()).throw(OSError("disk")))
        with pytest.raises(OSError):
            train("lm", _tiny_lm(names_file), out)
    assert {"config.json", "split.json", "metrics.jsonl", "best.pt", "last.pt"} <= {
        p.name for p in out.iterdir()}
    assert load(out).task == "lm"
