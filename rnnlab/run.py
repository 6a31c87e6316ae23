"""The one run driver: `train(task, cfg, out)` for every task, and `load(run)`.

    train:  open the run folder (new, or --resume) -> task.prepare (data, vocabulary, batches)
            -> task.build_model -> config.json, split.json -> Trainer.fit (or count) with
            metrics.jsonl -> reload the best checkpoint -> task.finish (final figures)
            A start that fails before its first checkpoint (last.pt) removes what it wrote
            (runlock.discard), never what was in the folder before.
    load:   checkpoint -> (task, config, model, payload), refusing a run of another task for
            a subcommand that does not apply

Everything a task shares lives here once; a task module holds only what is its own.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from torch import nn

from rnnlab.checkpoint import (
    BEST,
    LAST,
    load_checkpoint,
    open_run,
    rebuild_model,
    resolve,
    save_checkpoint,
)
from rnnlab.config import RunConfig
from rnnlab.distributed import Dist
from rnnlab.errors import PeerError, RnnlabError
from rnnlab.runconfig import check_command, config_from_dict, monitor_of, validate
from rnnlab.tasks import get_task
from rnnlab.tasks.base import Loaded, Prepared, Task
from rnnlab.trainer import History, Trainer

Event = Callable[[dict[str, Any]], None]
Payload = dict[str, Any]  # a checkpoint's contents (rnnlab.checkpoint)


def load(run: str | Path, command: str | None = None) -> Loaded:
    """The best model of `run` (a run folder or checkpoint file). With `command`, a run of a
    task that `command` does not apply to gives one error naming the run's task."""
    payload = load_checkpoint(run)
    task = payload.get("task", "lm")  # checkpoints of language models once named no task
    if command is not None:
        check_command(task, command, str(run))
    cfg = config_from_dict(payload["config"], task)
    return Loaded(task, cfg, rebuild_model(payload), payload, resolve(run))


@dataclass
class TrainResult:
    model: nn.Module  # the best model, eval mode
    history: History
    final: dict[str, Any]  # the task's final figures (task.finish)
    prepared: Prepared
    seconds: float  # training (or counting) only; since the resume on a resumed run


def _task_of(task: str | Task, cfg: RunConfig) -> Task:
    t = get_task(task) if isinstance(task, str) else task
    if cfg.task != t.NAME:
        raise RnnlabError(f"the config is for task {cfg.task!r}, not {t.NAME!r}; build it "
                          f"with rnnlab.tasks.make_config({t.NAME!r})")
    return t


def train(
    task: str | Task,
    cfg: RunConfig,
    out: Path,
    resume: bool = False,
    on_event: Event | None = None,
    on_ready: Event | None = None,
) -> TrainResult:
    """Train (or count) a model of `task` into run folder `out`; `resume` continues the run
    in `out` exactly. `on_ready(info)` is called once the data and model are built,
    `on_event(event)` at every step and evaluation. Under torchrun every rank calls this;
    rank 0 alone writes `out` and calls the callbacks (see rnnlab.distributed)."""
    from rnnlab import distributed, runlock

    t = _task_of(task, cfg)
    validate(cfg)
    out = Path(out)
    with distributed.session(cfg.train.device, cfg.train.dist_timeout) as dist:
        try:
            payload = _open(out, resume, t, dist)
            if not dist.writer:  # its own scratch folder for what `prepare` writes
                with tempfile.TemporaryDirectory(prefix=f"rnnlab-rank{dist.rank}-") as tmp:
                    return _train(t, cfg, out, Path(tmp), payload, None, None, dist)
            return _train(t, cfg, out, out, payload, on_event, on_ready, dist)
        except BaseException:
            # a start that fails (or is interrupted) before its first checkpoint leaves
            # nothing behind, so the corrected command runs with the same --out at once
            if dist.writer and not (out / LAST).is_file():
                runlock.discard(out)
            raise
        finally:
            if dist.writer:
                runlock.release(out)


def _open(out: Path, resume: bool, t: Task, dist: Dist) -> Payload | None:
    """Rank 0 (or the one process) locks `out` and checks it (new, or --resume); the outcome
    (the checkpoint to resume from, or the error) reaches every rank."""
    from rnnlab import runlock

    if not dist.writer:
        kind, value = dist.broadcast(None)
        if kind == "error":
            raise PeerError(value)
        return cast(Payload | None, value)
    try:
        runlock.acquire(out)  # before the check: two writers never both pass it
        payload = open_run(out, resume)
        if payload is not None and payload.get("task", "lm") != t.NAME:
            was = payload.get("task", "lm")
            raise RnnlabError(f"--resume: {str(out)!r} is a {was} run, not a {t.NAME} run; "
                              f"resume it with --task {was}")
    except RnnlabError as e:
        dist.broadcast(("error", str(e)))
        raise
    dist.broadcast(("ok", payload))  # a resumed rank needs no copy of the run folder
    return payload


def _train(t: Task, cfg: RunConfig, out: Path, work: Path, payload: Payload | None,
           on_event: Event | None, on_ready: Event | None, dist: Dist) -> TrainResult:
    import torch

    prepared = t.prepare(cfg, work, payload)
    torch.manual_seed(cfg.train.seed)  # the initial weights depend on the seed alone
    model = t.build_model(cfg, prepared)
    counted = hasattr(model, "fit_counts")  # a CountModel: one pass of counting
    if counted and dist.active:
        raise RnnlabError(f"--model {cfg.model.model} is counted, not trained with gradients: "
                          "it trains in one process (one pass over the data); run it without "
                          "torchrun")
    prepared.info["params"] = sum(p.numel() for p in model.parameters())
    if dist.writer:
        out.mkdir(parents=True, exist_ok=True)
        cfg.save_json(out / "config.json")
        (out / "split.json").write_text(json.dumps(prepared.split, indent=2) + "\n")
    if on_ready is not None:
        on_ready(prepared.info)
    extra = {"task": t.NAME, "config": cfg.to_dict(), **prepared.artifacts}
    trainer = Trainer(cfg.train, out if dist.writer else None, on_event, extra,
                      eval_fn=t.validate, monitor=monitor_of(cfg), dist=dist,
                      eval_at_start=t.EVAL_AT_START)
    t0 = time.perf_counter()
    if counted:
        model.fit_counts(prepared.counts)
        history = History(steps=0, stopped="counted")
        for name in (BEST, LAST):
            save_checkpoint(out / name, trainer.payload(model, trainer={"step": 0}))
    else:
        history = _fit(trainer, model.to(dist.device), prepared, payload,
                       out if dist.writer else None, on_event, dist)
        if not dist.writer:  # rank 0 reloads the best weights and reports the final figures
            return TrainResult(model.cpu().eval(), history, {}, prepared,
                               time.perf_counter() - t0)
        model = rebuild_model(load_checkpoint(out))
    seconds = time.perf_counter() - t0
    model.eval()
    return TrainResult(model, history, t.finish(cfg, prepared, model, out), prepared, seconds)


def _fit(trainer: Trainer, model: nn.Module, prepared: Prepared, payload: Payload | None,
         out: Path | None, on_event: Event | None, dist: Dist) -> History:
    """Trainer.fit with every evaluation appended to metrics.jsonl as it happens (rank 0);
    under torchrun (or on a GPU) the batch sources are this rank's shards."""
    from rnnlab.distributed import Sharded

    train, val = prepared.train, prepared.val
    if dist.active or dist.device != "cpu":
        train = Sharded(train, dist, train=True)
        val = None if val is None else Sharded(val, dist, train=False)
    if out is None:
        return trainer.fit(model, train, val, payload)
    with open(out / "metrics.jsonl", "a") as log:

        def event(e: dict[str, Any]) -> None:
            if e["event"] == "eval":
                log.write(json.dumps({k: v for k, v in e.items() if k != "event"}) + "\n")
                log.flush()
            if on_event is not None:
                on_event(e)

        trainer.on_event = event
        return trainer.fit(model, train, val, payload)
