"""`rnnlab train`: build the config (flags, TOML, or the saved config of --resume), check
its input files, train through rnnlab.run, print what the task describes, write final.json
and the loss plot. Names no task: cross-validation (`cv_runs`) and the samples after
training (`samples_after_training`) are what the run's task offers. `--help` prints the help
of the task the command line (or its --config) names.

Imports no torch at module level: `rnnlab --help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnnlab.cli.common import set_threads
from rnnlab.cli.flags import given_flags
from rnnlab.config import flag
from rnnlab.errors import RnnlabError
from rnnlab.tasks import DEFAULT_TASK, get_task

if TYPE_CHECKING:  # type hints only: no import at run time (rnnlab.run imports torch)
    from rnnlab.config import RunConfig
    from rnnlab.run import TrainResult
    from rnnlab.tasks.base import Task

# training limits a resumed run may change; everything else comes from the run's config.json
RESUME_OVERRIDES = ("max_steps", "max_time", "max_epochs", "threads", "patience", "device",
                    "dist_timeout")


def _resume_config(args: argparse.Namespace) -> RunConfig:
    """The saved config of the run in --out, with the limits given on this command line."""
    from rnnlab.checkpoint import LAST, load_checkpoint
    from rnnlab.runconfig import config_from_dict, validate

    if args.out is None:
        raise RnnlabError("--resume needs --out RUN_FOLDER, the run to continue")
    cfg_path = Path(args.out) / "config.json"
    if not cfg_path.is_file():
        raise RnnlabError(f"--resume: {str(cfg_path)!r} not found; is --out a run folder?")
    saved = json.loads(cfg_path.read_text())
    task = saved.get("task")
    if task is None and (Path(args.out) / LAST).is_file():  # configs once named no task
        task = load_checkpoint(Path(args.out) / LAST).get("task", DEFAULT_TASK)
    cfg = config_from_dict(saved, task)
    if args.task is not None and args.task != cfg.task:
        raise RnnlabError(f"--resume: {args.out!r} is a {cfg.task} run; drop --task {args.task}")
    for section, values in given_flags(args, cfg.task).items():
        for name, v in values.items():
            if section == "train" and name in RESUME_OVERRIDES:
                setattr(cfg.train, name, v)
            elif getattr(getattr(cfg, section), name) != v:
                raise RnnlabError(
                    f"--resume continues the run with its saved config; {flag(name)} {v} "
                    f"differs from its {getattr(getattr(cfg, section), name)!r}; drop it "
                    f"(only {', '.join(flag(n) for n in RESUME_OVERRIDES)} may change)"
                )
    return validate(cfg)


def _config(args: argparse.Namespace) -> RunConfig:
    from rnnlab.config import load_toml
    from rnnlab.runconfig import make_config

    if args.resume:
        return _resume_config(args)
    file = load_toml(args.config) if args.config else {}
    task = args.task or file.get("task") or DEFAULT_TASK
    get_task(task, "task" if args.task is None else "--task")
    cfg, _ = make_config(args.task, file, given_flags(args, task),
                         source=f"--config {args.config}")
    return cfg


def _help(args: argparse.Namespace) -> int:
    """--help: the task's flags when --task or the --config file names one, else the
    overview of `rnnlab train`."""
    from rnnlab.cli.parser import train_help
    from rnnlab.config import load_toml

    task = args.task
    if task is None and args.config:
        task = load_toml(args.config).get("task")
    if task is not None:
        get_task(task, "--task" if args.task is not None else f"task in {args.config}")
    print(train_help(task), end="")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    if args.help:
        return _help(args)
    from rnnlab.runconfig import check_inputs

    cfg = _config(args)
    check_inputs(cfg)
    if args.dry_run:
        print(json.dumps(cfg.to_dict(), indent=2))
        return 0
    folds = get_task(cfg.task).cv_runs(cfg)
    if folds:
        return _cross_validate(args, cfg, folds)
    return _train_one(args, cfg)


def _train_one(args: argparse.Namespace, cfg: RunConfig) -> int:
    task = get_task(cfg.task)
    from rnnlab.run import train

    set_threads(cfg.train.threads)
    out = Path(args.out) if args.out else (
        Path("runs") / f"{task.default_out_name(cfg)}-{time.strftime('%Y%m%d-%H%M%S')}")
    bar = None

    def ready(info: dict[str, Any]) -> None:
        from rnnlab.budget import describe_budget
        from rnnlab.trainer import precision_note

        for line in [*task.describe_ready(info, out), describe_budget(cfg),
                     precision_note(cfg.train)]:
            if line:
                print(line)

    def event(e: dict[str, Any]) -> None:
        nonlocal bar
        if args.no_progress:
            if e["event"] == "eval":
                print(task.describe_progress(e))
            return
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=e.get("total"), desc="train", unit="step", dynamic_ncols=True,
                       disable=None, mininterval=0.5,
                       file=sys.stderr, initial=e["step"] - 1 if e["event"] == "step" else 0)
        if e["event"] == "step":
            bar.update(1)
            bar.set_postfix(loss=f"{e['loss']:.3f}")
        else:
            bar.write(task.describe_progress(e))

    from rnnlab import runlock
    from rnnlab.distributed import env_rank

    if env_rank() != 0:  # torchrun: rank 0 reports and writes the run folder
        train(task, cfg, out, resume=args.resume)
        return 0
    with runlock.keep(out):  # the lock train() takes lasts through the final writes below
        try:
            res = train(task, cfg, out, resume=args.resume, on_event=event, on_ready=ready)
        except KeyboardInterrupt:
            if _has_checkpoint(out):
                raise
            print("error: interrupted before the first checkpoint; nothing of this start was "
                  f"kept in {str(out)!r}: run the command again", file=sys.stderr)
            return 130
        finally:
            if bar is not None:
                bar.close()
        return _report(args, cfg, task, res, out)


def _has_checkpoint(out: Path) -> bool:
    """Whether `out` holds a checkpoint to resume from (a start that failed before its
    first one left nothing behind: rnnlab.run.train)."""
    from rnnlab.checkpoint import LAST

    return (out / LAST).is_file()


def _report(args: argparse.Namespace, cfg: RunConfig, task: Task, res: TrainResult,
            out: Path) -> int:
    """What `train` prints and writes after training: summary, figures, plot, samples."""
    from rnnlab.plots import plot_history

    h = res.history
    print(f"done: {h.stopped or 'finished'} after {h.steps} steps in {res.seconds:.1f} s"
          + (" since the resume" if args.resume else "")
          + (f"; best validation at step {h.best_step}" if h.records else ""))
    for line in task.describe(res.final):
        print(line)
    if h.records:
        plot_history(out / "metrics.jsonl", out / "loss.png")
    (out / "final.json").write_text(json.dumps(res.final, indent=2, default=float) + "\n")
    if args.samples > 0:
        _samples(task, cfg, res, args.samples, out)
    print(f"run folder: {out}")
    return 0


def _cross_validate(args: argparse.Namespace, cfg: RunConfig, runs: list[RunConfig]) -> int:
    """The task's cross-validation (classify --cv K): one run per fold (RUN/fold-k), then
    the task's summary of their final figures, written to RUN/cv.json."""
    import copy

    if args.resume:
        raise RnnlabError("--resume continues one run; resume a fold with --out RUN/fold-K")
    task = get_task(cfg.task)
    out = Path(args.out) if args.out else (
        Path("runs") / f"{task.default_out_name(cfg)}-cv-{time.strftime('%Y%m%d-%H%M%S')}")
    folds = []
    for k, fold_cfg in enumerate(runs):
        fold_args = copy.copy(args)
        fold_args.out, fold_args.resume, fold_args.config = str(out / f"fold-{k}"), False, None
        print(f"== fold {k + 1} of {len(runs)}")
        code = _train_one(fold_args, fold_cfg)
        if code != 0:
            return code
        folds.append(json.loads((out / f"fold-{k}" / "final.json").read_text()))
    summary = task.cv_summary(folds)
    (out / "cv.json").write_text(json.dumps(summary, indent=2) + "\n")
    for line in task.describe_cv(summary):
        print(line)
    print(f"wrote {out / 'cv.json'}")
    return 0


def _samples(task: Task, cfg: RunConfig, res: TrainResult, n: int, out: Path) -> None:
    """The end-of-training samples, where the task shows any; a failure here is reported,
    never fatal: the run's checkpoints are already written."""
    try:
        shown = task.samples_after_training(cfg, res.prepared, res.model, n)
    except RnnlabError as e:
        print(f"note: no samples after training ({e}); the run is complete", file=sys.stderr)
        return
    if shown is None:
        return
    lines, text = shown
    for line in lines:
        print(line)
    (out / "samples.txt").write_text(text)
