"""`rnnlab train`'s validation at its edges: a value the run would not read is refused naming
who reads it, an unknown model names the task that has it, --dry-run checks the input files,
the training combinations hold for every task; renamed flags and keys still work, with a
one-line note of the new name."""

from __future__ import annotations

import json

import pytest

from rnnlab.cli import main
from rnnlab.runconfig import config_from_dict, make_config


@pytest.fixture
def tsv(tmp_path):
    p = tmp_path / "x.tsv"
    p.write_text("good film\tpos\nbad film\tneg\n")
    return str(p)


@pytest.mark.parametrize("argv,needle", [
    (["--model", "ngram", "--hidden-size", "8"],
     "--hidden-size applies to --model rnn, gru, lstm, mlp, cnn, not to --model ngram"),
    (["--model", "bigram", "--dropout", "0.1"], "--dropout applies to --model"),
    (["--model", "linear", "--num-layers", "2"], "not to --model linear"),
    (["--model", "hmm"], "unknown model of --task lm; it belongs to --task tag (tagging)"),
    (["--model", "auto"], "belongs to --task forecast"),
    (["--task", "forecast", "--model", "lstm", "--auto-steps", "5"],
     "--auto-steps applies to --model auto"),
    (["--task", "forecast", "--lr-decay", "0.5"], "shape the step schedule"),
    (["--task", "forecast", "--momentum", "0.5"], "--momentum applies to --optimizer sgd"),
    (["--task", "forecast", "--partition", "random"], "--partition applies to language models"),
    (["--task", "forecast", "--fused-loss"], "--fused-loss applies to"),
    (["--task", "forecast", "--precision", "bf16-head"], "which --task forecast has not"),
    (["--data", "nosuchfile.txt"], "--data: file 'nosuchfile.txt' does not exist"),
])
def test_edges_are_one_error_line(argv, needle, user_error):
    assert needle in user_error(["train", *argv, "--dry-run"])


def test_edges_of_tasks_with_data(tsv, tmp_path, user_error):
    base = ["train", "--task", "classify", "--data", tsv, "--dry-run"]
    assert "--partition applies to" in user_error([*base, "--partition", "random"])
    assert "--seq-len applies to" in user_error([*base, "--seq-len", "8"])
    assert "--momentum applies to --optimizer sgd" in user_error([*base, "--momentum", "0.9"])
    missing = str(tmp_path / "val.tsv")
    assert f"--val-data: file {missing!r} does not exist" in user_error(
        [*base, "--val-data", missing])
    assert "--test-data: file" in user_error([*base, "--test-data", missing])
    tag = ["train", "--task", "tag", "--data", tsv, "--dry-run"]
    assert "--char-dim applies to --model lstm, gru, rnn" in user_error(
        [*tag, "--model", "hmm", "--char-dim", "8"])


def test_toml_keys_the_run_would_not_read_are_refused(tsv, tmp_path, user_error):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'task = "classify"\n[data]\ndata = "{tsv}"\n[train]\n'
                   'partition = "random"\n')
    assert "--partition applies to --task lm, not to --task classify" in user_error(
        ["train", "--config", str(cfg), "--dry-run"])
    cfg.write_text('[model]\nmodel = "ngram"\nembedding_dim = 8\n')
    assert "--embedding-dim applies to --model" in user_error(
        ["train", "--config", str(cfg), "--dry-run"])


def test_dry_run_passes_with_existing_files(tsv, capsys):
    capsys.readouterr()
    assert main(["train", "--task", "classify", "--data", tsv, "--val-data", tsv,
                 "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["data"]["val_data"] == tsv


def test_what_applies_is_accepted(capsys):
    capsys.readouterr()
    assert main(["train", "--model", "mlp", "--hidden-size", "8", "--embedding-dim", "4",
                 "--dropout", "0.1", "--dry-run"]) == 0
    assert main(["train", "--model", "ngram", "--order", "4", "--dry-run"]) == 0
    assert main(["train", "--optimizer", "sgd", "--momentum", "0.9", "--schedule", "step",
                 "--lr-decay", "0.5", "--dry-run"]) == 0


@pytest.mark.parametrize("old,new,value,key", [
    (["--src-col", "1", "--tgt-col", "0"], "--source-column", 1, ("data", "source_column")),
    (["--reverse"], "--swap-columns", True, ("data", "swap_columns")),
    (["--tie-embeddings", "--embedding-dim", "256"], "--tie-weights", True,
     ("model", "tie_weights")),
    (["--no-tie-embeddings"], "--no-tie-weights", False, ("model", "tie_weights")),
])
def test_old_flags_still_work_with_a_note(tsv, capsys, old, new, value, key):
    capsys.readouterr()
    assert main(["train", "--task", "translate", "--data", tsv, *old, "--dry-run"]) == 0
    out = capsys.readouterr()
    section, name = key
    assert json.loads(out.out)[section][name] == value
    assert f"note: {old[0]} is now {new}" in out.err
    assert all(line.startswith("note: ") for line in out.err.strip().splitlines())


def test_old_toml_keys_and_saved_configs_still_read(tsv, tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'task = "translate"\n[data]\ndata = "{tsv}"\nsrc_col = 1\ntgt_col = 0\n'
                   'reverse = true\n[model]\ntie_embeddings = false\n')
    capsys.readouterr()
    assert main(["train", "--config", str(cfg), "--dry-run"]) == 0
    out = capsys.readouterr()
    d = json.loads(out.out)["data"]
    assert (d["source_column"], d["target_column"], d["swap_columns"]) == (1, 0, True)
    assert "note: src_col in [data]" in out.err and "is now source_column" in out.err
    # a run saved before the rename reads back, its old keys under the new names, quietly
    saved, _ = make_config("translate", flags={"data": {"data": tsv}})
    old = saved.to_dict()
    old["data"]["src_col"] = old["data"].pop("source_column")
    old["model"]["tie_embeddings"] = old["model"].pop("tie_weights")
    old["explicit"] = ["data.data", "data.src_col"]
    back = config_from_dict(old)
    assert back.data.source_column == 0 and back.model.tie_weights is False
    assert back.explicit == ["data.data", "data.source_column"]
    assert capsys.readouterr().err == ""


def test_old_and_new_name_together_are_refused(tsv, tmp_path, user_error):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'task = "translate"\n[data]\ndata = "{tsv}"\nsrc_col = 1\n'
                   'source_column = 1\n')
    assert "are one setting" in user_error(["train", "--config", str(cfg), "--dry-run"])
