"""Command line: `rnnlab train | evaluate | generate | score | diagnose | forecast`.

Flags -> configs -> one library call (`rnnlab.run`) -> print. All printing lives here.
User mistakes print one line `error: ...` and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

from rnnlab.errors import RnnlabError

EXIT_USER_ERROR = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, as every other user error
        print(f"error: {self.prog}: {message} (see --help)", file=sys.stderr)
        raise SystemExit(EXIT_USER_ERROR)


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {v}")
    return v


# flag -> (config section, type, help); defaults live in rnnlab.config
DATA_FLAGS: dict[str, tuple[type, str]] = {
    "data": (str, "training file (default: embedded Spanish first names)"),
    "format": (str, "text: one stream cut into TBPTT chunks; lines: one example per line"),
    "level": (str, "char or word tokens"),
    "val_data": (str, "explicit validation file (else a seeded split of --data)"),
    "test_data": (str, "explicit test file"),
    "split_seed": (int, "seed of the train/val/test split (same seed, same split)"),
    "val_size": (int, "lines format: validation examples (default min(1000, 10%%))"),
    "test_size": (int, "lines format: test examples (default min(1000, 10%%))"),
    "val_fraction": (float, "text format: validation fraction"),
    "test_fraction": (float, "text format: test fraction"),
    "min_freq": (int, "drop tokens rarer than this from the vocabulary"),
    "max_vocab": (int, "keep at most this many tokens"),
    "direction": (str, "l2r, or r2l: each line's tokens reversed (its <eos> stays last)"),
}
MODEL_FLAGS: dict[str, tuple[type, str]] = {
    "model": (str, "bigram, ngram, linear, mlp, cnn, rnn (Elman), gru, lstm"),
    "embedding_dim": (int, "embedding size"),
    "hidden_size": (int, "hidden units per layer (window models: hidden layer)"),
    "num_layers": (int, "stacked recurrent layers (cnn: conv layers)"),
    "dropout": (float, "dropout probability"),
    "impl": (str, "recurrent models: fused (torch.nn) or loop (hand-written cells)"),
    "init_range": (float, "initialize every weight from U(-r, r)"),
    "context": (int, "window models: tokens of context"),
    "order": (int, "n-gram order"),
    "smoothing": (str, "n-gram smoothing: mle, add-k, kn, mkn"),
    "k": (float, "add-k smoothing constant"),
}
TRAIN_FLAGS: dict[str, tuple[type, str]] = {
    "batch_size": (int, "sequences per batch"),
    "seq_len": (int, "text format: TBPTT chunk length"),
    "partition": (str, "text format: sequential (carry state) or random (reset state)"),
    "optimizer": (str, "adamw or sgd"),
    "lr": (float, "learning rate"),
    "weight_decay": (float, "weight decay"),
    "momentum": (float, "sgd momentum"),
    "schedule": (str, "constant, cosine or step"),
    "warmup": (int, "warmup steps"),
    "lr_decay": (float, "step schedule: factor per epoch"),
    "decay_start": (int, "step schedule: first decayed epoch (0-based)"),
    "clip": (float, "max gradient norm (0 disables clipping)"),
    "max_steps": (int, "stop after this many optimizer steps"),
    "max_epochs": (int, "stop after this many epochs"),
    "max_time": (float, "stop after this many seconds of training (0: no limit)"),
    "clock": (str, "wall, or cpu: --max-time counts this process's CPU seconds (shared box)"),
    "eval_every": (int, "evaluate and checkpoint every N steps"),
    "eval_batch_size": (int, "lines format: sequences per evaluation batch"),
    "patience": (int, "stop after N evaluations without improvement (0: never)"),
    "seed": (int, "random seed of initialization, dropout and batch order"),
    "threads": (_positive_int, "torch threads (2 torch threads stall on a loaded 2-core box)"),
    "precision": (str, "fp32; bf16: autocast the training forward (fp32 weights and loss); "
                  "bf16-head: only the fused output layer in bf16"),
    "stream_val_batch": (_positive_int, "text format: validation rows during training "
                         "(1: exact; the final figures always use 1)"),
}
BOOL_FLAGS = {"model": ("tie_weights", "feedback", "direct"),
              "train": ("log_grad_norms", "fused_loss", "compile")}


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    for title, flags in (("data", DATA_FLAGS), ("model", MODEL_FLAGS), ("train", TRAIN_FLAGS)):
        g = p.add_argument_group(title)
        for name, (typ, help_) in flags.items():
            g.add_argument("--" + name.replace("_", "-"), dest=name, type=typ, default=None,
                           help=help_)
        for name in BOOL_FLAGS.get(title, ()):
            # --flag / --no-flag: a command line can switch off what a config file switched on
            g.add_argument("--" + name.replace("_", "-"), dest=name,
                           action=argparse.BooleanOptionalAction, default=None)


def _threads(n: int | None) -> None:
    if n is not None:
        import torch

        torch.set_num_threads(n)


def _build_config(args: argparse.Namespace):
    from rnnlab.config import RunConfig, load_toml

    cfg = RunConfig()
    if args.config:
        cfg.update(load_toml(args.config), source=f"--config {args.config}")
    overlay: dict[str, dict[str, Any]] = {"data": {}, "model": {}, "train": {}}
    for section, flags in (("data", DATA_FLAGS), ("model", MODEL_FLAGS), ("train", TRAIN_FLAGS)):
        for name in [*flags, *BOOL_FLAGS.get(section, ())]:
            v = getattr(args, name)
            if v is not None:
                overlay[section][name] = v
    cfg.update(overlay, source="flags")
    if cfg.train.clip is not None and cfg.train.clip <= 0:
        cfg.train.clip = None
    if cfg.data.data is not None and args.format is None and not (
        args.config and "format" in load_toml(args.config).get("data", {})
    ):
        cfg.data.format = "lines"
    return cfg


# training limits a resumed run may change; everything else comes from the run's config.json
RESUME_OVERRIDES = ("max_steps", "max_time", "max_epochs", "threads", "patience")


def _resume_config(args: argparse.Namespace, config_cls):
    """The saved config of the run in --out, with the limits given on this command line."""
    if args.out is None:
        raise RnnlabError("--resume needs --out RUN_FOLDER, the run to continue")
    cfg_path = Path(args.out) / "config.json"
    if not cfg_path.is_file():
        raise RnnlabError(f"--resume: {str(cfg_path)!r} not found; is --out a run folder?")
    cfg = config_cls.from_dict(json.loads(cfg_path.read_text()))
    for name in RESUME_OVERRIDES:
        if getattr(args, name) is not None:
            setattr(cfg.train, name, getattr(args, name))
    return cfg


def _default_out(cfg) -> Path:
    name = Path(cfg.data.data).stem if cfg.data.data else "spanish-names"
    return Path("runs") / f"{name}-{cfg.model.model}-{time.strftime('%Y%m%d-%H%M%S')}"


def _fmt(m: dict[str, Any] | None) -> str:
    if not m:
        return "n/a"
    return f"nll {m['nll']:.4f} nats/token  ppl {m['ppl']:.3f}  bits {m['bpc']:.4f}  " \
           f"({m['tokens']} tokens)"


FORECAST_ONLY = ("column", "season", "horizon", "strategy")


def cmd_train(args: argparse.Namespace) -> int:
    if args.task == "forecast":
        return _train_forecast(args)
    given = [f"--{n}" for n in FORECAST_ONLY if getattr(args, n, None) is not None]
    if given:
        raise RnnlabError(
            f"{', '.join(given)}: forecasting flag(s) given without --task forecast; add it, "
            "or drop them to train a language model"
        )
    from rnnlab.config import RunConfig
    from rnnlab.decoding import DecodeConfig
    from rnnlab.plots import plot_history
    from rnnlab.run import sample_lm, train_lm

    cfg = _resume_config(args, RunConfig) if args.resume else _build_config(args)
    _threads(cfg.train.threads)
    out = Path(args.out) if args.out else _default_out(cfg)
    bar = None

    def ready(info: dict[str, Any]) -> None:
        print(f"data: {info['source']}  ({info['train_tokens']} training tokens, "
              f"{info['val_tokens']} validation tokens, vocabulary {info['vocab_size']})")
        print(f"model: {info['model']}  ({info['params']:,} parameters)  run folder: {out}")

    def event(e: dict[str, Any]) -> None:
        nonlocal bar
        if args.no_progress:
            if e["event"] == "eval":
                print(_eval_line(e))
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
            bar.write(_eval_line(e))

    try:
        res = train_lm(cfg, out, resume=args.resume, on_event=event, on_ready=ready)
    finally:
        if bar is not None:
            bar.close()
    h = res.history
    print(f"done: {h.stopped or 'finished'} after {h.steps} steps in {res.seconds:.1f} s"
          + (" since the resume" if args.resume else "")
          + (f"; best validation at step {h.best_step}" if h.records else ""))
    print(f"validation: {_fmt(res.val)}")
    print(f"test:       {_fmt(res.test)}")
    if h.records:
        plot_history(out / "metrics.jsonl", out / "loss.png")
    n = args.samples
    if n > 0:
        dc = DecodeConfig(strategy="sample", max_new_tokens=60 if cfg.data.format == "lines"
                          else 300)
        if cfg.data.format == "lines":
            seen = set(res.splits.train)
            names = sample_lm(res.model, res.tokenizer, cfg, dc, n, seed=cfg.train.seed)
            print(f"{n} samples:")
            for s in names:
                print(f"  {s:<24} {'in training set' if s in seen else 'new'}")
            (out / "samples.txt").write_text("\n".join(names) + "\n")
        else:
            val = str(res.splits.val or res.splits.train)
            prompt = res.tokenizer.splitter.join(res.tokenizer.split(val)[:20])
            text = sample_lm(res.model, res.tokenizer, cfg, dc, 1, prompt, cfg.train.seed)[0]
            print("sample:\n" + text)
            (out / "samples.txt").write_text(text + "\n")
    print(f"run folder: {out}")
    return 0


def _eval_line(e: dict[str, Any]) -> str:
    s = f"step {e['step']:>6}  train {e['train_loss']:.4f}"
    if "val_nll" in e:
        s += f"  val {e['val_nll']:.4f}"
    return s + f"  lr {e['lr']:.2e}  {e['time']:.0f}s"


def cmd_evaluate(args: argparse.Namespace) -> int:
    from rnnlab.run import evaluate_lm

    _threads(args.threads)
    if _is_forecast_run(args.run):
        return _evaluate_forecast(args)
    m = evaluate_lm(args.run, args.data, args.format, args.split)
    if args.json:
        print(json.dumps(m))
    else:
        print(_fmt(m))
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from rnnlab.checkpoint import load_model
    from rnnlab.decoding import DecodeConfig
    from rnnlab.run import run_config, sample_lm

    _threads(args.threads)
    dc = DecodeConfig(args.strategy, args.max_new_tokens, args.temperature, args.top_k,
                      args.top_p, args.num_beams)
    dc.check()  # before loading anything: a bad flag should not wait for the checkpoint
    model, tok, payload = load_model(args.run)
    cfg = run_config(payload)
    num = 1 if args.strategy in ("greedy", "beam_search") else args.num
    for s in sample_lm(model, tok, cfg, dc, num, args.prompt, args.seed):
        print(s)
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from rnnlab.datasets import read_lines
    from rnnlab.run import score_texts

    _threads(args.threads)
    texts = list(args.texts)
    if args.file:
        texts += read_lines(args.file, "--file")
    if not texts:
        raise RnnlabError("nothing to score: give TEXT arguments or --file PATH")
    results = score_texts(args.run, texts)
    for r in results:
        if args.json:
            print(json.dumps(r))
        else:
            print(f"{r['logprob']:.4f}\t{r['tokens']}\t{r['nll_per_token']:.4f}\t{r['text']}")
    return 0


def cmd_diagnose(args: argparse.Namespace) -> int:
    from rnnlab.run import diagnose_lm

    _threads(args.threads)
    out = Path(args.out)
    d = diagnose_lm(args.run, out, args.seq_len, args.batch_size, args.data, args.split)
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


# -- forecasting (--task forecast; library: rnnlab.forecast) ---------------------------------
def _train_forecast(args: argparse.Namespace) -> int:
    from rnnlab.forecast import ForecastConfig, config_from_args, train_forecast

    cfg = _resume_config(args, ForecastConfig) if args.resume else config_from_args(args)
    _threads(cfg.train.threads)
    stem = Path(cfg.data.data).stem if cfg.data.data else "sunspots"
    out = Path(args.out) if args.out else (
        Path("runs") / f"{stem}-forecast-{cfg.model.model}-{time.strftime('%Y%m%d-%H%M%S')}")

    def ready(i: dict[str, Any]) -> None:
        print(f"data: {i['source']} column {i['column']!r}: {i['n']} values, split "
              f"train {i['train']} | val {i['val']} | test {i['test']} (chronological)")
        print(f"model: {i['model']}, context {i['context']}, horizon {i['horizon']}, season "
              f"{i['season']} ({i['params']:,} parameters, {i['train_windows']} training "
              f"windows)  run folder: {out}")

    def event(e: dict[str, Any]) -> None:
        if e["event"] == "eval":
            print(f"step {e['step']:>6}  train mse {e['train_loss']:.4f}  val mae "
                  f"{e.get('val_mae', float('nan')):.4f} (scaled)  {e['time']:.0f}s")

    res = train_forecast(cfg, out, resume=args.resume, on_event=event, on_ready=ready)
    h = res.history
    print(f"done: {h.stopped or 'finished'} after {h.steps} steps in {res.seconds:.1f} s"
          + (" since the resume" if args.resume else "")
          + f"; best validation at step {h.best_step}")
    _print_forecast_eval(res.summary)
    print(f"run folder: {out}")
    return 0


def _is_forecast_run(run: str) -> bool:
    from rnnlab.checkpoint import load_checkpoint

    return load_checkpoint(run).get("task") == "forecast"


def _print_forecast_eval(m: dict[str, Any]) -> None:
    print(f"{m['split']} part, {m['origins']} rolling origins x {m['horizon']} steps "
          f"(MASE scale: in-sample seasonal naive MAE, season {m['season']}):")
    names = [k for k in ("model", "naive", "seasonal_naive", "autoreg", "ets") if k in m]
    for k in names:
        label = m[k].get("name", m.get("baselines", {}).get(k, ""))
        print(f"  {k:<15} MAE {m[k]['mae']:10.4f}  RMSE {m[k]['rmse']:10.4f}  "
              f"MASE {m[k]['mase']:7.4f}  {label}")
    if "interval" in m:
        iv = m["interval"]
        print(f"  {int(iv['level'] * 100)}% interval coverage on {m['split']}: "
              f"{iv['coverage']:.3f}")


def _evaluate_forecast(args: argparse.Namespace) -> int:
    from rnnlab.forecast import evaluate_forecast

    if args.data is not None or args.format is not None:
        raise RnnlabError(
            "--data/--format are for language-model runs; a forecasting run is evaluated on "
            "the test part of its own series: drop them"
        )
    m = evaluate_forecast(args.run, args.horizon, args.split)
    if args.json:
        print(json.dumps(m))
    else:
        _print_forecast_eval(m)
    return 0


def cmd_forecast(args: argparse.Namespace) -> int:
    from rnnlab.forecast import forecast_future

    _threads(args.threads)
    r = forecast_future(args.run, args.horizon, args.out, args.interval_level)
    lvl = int(r["level"] * 100)
    print(f"step\tdate\tforecast\tlower ({lvl}%)\tupper ({lvl}%)")
    for row in r["rows"]:
        print(f"{row['step']}\t{row['date']}\t{row['forecast']:.4f}\t{row['lower']:.4f}\t"
              f"{row['upper']:.4f}")
    print(f"wrote {r['csv']} and {r['png']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="rnnlab", description="Sequence models with recurrent networks.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train a language model into a run folder")
    t.add_argument("--config", help="TOML file with [data], [model], [train] tables")
    t.add_argument("--out", help="run folder (default runs/<data>-<model>-<time>)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
    t.add_argument("--samples", type=int, default=20, help="samples to print after training")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--task", choices=["lm", "forecast"], default="lm",
                   help="lm: language model; forecast: a real-valued series (CSV)")
    fc = t.add_argument_group("forecast (--task forecast; --data FILE.csv, default sunspots)")
    fc.add_argument("--column", help="value column of the CSV")
    fc.add_argument("--season", type=int, help="seasonal period m (12 monthly, 1 none)")
    fc.add_argument("--horizon", type=int, help="steps H to forecast from each origin")
    fc.add_argument("--strategy", help="recursive (feed predictions back) or direct")
    _add_config_flags(t)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="NLL, perplexity and bits per token")
    e.add_argument("run", help="run folder or checkpoint file")
    e.add_argument("--data", help="file to evaluate (default: the run's own --split)")
    e.add_argument("--format", choices=["text", "lines"], help="format of --data")
    e.add_argument("--split", default="test", help="val or test split of the run's data")
    e.add_argument("--json", action="store_true", help='print {"nll", "ppl", "bpc", "tokens"}')
    e.add_argument("--horizon", type=int, help="forecasting runs: steps (default: trained)")
    e.add_argument("--threads", type=_positive_int)
    e.set_defaults(func=cmd_evaluate)

    g = sub.add_parser("generate", help="sample or decode from a trained model")
    g.add_argument("run", help="run folder or checkpoint file")
    g.add_argument("--prompt", default="", help="text to continue")
    g.add_argument("--num", type=_positive_int, default=10, help="samples to draw")
    g.add_argument("--strategy", default="sample", help="greedy, sample or beam_search")
    g.add_argument("--max-new-tokens", type=int, default=100)
    g.add_argument("--temperature", type=float, default=1.0)
    g.add_argument("--top-k", type=int)
    g.add_argument("--top-p", type=float)
    g.add_argument("--num-beams", type=int, default=4)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--threads", type=_positive_int)
    g.set_defaults(func=cmd_generate)

    s = sub.add_parser("score", help="log-probability of given texts")
    s.add_argument("run", help="run folder or checkpoint file")
    s.add_argument("texts", nargs="*", help="texts to score")
    s.add_argument("--file", help="score every line of this file")
    s.add_argument("--json", action="store_true", help="one JSON object per text, per token")
    s.add_argument("--threads", type=_positive_int)
    s.set_defaults(func=cmd_score)

    d = sub.add_parser("diagnose", help="gradient flow over time, saturation, spectral radius")
    d.add_argument("run", help="run folder or checkpoint file of a recurrent model")
    d.add_argument("--out", required=True, help="folder for gradient_flow.json and .png")
    d.add_argument("--data", help="file to draw the batch from (default: the run's --split)")
    d.add_argument("--split", default="val", help="val or test split of the run's data")
    d.add_argument("--seq-len", type=_positive_int, default=100, help="steps T of BPTT")
    d.add_argument("--batch-size", type=_positive_int, default=16)
    d.add_argument("--threads", type=_positive_int)
    d.set_defaults(func=cmd_diagnose)
    fp = sub.add_parser("forecast", help="forecast a trained series beyond its end")
    fp.add_argument("run", help="run folder or checkpoint of `rnnlab train --task forecast`")
    fp.add_argument("--horizon", type=int, required=True, help="steps to forecast")
    fp.add_argument("--out", help="CSV file (default RUN/forecast.csv); the PNG goes next to it")
    fp.add_argument("--interval-level", type=float, default=0.9,
                    help="prediction interval level from validation residual quantiles")
    fp.add_argument("--threads", type=_positive_int)
    fp.set_defaults(func=cmd_forecast)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except RnnlabError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("error: interrupted; the last checkpoint is intact (continue with --resume)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
