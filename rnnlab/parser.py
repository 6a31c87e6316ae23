"""The command line's parser: every subcommand and flag of `rnnlab` (handlers: cli.py).

`train`'s config flags come from the tasks' config dataclasses (flags.py); every other
subcommand takes a run folder. Imports no torch: `rnnlab --help` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, NoReturn

from rnnlab.flags import TITLES, add_config_flags
from rnnlab.tasks import TASKS

EXIT_USER_ERROR = 2


def _float01(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text}")
    return v


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {v}")
    return v


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, as every other user error
        print(f"error: {self.prog}: {message} (see --help)", file=sys.stderr)
        raise SystemExit(EXIT_USER_ERROR)


def _add_decoding(p: argparse.ArgumentParser, strategy: str | None = "sample",
                  num_beams: int = 4, max_new_tokens: int | None = 100) -> None:
    shown = strategy or "lm, conditional: sample; translate: greedy"
    p.add_argument("--strategy", default=strategy,
                   help=f"greedy, sample or beam_search (default {shown})")
    p.add_argument("--max-new-tokens", type=int, default=max_new_tokens,
                   help="translate: default 2 S + 10 for a source of S tokens")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-k", type=int)
    p.add_argument("--top-p", type=float)
    p.add_argument("--num-beams", type=int, default=num_beams)
    p.add_argument("--length-penalty", type=float, default=0.6,
                   help="translate, beam_search: alpha of lp(Y) = ((5 + |Y|) / 6)^alpha (Wu et "
                   "al. 2016); 0 ranks by log-probability")
    p.add_argument("--seed", type=int, default=0)


def build_parser() -> argparse.ArgumentParser:
    tasks = "; ".join(f"{n} ({TITLES.get(n, n)})" for n in TASKS)
    p = _Parser(prog="rnnlab", description="Sequence models with recurrent networks. "
                f"Tasks (`rnnlab train --task NAME`): {tasks}. Every other subcommand takes a "
                "run folder and works on the task that run recorded.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    commands = {n: [t for t, m in TASKS.items() if n in m.COMMANDS]
                for n in ("evaluate", "generate", "score", "predict", "diagnose", "forecast",
                          "translate")}

    def for_tasks(name: str) -> str:
        return f" ({', '.join(commands[name])} runs)"

    _add_train(sub, tasks)
    _add_run_commands(sub, for_tasks)
    return p


def _add_train(sub: Any, tasks: str) -> None:
    t = sub.add_parser("train", help="train a model of any task into a run folder")
    t.add_argument("--task", help=f"what to model: {tasks} (default: the config's "
                   "`task`, else lm)")
    t.add_argument("--config", help="TOML file: task = \"...\" and [data], [model], [train]")
    t.add_argument("--out", help="run folder (default runs/<data>-<model>-<time>)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
    t.add_argument("--samples", type=int, default=20, help="lm: samples to print after training")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--dry-run", action="store_true",
                   help="check the configuration, print it as JSON, train nothing")
    add_config_flags(t)
    t.set_defaults(command_name="train")


def _add_run_commands(sub: Any, for_tasks: Any) -> None:
    """The subcommands that take a trained run."""
    e = sub.add_parser("evaluate", help="the task's test figures" + for_tasks("evaluate"))
    e.add_argument("run", help="run folder or checkpoint file")
    e.add_argument("--data", help="lm: file to evaluate; tag: a CoNLL-U file (default: the "
                   "run's own --split)")
    e.add_argument("--format", choices=["text", "lines"], help="lm: format of --data")
    e.add_argument("--split", default="test", help="val or test split of the run's data")
    e.add_argument("--json", action="store_true",
                   help='print JSON (lm: {"nll", "ppl", "bpc", "tokens"})')
    e.add_argument("--horizon", type=int, help="forecast: steps (default: trained)")
    e.add_argument("--eval-rows", type=_positive_int,
                   help="lm streams: parallel rows (1: exact; default: the run's --eval-rows)")
    t = e.add_argument_group("translate runs: BLEU and chrF of a decoding (the flags of "
                             "`rnnlab translate`)")
    t.add_argument("--strategy", help="greedy (default), sample or beam_search")
    t.add_argument("--num-beams", type=int, help="beam_search: beams (default 5)")
    t.add_argument("--length-penalty", type=float,
                   help="beam_search: alpha of the Wu et al. length penalty (default 0.6)")
    t.add_argument("--max-new-tokens", type=int, help="default 2 S + 10 for S source tokens")
    t.add_argument("--batch-size", type=int,
                   help="sentences decoded together (1: one at a time; default the run's "
                   "--eval-batch-size)")
    t.add_argument("--limit", type=int, help="only N pairs, spread evenly over the part")
    e.add_argument("--threads", type=_positive_int)
    e.set_defaults(command_name="evaluate")

    g = sub.add_parser("generate", help="sample or decode" + for_tasks("generate"))
    g.add_argument("run", help="run folder, checkpoint file, or FILE.onnx of `rnnlab export`")
    g.add_argument("--prompt", default="", help="text to continue")
    g.add_argument("--num", type=_positive_int, default=10, help="samples to draw")
    g.add_argument("--condition", help="conditional runs: the class to generate for")
    g.add_argument("--json", action="store_true", help="conditional runs: one JSON per sample")
    _add_decoding(g)
    g.add_argument("--threads", type=_positive_int)
    g.set_defaults(command_name="generate")

    s = sub.add_parser("score", help="log-probability of given texts" + for_tasks("score"))
    s.add_argument("run", help="run folder or checkpoint file")
    s.add_argument("texts", nargs="*", help="texts to score")
    s.add_argument("--file", help="score every line of this file")
    s.add_argument("--json", action="store_true", help="one JSON object per text, per token")
    s.add_argument("--threads", type=_positive_int)
    s.set_defaults(command_name="score")

    pr = sub.add_parser("predict", help="the task's prediction: lm continues each INPUT; "
                        "classify gives each INPUT's top classes (--top-k, default 3); "
                        "forecast forecasts beyond the series; tag fills the tag column of "
                        "--data (CoNLL-U or plain text)" + for_tasks("predict"))
    pr.add_argument("run", help="run folder or checkpoint file")
    pr.add_argument("inputs", nargs="*", help="lm: prompts to continue; classify: texts; "
                    "tag: sentences (whitespace tokens)")
    pr.add_argument("--data", help="tag: file to tag, CoNLL-U or plain text (one sentence "
                    "per line)")
    pr.add_argument("--format", choices=["auto", "conllu", "text"],
                    help="tag: format of --data (default auto: CoNLL-U when its first token "
                    "line has 10 tab-separated columns)")
    pr.add_argument("--json", action="store_true", help="one JSON object per input")
    pr.add_argument("--attention", action="store_true",
                    help="classify, --pool attention: each token's attention weight")
    pr.add_argument("--attention-png", help="classify, --pool attention: write the weights "
                    "of every input as a heat map PNG to this file")
    pr.add_argument("--num", type=_positive_int, default=5,
                    help="conditional: samples per class")
    pr.add_argument("--horizon", type=int, help="forecast: steps (default: trained)")
    pr.add_argument("--out", help="forecast: CSV file (default RUN/forecast.csv); tag: the "
                    "tagged file (CoNLL-U in, CoNLL-U out)")
    _add_decoding(pr, strategy=None, max_new_tokens=None)
    pr.add_argument("--threads", type=_positive_int)
    pr.set_defaults(command_name="predict")

    tr = sub.add_parser("translate", help="translate sentences (source column -> target "
                        "column of the run's data)" + for_tasks("translate"))
    tr.add_argument("run", help="run folder or checkpoint file")
    tr.add_argument("sentences", nargs="*", help="source sentences")
    tr.add_argument("--file", help="translate every non-blank line of this file")
    tr.add_argument("--json", action="store_true", help="one JSON object per sentence")
    tr.add_argument("--attention-png", help="write the attention heatmap of the (first) "
                    "sentence to this PNG (with several sentences: FILE-2.png ... too)")
    _add_decoding(tr, strategy="greedy", num_beams=5, max_new_tokens=None)
    tr.add_argument("--threads", type=_positive_int)
    tr.set_defaults(command_name="translate")

    d = sub.add_parser("diagnose", help="gradient flow over time, saturation, spectral radius"
                       + for_tasks("diagnose"))
    d.add_argument("run", help="run folder or checkpoint file of a recurrent model")
    d.add_argument("--out", required=True, help="folder for gradient_flow.json and .png")
    d.add_argument("--data", help="file to draw the batch from (default: the run's --split)")
    d.add_argument("--split", default="val", help="val or test split of the run's data")
    d.add_argument("--seq-len", type=_positive_int, default=100, help="steps T of BPTT")
    d.add_argument("--batch-size", type=_positive_int, default=16)
    d.add_argument("--threads", type=_positive_int)
    d.set_defaults(command_name="diagnose")

    x = sub.add_parser("export", help="export the model to ONNX and check it with ONNX Runtime "
                       "(any task; pip install 'rnnlab[export]')")
    x.add_argument("run", help="run folder or checkpoint file")
    x.add_argument("--format", default="onnx", help="onnx (the only format)")
    x.add_argument("--out", required=True, help="FILE.onnx to write")
    x.add_argument("--threads", type=_positive_int)
    x.set_defaults(command_name="export")

    fp = sub.add_parser("forecast", help="forecast a trained series beyond its end"
                        + for_tasks("forecast"))
    fp.add_argument("run", help="run folder or checkpoint of `rnnlab train --task forecast`")
    fp.add_argument("--horizon", type=int, required=True, help="steps to forecast")
    fp.add_argument("--out", help="CSV file (default RUN/forecast.csv); the PNG goes next to it")
    fp.add_argument("--interval-level", type=_float01, default=0.9,
                    help="prediction interval level from validation residual quantiles")
    fp.add_argument("--threads", type=_positive_int)
    fp.set_defaults(command_name="forecast")
