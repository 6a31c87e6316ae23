import dataclasses

import pytest

from rnnlab.config import TrainConfig
from rnnlab.runconfig import default_config, validate
from rnnlab.tasks.lm import ModelConfig, by_section
from rnnlab.tasks.lm.defaults import UNBOUNDED_STEPS, text_defaults

FIELDS = {f.name for f in dataclasses.fields(ModelConfig)} | {
    f.name for f in dataclasses.fields(TrainConfig)
}
SIZES = (100_000, 400_000, 1_000_000, 5_000_000, 30_000_000, 100_000_000)


@pytest.mark.parametrize("level,vocab", [("char", 70), ("word", 10_000)])
@pytest.mark.parametrize("max_time,max_steps", [(180.0, None), (600.0, None), (None, 3000),
                                                (None, None)])
def test_only_known_fields_and_valid_config(level, vocab, max_time, max_steps):
    d = text_defaults(1_000_000, vocab, level, max_time, max_steps)
    assert set(d) <= FIELDS
    cfg = default_config()
    for section, values in by_section(d).items():  # refuses unknown keys
        for k, v in values.items():
            setattr(getattr(cfg, section), k, v)
    cfg.data.format = "text"
    cfg.data.data = "x.txt"
    validate(cfg)
    assert cfg.train.precision in ("fp32", "bf16", "bf16-head")
    if cfg.train.precision == "bf16-head":
        assert cfg.train.fused_loss
    if cfg.model.tie_weights:
        assert cfg.model.embedding_dim == cfg.model.hidden_size
    assert 0.0 <= cfg.model.dropout <= 0.5


@pytest.mark.parametrize("level,vocab", [("char", 70), ("word", 10_000)])
def test_dropout_falls_as_the_text_grows(level, vocab):
    drops = [text_defaults(n, vocab, level, 600.0, None)["dropout"] for n in SIZES]
    assert drops == sorted(drops, reverse=True)
    assert drops[0] > 0.0 and drops[-1] == 0.0  # no token is seen twice in 100M tokens


@pytest.mark.parametrize("level,vocab", [("char", 70), ("word", 10_000)])
def test_more_budget_never_shrinks_the_model_or_its_regularization(level, vocab):
    rows = [text_defaults(400_000, vocab, level, t, None) for t in (60.0, 180.0, 600.0, 3600.0,
                                                                   36_000.0)]
    hidden = [r["hidden_size"] for r in rows]
    drops = [r["dropout"] for r in rows]
    assert hidden == sorted(hidden) and hidden[-1] > hidden[0]
    assert drops == sorted(drops)
    assert all(r["eval_every"] >= 50 for r in rows)


def test_time_budget_is_not_cut_short_by_steps():
    d = text_defaults(5_000_000, 60, "char", 180.0, None)
    assert d["max_steps"] == UNBOUNDED_STEPS
    assert text_defaults(5_000_000, 60, "char", None, 1234)["max_steps"] == 1234
    d = text_defaults(5_000_000, 60, "char", None, None)
    assert 0 < d["max_steps"] < UNBOUNDED_STEPS


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        text_defaults(1000, 70, "byte", 180.0, None)
    with pytest.raises(ValueError):
        text_defaults(0, 70, "char", 180.0, None)
    with pytest.raises(KeyError):
        by_section({"hidden_sise": 3})


def test_the_cli_applies_them_to_unset_fields_only(tmp_path, text_file):
    import json

    from rnnlab.cli import main

    fast = ["--data", str(text_file), "--format", "text", "--max-steps", "2", "--threads", "1",
            "--no-progress", "--samples", "0", "--hidden-size", "8", "--seq-len", "16"]
    assert main(["train", *fast, "--out", str(tmp_path / "auto")]) == 0
    cfg = json.loads((tmp_path / "auto" / "config.json").read_text())
    want = text_defaults(len(text_file.read_text()) - 600, 40, "char", None, 2)
    assert cfg["model"]["hidden_size"] == 8 and cfg["train"]["seq_len"] == 16  # given
    assert cfg["train"]["max_steps"] == 2
    from rnnlab.trainer import bf16_lstm_supported

    if not bf16_lstm_supported():  # the rule's bf16 falls back where an LSTM cannot run it
        want["precision"] = "fp32"
    for key in ("lr", "warmup", "precision", "weight_decay"):  # not given: the rule's
        assert cfg["train"][key] == want[key], key
    assert "model.hidden_size" in cfg["explicit"]
    assert main(["train", *fast, "--defaults", "fixed", "--out", str(tmp_path / "fixed")]) == 0
    fixed = json.loads((tmp_path / "fixed" / "config.json").read_text())
    assert fixed["train"]["lr"] == TrainConfig().lr
    assert fixed["train"]["precision"] == TrainConfig().precision


@pytest.mark.parametrize("model", ["rnn", "gru"])
def test_a_cpu_without_native_bf16_gets_fp32_for_every_cell(tmp_path, text_file, monkeypatch,
                                                             model):
    import json

    import rnnlab.trainer
    from rnnlab.cli import main

    assert text_defaults(10_000, 40, "char", None, 2)["precision"] == "bf16"  # the rule's
    monkeypatch.setattr(rnnlab.trainer, "native_bf16", lambda: False)
    assert main(["train", "--data", str(text_file), "--format", "text", "--model", model,
                 "--max-steps", "2", "--threads", "1", "--no-progress", "--samples", "0",
                 "--hidden-size", "8", "--seq-len", "16", "--out", str(tmp_path / "r")]) == 0
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert cfg["train"]["precision"] == "fp32"  # emulated bf16: 10x fewer steps
