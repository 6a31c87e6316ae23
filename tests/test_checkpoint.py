"""rnnlab/checkpoint.py: a saved model (a trained run, or one saved directly) reloads with
identical weights and logits; damaged, foreign and too-new files are one clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rnnlab.checkpoint import load_checkpoint
from rnnlab.cli import main

FAST = ["--max-steps", "2", "--eval-every", "1", "--threads", "1", "--no-progress",
        "--samples", "2", "--hidden-size", "16", "--embedding-dim", "8", "--batch-size", "8"]


def train(tmp_path: Path, data: Path, *extra: str, name: str = "run") -> Path:
    out = tmp_path / name
    assert main(["train", "--data", str(data), "--out", str(out), *FAST, *extra]) == 0
    return out


def test_checkpoint_round_trip_gives_identical_logits(tmp_path, names_file):
    from rnnlab.checkpoint import load_model
    from rnnlab.models.base import LMBatch

    out = train(tmp_path, names_file, "--model", "gru", "--dropout", "0.2")
    model, tok, payload = load_model(out / "best.pt")
    assert payload["format"] == "rnnlab-checkpoint" and payload["tokenizer"]["level"] == "char"
    again, _, _ = load_model(out)
    x = torch.tensor([[2] + tok.encode("olivia")])
    b = LMBatch(x, None, None, True)
    assert torch.equal(model(b).logits, again(b).logits)
    assert load_checkpoint(out / "last.pt")["trainer"]["step"] == 2


def _payload(model) -> dict:
    from rnnlab.data.tokenizers import Tokenizer

    tok = Tokenizer.fit(["anna", "emma"], "char")
    return {"model_class": type(model).__name__, "hparams": model.hparams,
            "model_state": model.state_dict(), "tokenizer": tok.to_dict(), "task": "lm"}


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_save_then_load_gives_identical_logits_without_the_command_line(tmp_path, cell):
    from rnnlab.checkpoint import load_model, save_checkpoint
    from rnnlab.models.base import LMBatch
    from rnnlab.models.lm import RecurrentLM

    torch.manual_seed(0)
    model = RecurrentLM(11, cell, 6, 10, 2, dropout=0.3).eval()
    save_checkpoint(tmp_path / "best.pt", _payload(model))
    again, tok, payload = load_model(tmp_path)  # a folder means its best.pt
    assert not again.training and payload["format"] == "rnnlab-checkpoint"
    assert tok.to_dict() == _payload(model)["tokenizer"]
    b = LMBatch(torch.randint(0, 11, (3, 9)), None, torch.tensor([9, 4, 1]), True)
    assert torch.equal(model(b).logits, again(b).logits)
    assert all(torch.equal(a, b_) for a, b_ in
               zip(model.state_dict().values(), again.state_dict().values(), strict=True))


def test_a_damaged_or_foreign_file_is_one_clear_error(tmp_path):
    from rnnlab.checkpoint import load_checkpoint, rebuild_model, save_checkpoint
    from rnnlab.errors import RnnlabError
    from rnnlab.models.lm import RecurrentLM

    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(RnnlabError, match="corrupt or not a PyTorch file"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": 1}, tmp_path / "foreign.pt")
    with pytest.raises(RnnlabError, match="not an rnnlab checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    save_checkpoint(tmp_path / "future.pt", {"version": 99})
    with pytest.raises(RnnlabError, match="newer than this rnnlab reads"):
        load_checkpoint(tmp_path / "future.pt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RnnlabError, match="holds no checkpoint"):
        load_checkpoint(tmp_path / "empty")
    payload = _payload(RecurrentLM(11, "gru", 6, 10))
    payload["model_state"] = RecurrentLM(11, "gru", 6, 12).state_dict()  # other sizes
    with pytest.raises(RnnlabError, match="do not fit the model"):
        rebuild_model(payload)
