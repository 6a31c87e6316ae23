"""Every numeric field of every task's config, tried with -1, 0, nan, inf and a huge value,
through the CLI (`rnnlab train --dry-run`) and through the config builder: each value is
either accepted with a documented meaning (inside the range `--help` states, or one of the
field's special values) or refused with one `error:` line and exit status 2. Never a
traceback, never silent nonsense."""

from __future__ import annotations

import dataclasses
import math

import pytest

from rnnlab.cli import main
from rnnlab.cli.flags import FLAGS, config_fields
from rnnlab.config import flag
from rnnlab.errors import RnnlabError
from rnnlab.runconfig import make_config

BAD = ["-1", "0", "nan", "inf", "huge"]
HUGE = {int: 10**18, float: 1e300}
# flags that only apply beside others: give those, so the value itself is what is judged
CONTEXT = {
    "lm": {"seq_len": ["--format", "text", "--data", "x.txt"],
           "val_fraction": ["--format", "text", "--data", "x.txt"],
           "test_fraction": ["--format", "text", "--data", "x.txt"],
           "stream_val_batch": ["--format", "text", "--data", "x.txt"],
           "order": ["--model", "ngram"], "k": ["--model", "ngram"],
           "context": ["--model", "mlp"], "lr_decay": ["--schedule", "step"],
           "decay_start": ["--schedule", "step"], "momentum": ["--optimizer", "sgd"]},
    "forecast": {},
    "classify": {"fold": ["--cv", "100"]},
    "conditional": {},
    "tag": {"order": ["--model", "hmm"], "max_suffix": ["--model", "hmm"],
            "rare_threshold": ["--model", "hmm"]},
    "translate": {"target_column": ["--source-column", "5"]},
}
# the training combinations hold for every task
TRAIN_CONTEXT = {"lr_decay": ["--schedule", "step"], "decay_start": ["--schedule", "step"],
                 "momentum": ["--optimizer", "sgd"], "budget_evals": ["--max-time", "60"]}
BASE = {"lm": [], "forecast": [], "classify": ["--data", "x.tsv"],  # what a task needs
        "conditional": ["--data", "x.tsv"], "tag": ["--data", "x.conllu"],
        "translate": ["--data", "x.tsv"]}


@pytest.fixture(autouse=True)
def input_files(tmp_path, monkeypatch):
    """The files BASE and CONTEXT name exist (`rnnlab train` checks its inputs first)."""
    monkeypatch.chdir(tmp_path)
    for name in ("x.txt", "x.tsv", "x.conllu", "x"):
        (tmp_path / name).write_text("x\n")


def numeric_fields():
    for task, section, f, allowed in config_fields():
        kind = float if float in allowed else int if int in allowed else None
        if kind is not None and bool not in allowed:
            yield task, section, f, kind


FIELDS = list(numeric_fields())


def documented(f: dataclasses.Field, v: float) -> bool:
    """Inside the range the field declares (and `--help` prints), or a special value."""
    m = f.metadata
    if v in m["special"]:
        return True
    if isinstance(v, float) and not math.isfinite(v):
        return False
    return ((m["ge"] is None or v >= m["ge"]) and (m["gt"] is None or v > m["gt"])
            and (m["le"] is None or v <= m["le"]) and (m["lt"] is None or v < m["lt"]))


@pytest.mark.parametrize("task,section,f,kind", FIELDS,
                         ids=[f"{t}-{f.name}" for t, _, f, _ in FIELDS])
def test_every_numeric_flag_is_documented_or_refused(task, section, f, kind, capsys):
    assert len(FIELDS) > 50
    ctx = BASE[task] + CONTEXT[task].get(f.name, TRAIN_CONTEXT.get(f.name, []))
    help_text = FLAGS[f.name].help
    for text in BAD:
        arg = str(HUGE[kind]) if text == "huge" else text
        capsys.readouterr()
        try:
            rc = main(["train", "--task", task, *ctx, flag(f.name), arg, "--dry-run"])
        except SystemExit as e:  # argparse: a whole-number flag given "nan"
            rc = e.code
        out = capsys.readouterr()
        assert "Traceback" not in out.err
        v = HUGE[kind] if text == "huge" else float(text)
        if rc == 0:
            assert kind is float or float(v).is_integer()
            assert documented(f, kind(v)), f"{f.name}={text} accepted but not documented"
            assert "must be" not in out.err
        else:
            assert rc == 2, (f.name, text, out.err)
            lines = out.err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: "), out.err
            assert not documented(f, v) or kind is int and not float(v).is_integer(), (
                f"{f.name}={text} refused but documented as valid: {out.err}")
        # the builder (TOML / Python API) agrees with the CLI
        raw = HUGE[kind] if text == "huge" else (int(float(text)) if kind is int and
                                                  text in ("-1", "0") else float(text))
        flags = {section: {f.name: raw}}
        for extra in zip(ctx[::2], ctx[1::2], strict=True):
            name = extra[0][2:].replace("-", "_")
            flags.setdefault(FLAGS[name].section, {})[name] = FLAGS[name].kind(extra[1])
        try:
            make_config(task, flags=flags)
            accepted = True
        except RnnlabError as e:
            accepted = False
            assert flag(f.name) in str(e)  # the message names the flag
        assert accepted == (rc == 0), (f.name, text)
    assert "[" in help_text  # --help states the range


@pytest.mark.parametrize("argv,needle", [
    (["--hidden-size", "0"], "--hidden-size must be >= 1, got 0"),
    (["--batch-size", "0"], "--batch-size must be >= 1, got 0"),
    (["--lr", "nan"], "--lr must be finite, got nan"),
    (["--dropout", "-1"], "--dropout must be >= 0, got -1"),
    (["--eval-batch-size", "-1"], "--eval-batch-size must be >= 1"),
    (["--clip", "nan"], "--clip must be finite"),
    (["--init-range", "-1"], "--init-range must be > 0"),
    (["--val-fraction", "-1", "--format", "text", "--data", "x"], "--val-fraction must be >= 0"),
    (["--eval-every", "-1"], "--eval-every must be >= 1"),
    (["--max-steps", "-1"], "--max-steps must be >= 1"),
    (["--lr-decay", "nan", "--schedule", "step"], "--lr-decay must be finite"),
    (["--momentum", "nan", "--optimizer", "sgd"], "--momentum must be finite"),
    (["--order", "0", "--model", "ngram"], "--order must be >= 1"),
    (["--context", "-1", "--model", "mlp"], "--context must be >= 1"),
    (["--seq-len", "32"], "--seq-len applies to --format text"),
    (["--format", "text", "--data", "x", "--val-fraction", "0.6", "--test-fraction", "0.5"],
     "must be < 1"),
    (["--order", "4"], "--order applies to --model ngram"),
    (["--precision", "bf16-head"], "add --fused-loss"),
    (["--model", "lstm", "--tie-weights"], "--tie-weights needs --embedding-dim equal"),
    (["--task", "forecast", "--context", "0"], "--context must be >= 1, got 0"),
    (["--task", "nope"], "--task 'nope' is not a task"),
    (["--column", "x"], "--column applies to forecasting only"),
])
def test_issue_examples_are_refused(argv, needle, user_error):
    assert needle in user_error(["train", *argv, "--dry-run"])


@pytest.mark.parametrize("argv,key,expected", [
    (["--clip", "0"], "clip", 0.0),
    (["--max-time", "0"], "max_time", 0.0),
    (["--patience", "0"], "patience", 0),
])
def test_documented_special_values_are_accepted(argv, key, expected, capsys):
    import json

    capsys.readouterr()
    assert main(["train", *argv, "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["train"][key] == expected
    help_text = FLAGS[key].help
    assert "0:" in help_text  # the meaning of 0 is in --help


def test_toml_of_another_task_names_the_task(tmp_path, user_error):
    cfg = tmp_path / "f.toml"
    cfg.write_text('[data]\ncolumn = "x"\n')
    assert "a key of --task forecast" in user_error(["train", "--config", str(cfg)])
    cfg.write_text('task = "forecast"\n[data]\nseason = 12\n')
    assert "names task 'forecast' but --task is 'lm'" in user_error(
        ["train", "--config", str(cfg), "--task", "lm"])
