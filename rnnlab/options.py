"""The options of the use-time subcommands (evaluate, predict, generate, ...): one declaration
of each, as `config.param` declares the training flags.

A task offers subcommands (`COMMANDS`, one `Command` each) and says which `Option`s each
takes; the command line builds its parser from the union of what the tasks offer, and after
loading a run checks the given options against that run's task (`Command.bind`). Python
callers pass a plain dict to the task's function (`rnnlab.tasks.lm.evaluate(loaded,
{"split": "val"})`), which `bind` checks the same way. Options shared by several tasks (the
decoding options, --data, --split, --json) are declared once, here. Imports no torch.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rnnlab.errors import RnnlabError


def _num(v: float) -> str:
    return f"{v:,}" if isinstance(v, int) else f"{v:g}"


def _unset(default: Any) -> bool:
    """A default not worth showing: none, a switch's, an empty text or list."""
    return default is None or isinstance(default, bool) or default in ("", [])


@dataclass(frozen=True)
class Option:
    """One option: its type, range, default and help. `special` maps values outside the range
    to their documented meaning; `when = (name, values)` makes it apply only when option
    `name` takes one of `values` (e.g. --temperature only under --strategy sample).
    `refused`: an option that has no meaning for this task's command, declared so that any
    value gets this reason (naming what the task reads) instead of a bare "does not apply"."""

    name: str  # the Python name; the flag is --name-with-dashes
    help: str
    type: type = str  # int, float, str, bool (a switch) or list (positional texts)
    default: Any = None
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    choices: tuple[str, ...] = ()
    special: Mapping[Any, str] = field(default_factory=dict)
    when: tuple[str, tuple[str, ...]] | None = None
    required: bool = False
    default_text: str | None = None  # how --help shows a default that depends on the run
    metavar: str | None = None
    refused: str = ""

    @property
    def flag(self) -> str:
        if self.type is list:
            return (self.metavar or self.name.upper()) + " arguments"
        return "--" + self.name.replace("_", "-")

    @property
    def positional(self) -> bool:
        return self.type is list

    def expectation(self) -> str:
        """What a valid value is, in words (errors and --help)."""
        if self.choices:
            text = "one of " + ", ".join(self.choices)
        elif self.type in (int, float):
            # the tighter bound on each side (--temperature: > 0 and >= 0.001)
            lo = max(((getattr(self, k), k) for k in ("gt", "ge") if getattr(self, k)
                      is not None), default=None)
            hi = min(((getattr(self, k), k) for k in ("lt", "le") if getattr(self, k)
                      is not None), default=None)
            kind = "a whole number" if self.type is int else "a finite number"
            if lo and hi:
                text = (f"{kind} in {'[' if lo[1] == 'ge' else '('}{_num(lo[0])}, "
                        f"{_num(hi[0])}{']' if hi[1] == 'le' else ')'}")
            else:
                ops = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
                text = kind + "".join(f" {ops[b[1]]} {_num(b[0])}" for b in (lo, hi) if b)
        elif self.type is bool:
            return "a switch (no value)"
        else:
            text = "a file path" if self.metavar == "PATH" else "text"
            if "" not in self.special:
                text = "a non-empty " + text[2:] if text.startswith("a ") else "non-empty text"
        if self.special:
            text += " (" + "; ".join(f"{k!r}: {v}" if isinstance(k, str) else f"{k}: {v}"
                                     for k, v in self.special.items()) + ")"
        return text

    def shown_default(self) -> str | None:
        if self.default_text is not None:
            return self.default_text
        return None if _unset(self.default) else str(self.default)

    def describe(self, default: str | None = None) -> str:
        """Help text: what it does, its valid values, its default (`default`: as given)."""
        if self.type in (bool, list) or self.refused:
            return self.help
        text = f"{self.help} ({self.expectation()}"
        default = self.shown_default() if default is None else default
        if default is not None:
            text += f"; default {default}"
        if self.when is not None:
            text += f"; only with --{self.when[0].replace('_', '-')} {' or '.join(self.when[1])}"
        return text + ")"

    def parse(self, text: str) -> Any:
        """The value of a command-line string, or a RnnlabError saying what is expected."""
        if self.type is int:
            try:
                value: Any = int(text.strip())
            except ValueError:
                raise self._error(text, "a whole number") from None
        elif self.type is float:
            try:
                value = float(text)
            except ValueError:
                raise self._error(text, "a number") from None
        else:
            value = text
        return self.check(value)

    def check(self, value: Any) -> Any:
        """The value, checked (int -> float for float options), or a RnnlabError."""
        if self.refused:
            raise RnnlabError(f"{self.flag}: {self.refused}")
        if self.type is bool:
            if not isinstance(value, bool):
                raise self._error(value, "true or false")
            return value
        if self.type is list:
            if isinstance(value, str) or not isinstance(value, Iterable):
                raise self._error(value, "a list of texts")
            items = list(value)
            if not all(isinstance(v, str) for v in items):
                raise self._error(value, "a list of texts")
            return items
        if self.type is str:
            if not isinstance(value, str):
                raise self._error(value, self.expectation())
            if self.choices and value not in self.choices:
                raise self._error(value, self.expectation())
            if not value.strip() and value not in self.special:
                raise self._error(value, self.expectation())
            return value
        whole = self.type is int
        if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)):
            raise self._error(value, self.expectation())
        if isinstance(value, float) and not math.isfinite(value):
            raise self._error(value, self.expectation())
        if value not in self.special:
            for key, op, ok in (("gt", ">", value > (self.gt or 0)),
                                ("ge", ">=", value >= (self.ge or 0)),
                                ("lt", "<", value < (self.lt or 0)),
                                ("le", "<=", value <= (self.le or 0))):
                bound = getattr(self, key)
                if bound is not None and not ok:
                    raise self._error(value, f"{op} {_num(bound)}", f" ({self.expectation()})")
        return value if whole else float(value)

    def _error(self, value: Any, expected: str, more: str = "") -> RnnlabError:
        shown = repr(value) if isinstance(value, str) else value
        example = "" if _unset(self.default) else f"; e.g. {self.flag} {self.default}"
        return RnnlabError(f"{self.flag} must be {expected}, got {shown}{more}{example}")

    def but(self, **changes: Any) -> Option:
        """This option with a task's own default or help (the declaration stays shared)."""
        return dataclasses.replace(self, **changes)


class Options(dict[str, Any]):
    """A command's option values by name (also as attributes); `given`: the names a caller
    set, as against defaults."""

    command: str = ""
    given: frozenset[str] = frozenset()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass(frozen=True)
class Shown:
    """What a command prints: lines on stdout, notes on stderr."""

    lines: list[str]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Command:
    """A use-time subcommand as one task offers it: its options, the function that does the
    work `run(loaded, options) -> result` and the one that prints it `show(result, options)`.
    `loaded` is a `tasks.base.Loaded` (the command line's own commands: a path)."""

    name: str
    help: str  # what it does for this task, for --help
    options: tuple[Option, ...]
    run: Callable[[Any, Options], Any]
    show: Callable[[Any, Options], Shown]

    def option(self, name: str) -> Option | None:
        return next((o for o in self.options if o.name == name), None)

    def bind(self, values: Mapping[str, Any] | None = None,
             given: Iterable[str] | None = None) -> Options:
        """Every option's value (given, else its default), checked; options that do not
        apply to the values of the others (`Option.when`) or that are missing are refused."""
        if isinstance(values, Options) and values.command == self.name:
            return values
        values = dict(values or {})
        names = {o.name for o in self.options}
        foreign = [k for k in values if k not in names]
        if foreign:
            raise RnnlabError(
                f"{', '.join(repr(k) for k in foreign)}: not an option of `{self.name}` here; "
                f"its options are {', '.join(o.name for o in self.options)}")
        out = Options()
        out.command = self.name
        out.given = frozenset(values if given is None else given)
        for o in self.options:
            out[o.name] = o.check(values[o.name]) if values.get(o.name) is not None else \
                o.default
            if o.required and out[o.name] is None:
                raise RnnlabError(f"{o.flag} is needed: {o.help}")
        for o in self.options:
            if o.when is not None and o.name in out.given:
                key, allowed = o.when
                if out[key] not in allowed:
                    other = "--" + key.replace("_", "-")
                    raise RnnlabError(
                        f"{o.flag} applies to {other} {' and '.join(allowed)}; `{self.name}` "
                        f"runs with {other} {out[key]} here: drop {o.flag} (or pass {other} "
                        f"{allowed[0]})")
        return out


@dataclass(frozen=True)
class FileRun:
    """A file that a task opens in place of a run folder (a task's `OPENS`), e.g. FILE.arpa
    for lm: the command line asks every task, by suffix, and names none itself. `load(path)`
    returns a `tasks.base.Loaded` that the task's `commands` work on unchanged."""

    suffix: str  # ".arpa"
    what: str  # how errors name such a file: "an ARPA n-gram file"
    commands: tuple[str, ...]  # the subcommands that take one
    load: Callable[[str], Any]


def commands(*offered: Command) -> dict[str, Command]:
    """A task's `COMMANDS`: subcommand name -> Command, in the order given."""
    return {c.name: c for c in offered}


def show_evaluation(describe: Callable[[dict[str, Any]], list[str]],
               notes: Callable[[dict[str, Any]], list[str]] | None = None
               ) -> Callable[[Any, Options], Shown]:
    """The `show` of an `evaluate`: the task's lines, or the result as JSON with --json."""
    import json

    def show(result: Any, options: Options) -> Shown:
        lines = [json.dumps(result)] if options.get("json") else describe(result)
        return Shown(lines, notes(result) if notes else [])

    return show


def json_lines(rows: Iterable[Any]) -> list[str]:
    import json

    return [json.dumps(r, ensure_ascii=False) for r in rows]


# -- options that several tasks share (a task may give one its own default with `but`) ------
PATH = "PATH"
JSON = Option("json", "print JSON instead of text", bool, False)
SPLIT = Option("split", "which part of the run's own data", str, "test", choices=("val", "test"))
DATA = Option("data", "a file to work on instead of the run's own --split", str,
              metavar=PATH)
OUT = Option("out", "the file to write", str, metavar=PATH)
HORIZON = Option("horizon", "steps to forecast", int, ge=1, le=1 << 16,
                 default_text="the trained horizon")
INTERVAL_LEVEL = Option("interval_level", "level of the prediction interval, from validation "
                        "residual quantiles", float, 0.9, gt=0, lt=1)
TEXTS = Option("inputs", "texts", list, [], metavar="INPUT")
LABELED_FORMAT = Option("format", "how --data is read: tsv (TEXT<TAB>LABEL lines, the label in "
                        "the run's --label-column) or folder (one file per class)", str,
                        choices=("tsv", "folder"), default_text="the run's --format")
TAGGED_FORMAT = Option("format", "how --data is read: conllu (CoNLL-U, what the run trained "
                       "on) or text (one sentence a line of WORD/TAG tokens, as `predict "
                       "--out` writes plain text)", str, choices=("conllu", "text"),
                       default_text="conllu, the run's format")
PAIRS_FORMAT = Option("format", "how --data is read: pairs (SOURCE<TAB>TARGET lines in the "
                      "run's columns, what the run trained on)", str, choices=("pairs",),
                      default_text="pairs, the run's format")
SERIES_FORMAT = Option("format", "not taken: a forecasting run reads one series, the csv it "
                       "was trained on", str, refused="a forecasting run reads one series, "
                       "the csv it was trained on (format csv); this subcommand reads no "
                       "other file: drop --format")
FILE = Option("file", "also every line of this file", str, metavar=PATH)

# decoding (Hugging Face's names): which options apply depends on --strategy
STRATEGIES = ("greedy", "sample", "beam_search")
_SAMPLE = ("strategy", ("sample",))
_BEAM = ("strategy", ("beam_search",))
STRATEGY = Option("strategy", "greedy: the most likely token at each step; sample: draw from "
                  "the model's distribution; beam_search: keep the --num-beams best prefixes",
                  str, "sample", choices=STRATEGIES)
MAX_NEW_TOKENS = Option("max_new_tokens", "the most tokens to generate", int, 100, ge=1,
                        le=1 << 20)
TEMPERATURE = Option("temperature", "divides the logits before sampling: < 1 sharper, > 1 "
                     "flatter (for the most likely token use --strategy greedy)", float, 1.0,
                     gt=0, ge=1e-3, le=1e3, when=_SAMPLE)
TOP_K = Option("top_k", "sample from the K most likely tokens only", int, ge=1,
               when=_SAMPLE, default_text="all tokens")
TOP_P = Option("top_p", "sample from the smallest set of most likely tokens whose "
               "probability reaches P (nucleus sampling)", float, gt=0, le=1, when=_SAMPLE,
               default_text="1, all tokens")
SEED = Option("seed", "random seed of the sampling", int, 0, ge=0, le=(1 << 32) - 1,
              when=_SAMPLE)
NUM_BEAMS = Option("num_beams", "beams of the search", int, 4, ge=1, le=1024, when=_BEAM)
LENGTH_PENALTY = Option("length_penalty", "alpha of the length penalty lp(Y) = ((5 + |Y|) / "
                        "6)^alpha (Wu et al. 2016) that ranks finished hypotheses by log p(Y) "
                        "/ lp(Y); 0 ranks by log p(Y) alone", float, 0.0, ge=0, le=10,
                        when=_BEAM)
PROMPT = Option("prompt", "text to continue", str, "",
                special={"": "none: a line model starts a new line"})
NUM = Option("num", "samples to draw (greedy and beam_search give one)", int, 10, ge=1,
             le=1 << 16, when=_SAMPLE)
DECODING = (STRATEGY, MAX_NEW_TOKENS, TEMPERATURE, TOP_K, TOP_P, NUM_BEAMS, LENGTH_PENALTY, SEED)
# an n-gram model's exact search: its states are few, so the best whole continuation is found
# by dynamic programming (rnnlab/models/ngram_decode.py), not approximated token by token
MOST_LIKELY = "most_likely"
COUNT_STRATEGY = STRATEGY.but(
    help=STRATEGY.help + "; most_likely (--model ngram, bigram): the --max-new-tokens tokens "
    "of highest joint probability, exact (Viterbi; an <eos> may fall inside)",
    choices=(*STRATEGIES, MOST_LIKELY))
COUNT_DECODING = tuple(COUNT_STRATEGY if o.name == "strategy" else o for o in DECODING)


def decode_config(o: Options) -> Any:
    """The `decoding.DecodeConfig` of the decoding options in `o`."""
    from rnnlab.decoding import DecodeConfig

    dc = DecodeConfig(o.strategy, o.max_new_tokens, o.temperature, o.top_k, o.top_p,
                      o.num_beams, length_penalty=o.length_penalty)
    dc.check()
    return dc
