"""rnnlab/cli/entry.py end to end on small slices: every model trains through `rnnlab
train`, and evaluate / generate / score / diagnose work on the result; user mistakes give one
`error:` line, exit 2, and leave existing runs untouched."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rnnlab.cli import main

FAST = ["--max-steps", "2", "--eval-every", "1", "--threads", "1", "--no-progress",
        "--samples", "2", "--hidden-size", "16", "--embedding-dim", "8", "--batch-size", "8"]


def for_model(flags: list[str], model: str) -> list[str]:
    """`flags` without the size flags `model` does not read (those are refused)."""
    from rnnlab.tasks.lm.config import MODEL_ONLY

    out, i = [], 0
    while i < len(flags):
        name = flags[i][2:].replace("-", "_")
        if name in MODEL_ONLY and model not in MODEL_ONLY[name]:
            i += 2
            continue
        out.append(flags[i])
        i += 1
    return out


def train(tmp_path: Path, data: Path, *extra: str, name: str = "run") -> Path:
    out = tmp_path / name
    model = extra[extra.index("--model") + 1] if "--model" in extra else "lstm"
    assert main(["train", "--data", str(data), "--out", str(out), *for_model(FAST, model),
                 *extra]) == 0
    return out


MODELS = [
    ["--model", "bigram"],
    ["--model", "ngram", "--order", "3"],
    ["--model", "linear", "--context", "3"],
    ["--model", "mlp", "--context", "3"],
    ["--model", "cnn", "--num-layers", "2"],
    ["--model", "rnn"],
    ["--model", "rnn", "--impl", "loop", "--feedback"],
    ["--model", "gru", "--num-layers", "2", "--dropout", "0.1"],
    ["--model", "lstm", "--impl", "loop"],
    ["--model", "lstm", "--tie-weights", "--embedding-dim", "16"],
]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: "-".join(m[1:]))
def test_every_model_trains_evaluates_generates_scores(tmp_path, names_file, capsys, model):
    out = train(tmp_path, names_file, *model)
    for f in ("config.json", "split.json", "best.pt", "last.pt"):
        assert (out / f).is_file(), f
    capsys.readouterr()
    assert main(["evaluate", str(out), "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert set(m) == {"nll", "ppl", "bpc", "tokens"}
    assert math.isclose(m["ppl"], math.exp(m["nll"]), rel_tol=1e-9)
    assert math.isclose(m["bpc"], m["nll"] / math.log(2), rel_tol=1e-9)
    assert main(["generate", str(out), "--num", "3", "--max-new-tokens", "5"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    assert main(["score", str(out), "anna", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["tokens"] == 5 and r["logprob"] < 0  # a, n, n, a, <eos>


def test_text_stream_training_and_evaluation(tmp_path, text_file, capsys):
    out = train(tmp_path, text_file, "--format", "text", "--model", "gru", "--seq-len", "16",
                "--partition", "random")
    capsys.readouterr()
    assert main(["evaluate", str(out), "--split", "val", "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    split = json.loads((out / "split.json").read_text())
    assert m["tokens"] == split["sizes"]["val"] - 1  # every character after the first
    assert main(["generate", str(out), "--prompt", "The ", "--num", "1"]) == 0


def test_evaluate_json_counts_eos_per_line(tmp_path, names_file, capsys):
    out = train(tmp_path, names_file, "--model", "lstm")
    f = tmp_path / "two.txt"
    f.write_text("emma\nli\n")
    capsys.readouterr()
    assert main(["evaluate", str(out), "--data", str(f), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tokens"] == 4 + 1 + 2 + 1


def test_config_file_and_flags_precedence(tmp_path, names_file):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[model]\nmodel = "gru"\nhidden_size = 12\n[train]\nlr = 0.01\n'
                   'fused_loss = true\nlog_grad_norms = true\n')
    out = tmp_path / "run"
    assert main(["train", "--config", str(cfg), "--data", str(names_file), "--out", str(out),
                 *FAST[:-6], "--hidden-size", "10", "--no-fused-loss"]) == 0
    resolved = json.loads((out / "config.json").read_text())
    assert resolved["model"]["model"] == "gru" and resolved["model"]["hidden_size"] == 10
    assert resolved["train"]["lr"] == 0.01
    # a switch the file turned on: --no-X turns it off, silence keeps the file's value
    assert resolved["train"]["fused_loss"] is False
    assert resolved["train"]["log_grad_norms"] is True


def test_bad_input_gives_one_error_line(tmp_path, names_file, user_error):
    run = train(tmp_path, names_file, "--model", "lstm")
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    binary = tmp_path / "bin.dat"
    binary.write_bytes(bytes(range(256)) * 4)
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("José\nMaría\n".encode("latin-1"))
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes((run / "best.pt").read_bytes()[:500])
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, foreign)
    new = str(tmp_path / "new")
    cases = {
        "does not exist": ["train", "--data", str(tmp_path / "nope.txt"), "--out", new],
        "empty": ["train", "--data", str(empty), "--out", new],
        "binary": ["train", "--data", str(binary), "--out", new],
        "UTF-8": ["train", "--data", str(latin), "--out", new],
        "unknown model": ["train", "--data", str(names_file), "--model", "transformer",
                          "--out", new],
        "outside the model's vocabulary": ["generate", str(run), "--prompt", "Zoë!"],
        "temperature must be > 0": ["generate", str(run), "--temperature", "0"],
        "corrupt": ["evaluate", str(corrupt)],
        "not an rnnlab checkpoint": ["evaluate", str(foreign)],
        "already holds files": ["train", "--data", str(names_file), "--out", str(run)],
        "without --task forecast": ["train", "--data", str(names_file), "--horizon", "3",
                                    "--out", new],
    }
    for needle, argv in cases.items():
        assert needle in user_error(argv), needle
    assert not (tmp_path / "new").exists()
    after = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    assert after == before  # nothing in the existing run was touched


def test_errors_exit_2_without_traceback_in_a_real_process(tmp_path):
    r = subprocess.run([sys.executable, "-m", "rnnlab", "train", "--data",
                        str(tmp_path / "missing.txt")], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.startswith("error: ") and "Traceback" not in r.stderr


def test_diagnose_writes_gradient_flow(tmp_path, names_file, capsys):
    out = train(tmp_path, names_file, "--model", "rnn")
    capsys.readouterr()
    assert main(["diagnose", str(out), "--out", str(tmp_path / "diag"), "--seq-len", "12",
                 "--batch-size", "3", "--threads", "1"]) == 0
    assert "spectral radius" in capsys.readouterr().out
    result = json.loads((tmp_path / "diag" / "gradient_flow.json").read_text())
    assert len(result["hidden_grad_norm"][0]) == 12
    assert (tmp_path / "diag" / "gradient_flow.png").stat().st_size > 1000


def test_rnnlab_warnings_are_one_line_others_keep_their_format(capsys):
    import warnings

    from rnnlab.cli import entry

    inside = str(entry.PACKAGE / "models" / "ngram.py")
    entry._show_warning(UserWarning("discounts fell back"), UserWarning, inside, 173)
    entry._show_warning(UserWarning("from elsewhere"), UserWarning, "/other/lib.py", 9, None,
                        "x = 1")
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "warning: discounts fell back"
    assert err[1:] == warnings.formatwarning("from elsewhere", UserWarning, "/other/lib.py", 9,
                                             "x = 1").splitlines()
    before = warnings.showwarning
    assert entry.main(["data", "list"]) == 0 and warnings.showwarning is before  # restored
