"""Command line: `rnnlab train | evaluate | generate | score | predict | diagnose | forecast |
translate`.

Flags (parser.py) -> `tasks.make_config` -> one library call -> print. `train`'s flags come
from the tasks' config dataclasses (one table, flags.py); every other subcommand dispatches
on the task its run recorded. All printing lives here (decoding commands: cli_generate.py)
or in a task's `describe*` functions.
User mistakes print one line `error: ...` and exit with status 2.
Nothing here imports torch at module level: `rnnlab --help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from rnnlab.cli_common import load_run, note, set_threads
from rnnlab.cli_generate import (
    cmd_export,
    cmd_generate,
    cmd_translate,
    decode_config,
    print_conditional,
    print_translations,
)
from rnnlab.config import flag
from rnnlab.errors import PeerError, RnnlabError
from rnnlab.flags import given_flags
from rnnlab.parser import EXIT_USER_ERROR, build_parser
from rnnlab.tasks import TASKS, get_task

# training limits a resumed run may change; everything else comes from the run's config.json
RESUME_OVERRIDES = ("max_steps", "max_time", "max_epochs", "threads", "patience", "device",
                    "dist_timeout")


def _resume_config(args: argparse.Namespace):
    """The saved config of the run in --out, with the limits given on this command line."""
    from rnnlab.checkpoint import LAST, load_checkpoint
    from rnnlab.tasks import config_from_dict, validate

    if args.out is None:
        raise RnnlabError("--resume needs --out RUN_FOLDER, the run to continue")
    cfg_path = Path(args.out) / "config.json"
    if not cfg_path.is_file():
        raise RnnlabError(f"--resume: {str(cfg_path)!r} not found; is --out a run folder?")
    saved = json.loads(cfg_path.read_text())
    task = saved.get("task")
    if task is None and (Path(args.out) / LAST).is_file():  # configs once named no task
        task = load_checkpoint(Path(args.out) / LAST).get("task", "lm")
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


def _config(args: argparse.Namespace):
    from rnnlab.config import load_toml
    from rnnlab.tasks import make_config

    if args.resume:
        return _resume_config(args)
    file = load_toml(args.config) if args.config else {}
    task = args.task or file.get("task") or "lm"
    get_task(task, "task" if args.task is None else "--task")
    cfg, _ = make_config(args.task, file, given_flags(args, task),
                         source=f"--config {args.config}")
    return cfg


def cmd_train(args: argparse.Namespace) -> int:
    cfg = _config(args)
    if args.dry_run:
        print(json.dumps(cfg.to_dict(), indent=2))
        return 0
    if cfg.task == "classify" and cfg.data.cv is not None and cfg.data.fold is None:
        return _cross_validate(args, cfg)
    return _train_one(args, cfg)


def _train_one(args: argparse.Namespace, cfg) -> int:
    task = get_task(cfg.task)
    from rnnlab.run import train

    set_threads(cfg.train.threads)
    out = Path(args.out) if args.out else (
        Path("runs") / f"{task.default_out_name(cfg)}-{time.strftime('%Y%m%d-%H%M%S')}")
    bar = None

    def ready(info: dict[str, Any]) -> None:
        for line in task.describe_ready(info, out):
            print(line)

    def event(e: dict[str, Any]) -> None:
        nonlocal bar
        if args.no_progress:
            if e["event"] == "eval":
                print(task.describe_eval(e))
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
            bar.write(task.describe_eval(e))

    from rnnlab import runlock
    from rnnlab.distributed import env_rank

    if env_rank() != 0:  # torchrun: rank 0 reports and writes the run folder
        train(task, cfg, out, resume=args.resume)
        return 0
    with runlock.keep(out):  # the lock train() takes lasts through the final writes below
        try:
            res = train(task, cfg, out, resume=args.resume, on_event=event, on_ready=ready)
        finally:
            if bar is not None:
                bar.close()
        return _report(args, cfg, task, res, out)


def _report(args: argparse.Namespace, cfg, task, res, out: Path) -> int:
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
    if cfg.task == "lm" and args.samples > 0:
        _samples(task, cfg, res, args.samples, out)
    print(f"run folder: {out}")
    return 0


def _cross_validate(args: argparse.Namespace, cfg) -> int:
    """--cv K: K runs (RUN/fold-k), one per test fold; mean and standard deviation of the
    test figures, written to RUN/cv.json."""
    import copy

    if args.resume:
        raise RnnlabError("--resume continues one run; resume a fold with --out RUN/fold-K")
    out = Path(args.out) if args.out else (
        Path("runs") / f"{get_task(cfg.task).default_out_name(cfg)}-cv-"
        f"{time.strftime('%Y%m%d-%H%M%S')}")
    folds = []
    for k in range(cfg.data.cv):
        fold_cfg = copy.deepcopy(cfg)
        fold_cfg.data.fold = k
        fold_args = copy.copy(args)
        fold_args.out, fold_args.resume, fold_args.config = str(out / f"fold-{k}"), False, None
        print(f"== fold {k + 1} of {cfg.data.cv}")
        _train_one(fold_args, fold_cfg)
        folds.append(json.loads((out / f"fold-{k}" / "final.json").read_text()))
    classify = TASKS["classify"]
    summary = classify.cv_summary(folds)
    (out / "cv.json").write_text(json.dumps(summary, indent=2) + "\n")
    for line in classify.describe_cv(summary):
        print(line)
    print(f"wrote {out / 'cv.json'}")
    return 0


def _samples(task, cfg, res, n: int, out: Path) -> None:
    """The end-of-training samples; a failure here is reported, never fatal: the run's
    checkpoints are already written."""
    try:
        lines, text = task.samples_after_training(cfg, res.prepared, res.model, n)
    except RnnlabError as e:
        print(f"note: no samples after training ({e}); the run is complete", file=sys.stderr)
        return
    for line in lines:
        print(line)
    (out / "samples.txt").write_text(text)


# -- subcommands on a trained run ------------------------------------------------------------
TRANSLATE_EVAL = ("strategy", "num_beams", "length_penalty", "max_new_tokens", "batch_size",
                  "limit")


def cmd_evaluate(args: argparse.Namespace) -> int:
    loaded = load_run(args, "evaluate")
    decoding = {k: getattr(args, k) for k in TRANSLATE_EVAL if getattr(args, k) is not None}
    if loaded.task == "translate":
        return _evaluate_translation(loaded, args, decoding)
    if decoding:
        raise RnnlabError(f"{', '.join(flag(k) for k in decoding)} apply to translate runs; "
                          f"{args.run!r} is a {loaded.task} run: drop them")
    if loaded.task in ("classify", "conditional", "tag"):  # labeled: a file or a split
        if args.format is not None or args.horizon is not None or args.eval_rows is not None:
            raise RnnlabError(f"a {loaded.task} run reads --data in its own format: drop "
                              "--format/--horizon/--eval-rows")
        task = TASKS[loaded.task]
        m = task.evaluate(loaded, args.data, args.split)
        print(json.dumps(m) if args.json else "\n".join(task.describe_evaluation(m)))
        return 0
    if loaded.task == "forecast":
        if args.data is not None or args.format is not None:
            raise RnnlabError(
                "--data/--format are for language-model runs; a forecasting run is evaluated "
                "on the test part of its own series: drop them"
            )
        m = TASKS["forecast"].evaluate(loaded, args.horizon, args.split)
        lines = TASKS["forecast"].describe(m)
    else:
        if args.horizon is not None:
            raise RnnlabError("--horizon is for forecasting runs; drop it")
        if args.eval_rows is not None and loaded.cfg.data.format != "text":
            raise RnnlabError("--eval-rows applies to runs trained on a text stream; drop it")
        m = TASKS["lm"].evaluate(loaded, args.data, args.format, args.split, args.eval_rows)
        lines = [TASKS["lm"].fmt_metrics(m)]
        if m.get("unknown"):
            print(f"note: {m['unknown']} tokens of --data are outside the model's vocabulary "
                  "and were scored as <unk>", file=sys.stderr)
    print(json.dumps(m) if args.json else "\n".join(lines))
    return 0


def _evaluate_translation(loaded, args: argparse.Namespace, decoding: dict[str, Any]) -> int:
    if args.format is not None or args.horizon is not None or args.eval_rows is not None:
        raise RnnlabError("a translate run reads --data as pairs in its own columns: drop "
                          "--format/--horizon/--eval-rows")
    task = TASKS["translate"]
    m = task.evaluate(loaded, args.data, args.split, **decoding)
    print(json.dumps(m) if args.json else "\n".join(task.describe_evaluation(m)))
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from rnnlab.datasets import read_lines

    texts = list(args.texts)
    if args.file:
        texts += read_lines(args.file, "--file")
    if not texts:
        raise RnnlabError("nothing to score: give TEXT arguments or --file PATH")
    loaded = load_run(args, "score")
    lm = TASKS["lm"]
    note(lm.unknown_note(lm.tokenizer(loaded), loaded.cfg, texts, "the texts"))
    for r in lm.score(loaded, texts):
        if args.json:
            print(json.dumps(r))
        else:
            print(f"{r['logprob']:.4f}\t{r['tokens']}\t{r['nll_per_token']:.4f}\t{r['text']}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """The task's own prediction: continuations of prompts (lm), future values (forecast)."""
    loaded = load_run(args, "predict")
    if loaded.task != "tag" and (args.data is not None or args.format is not None):
        raise RnnlabError(f"--data/--format apply to tag runs (a file to tag); {args.run!r} is "
                          f"a {loaded.task} run: give its inputs as arguments")
    if loaded.task == "translate":
        if args.attention or args.horizon is not None or args.out is not None:
            raise RnnlabError("a translate run's prediction is `rnnlab translate`: drop "
                              "--attention/--horizon/--out (heatmaps: translate "
                              "--attention-png)")
        if not args.inputs:
            raise RnnlabError("nothing to translate: give SENTENCE arguments")
        return print_translations(loaded, args.inputs, args)
    if loaded.task == "conditional":
        if not args.inputs:
            raise RnnlabError("give the classes to generate for as INPUT arguments")
        args.prompt = ""
        return print_conditional(loaded, args.inputs, decode_config(args), args)
    if loaded.task == "classify":
        if not args.inputs:
            raise RnnlabError("nothing to classify: give TEXT arguments")
        rows = TASKS["classify"].predict(loaded, args.inputs, args.top_k,
                                         args.attention or args.attention_png is not None)
        for r in rows:
            print(json.dumps(r) if args.json else "\t".join(
                [*(f"{lab} {p:.3f}" for lab, p in r["top"]), r["text"]]))
            if args.attention and not args.json:
                print("  attention: " + " ".join(f"{w}:{a:.2f}" for w, a in r["attention"]))
        if args.attention_png is not None:
            from rnnlab.plots import plot_token_weights

            plot_token_weights([([w for w, _ in r["attention"]], [a for _, a in r["attention"]],
                                 f"{r['top'][0][0]} {r['top'][0][1]:.2f}: {r['text'][:60]}")
                                for r in rows], Path(args.attention_png))
            print(f"attention heat map: {args.attention_png}", file=sys.stderr)
        return 0
    if loaded.task == "tag":
        return _print_tags(loaded, args)
    if args.data is not None or args.format is not None:
        raise RnnlabError("--data/--format of predict are for tag runs; drop them")
    if loaded.task == "forecast":
        if args.inputs:
            raise RnnlabError("a forecasting run predicts the future of its own series: drop "
                              "the INPUT arguments (use --horizon for the number of steps)")
        return _print_forecast(TASKS["forecast"].forecast_future(loaded, args.horizon, args.out))
    if args.horizon is not None or args.out is not None:
        raise RnnlabError("--horizon/--out are for forecasting runs; drop them")
    if args.attention or args.attention_png is not None:
        raise RnnlabError("--attention/--attention-png are for classify runs trained with "
                          "--pool attention")
    dc = decode_config(args)
    lm = TASKS["lm"]
    prompts = args.inputs or [""]
    note(lm.unknown_note(lm.tokenizer(loaded), loaded.cfg, prompts, "the inputs"))
    rows = []
    for prompt in prompts:
        outs = lm.generate(loaded.model, lm.tokenizer(loaded), loaded.cfg, dc, 1, prompt,
                           args.seed)
        rows.append({"input": prompt, "output": outs[0]})
    for r in rows:
        print(json.dumps(r) if args.json else r["output"])
    return 0


def _print_tags(loaded, args: argparse.Namespace) -> int:
    """Tagged sentences: the CoNLL-U with its tag column filled (to --out, else stdout), or
    word/TAG lines; --json: one object per sentence."""
    if args.horizon is not None or args.attention:
        raise RnnlabError("--horizon/--attention do not apply to tag runs; drop them")
    r = TASKS["tag"].predict(loaded, args.data, args.inputs, args.format, args.out)
    if args.json:
        for s in r["sentences"]:
            print(json.dumps(s))
    elif args.out is None:
        if r["conllu"] is not None:
            sys.stdout.write(r["conllu"])
        else:
            for s in r["sentences"]:
                print(" ".join(f"{w}/{t}" for w, t in zip(s["words"], s["tags"], strict=True)))
    if args.out is not None:
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


def cmd_diagnose(args: argparse.Namespace) -> int:
    loaded = load_run(args, "diagnose")
    d = TASKS["lm"].diagnose(loaded, Path(args.out), args.seq_len, args.batch_size, args.data,
                             args.split)
    r = d["result"]
    for k, norms in enumerate(r["hidden_grad_norm"]):
        first, last = norms[0], norms[-1]
        ratio = first / last if last > 0 else float("inf")
        print(f"layer/direction {k}: ||dL_T/dh_1|| = {first:.3e}, ||dL_T/dh_T|| = {last:.3e} "
              f"(ratio {ratio:.2e} over {len(norms)} steps)")
    for k, blocks in enumerate(r["spectral"]):
        radii = ", ".join(f"{name} {v['radius']:.3f}" for name, v in blocks.items())
        print(f"spectral radius, layer/direction {k}: {radii}")
    print(f"wrote {d['paths']['json']} and {d['paths']['png']}")
    return 0


def cmd_forecast(args: argparse.Namespace) -> int:
    loaded = load_run(args, "forecast")
    return _print_forecast(TASKS["forecast"].forecast_future(
        loaded, args.horizon, args.out, args.interval_level))


def _print_forecast(r: dict[str, Any]) -> int:
    lvl = int(r["level"] * 100)
    print(f"step\tdate\tforecast\tlower ({lvl}%)\tupper ({lvl}%)")
    for row in r["rows"]:
        print(f"{row['step']}\t{row['date']}\t{row['forecast']:.4f}\t{row['lower']:.4f}\t"
              f"{row['upper']:.4f}")
    print(f"wrote {r['csv']} and {r['png']}")
    return 0


HANDLERS = {"train": cmd_train, "evaluate": cmd_evaluate, "generate": cmd_generate,
            "score": cmd_score, "predict": cmd_predict, "diagnose": cmd_diagnose,
            "forecast": cmd_forecast, "export": cmd_export, "translate": cmd_translate}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return HANDLERS[args.command_name](args)
    except PeerError:  # torchrun: rank 0 printed it
        return EXIT_USER_ERROR
    except RnnlabError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("error: interrupted; the last checkpoint is intact (continue with --resume)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

