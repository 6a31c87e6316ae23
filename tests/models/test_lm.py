"""RecurrentLM with an adaptive softmax: normalized exact probabilities, the training loss
(no (B, T, V) array) equal to the full forward's cross-entropy with equal gradients,
prefill/step == forward, padding ignored, a checkpoint round trip, the cutoff rule and the
refused combinations; under bf16 autocast the loss and gradients stay close to fp32."""

from __future__ import annotations

import pytest
import torch

from rnnlab.errors import RnnlabError
from rnnlab.losses import IGNORE_INDEX
from rnnlab.models import rebuild
from rnnlab.models.base import LMBatch
from rnnlab.models.lm import RecurrentLM, adaptive_cutoffs

V = 60


def _model() -> RecurrentLM:
    torch.manual_seed(0)
    return RecurrentLM(V, "lstm", embedding_dim=8, hidden_size=32, num_layers=2,
                       cutoffs=[10, 30]).double()


def _batch() -> LMBatch:
    torch.manual_seed(1)
    x = torch.randint(1, V, (3, 7))
    y = torch.randint(1, V, (3, 7))
    y[2, 5:] = IGNORE_INDEX  # a padded row
    return LMBatch(x, y, torch.tensor([7, 7, 5]))


def test_probabilities_are_normalized_over_the_whole_vocabulary():
    m = _model().eval()
    logp = m(_batch()).logits  # (B, T, V) log-probabilities
    assert logp.shape == (3, 7, V)
    assert torch.allclose(logp.exp().sum(-1), torch.ones(3, 7, dtype=logp.dtype))
    assert torch.allclose(torch.log_softmax(logp, -1), logp)  # already normalized


def test_loss_and_target_log_probs_equal_the_full_forward_with_equal_gradients():
    m = _model().eval()
    b = _batch()
    full = m(b)
    fast, _ = m.loss(b)
    assert torch.allclose(fast, full.loss, atol=1e-12)
    picked = full.logits.gather(2, b.targets.clamp_min(0).unsqueeze(2)).squeeze(2)
    picked = picked.masked_fill(b.targets == IGNORE_INDEX, 0.0)
    logp, _ = m.target_log_probs(b)
    assert torch.allclose(logp.double(), picked, atol=1e-12)
    g_full = torch.autograd.grad(full.loss, list(m.parameters()), allow_unused=True)
    g_fast = torch.autograd.grad(m.loss(b)[0], list(m.parameters()), allow_unused=True)
    for a, c in zip(g_full, g_fast, strict=True):
        assert (a is None) == (c is None)
        if a is not None:
            assert torch.allclose(a, c, atol=1e-10)


def test_prefill_and_step_equal_the_forward():
    m = _model().eval()
    x = torch.randint(1, V, (2, 6))
    full = m(LMBatch(x, x, None)).logits  # (2, 6, V)
    logits, state = m.prefill(x[:, :3])
    assert torch.allclose(logits, full[:, 2], atol=1e-12)
    for t in range(3, 6):
        logits, state = m.step(x[:, t], state)
        assert torch.allclose(logits, full[:, t], atol=1e-12)


def test_checkpoint_round_trip():
    m = _model().eval()
    again = rebuild("RecurrentLM", m.hparams).double().eval()
    again.load_state_dict(m.state_dict())
    b = _batch()
    assert torch.equal(again(b).logits, m(b).logits)
    assert again.hparams["cutoffs"] == [10, 30]


def test_cutoff_rule_and_refusals():
    assert adaptive_cutoffs(16_415) == [1000, 4000]
    assert adaptive_cutoffs(50_000) == [1000, 4000, 16000]
    assert adaptive_cutoffs(4_000) == [1000]
    with pytest.raises(RnnlabError, match="drop --adaptive-softmax"):
        adaptive_cutoffs(1_999)
    with pytest.raises(RnnlabError, match="tie-weights"):
        RecurrentLM(V, embedding_dim=8, hidden_size=8, tie_weights=True, cutoffs=[10])
    with pytest.raises(RnnlabError, match="cutoffs must increase"):
        RecurrentLM(V, embedding_dim=8, hidden_size=32, cutoffs=[30, 10])
    with pytest.raises(RnnlabError, match="cutoffs must increase"):
        RecurrentLM(V, embedding_dim=8, hidden_size=32, cutoffs=[10, V - 1])
    with pytest.raises(RnnlabError, match="hidden-size >= 16"):
        RecurrentLM(V, embedding_dim=8, hidden_size=8, cutoffs=[10, 30])


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_bf16_autocast_loss_and_gradients_are_close_to_fp32(cell):
    from rnnlab.trainer import bf16_lstm_supported

    if cell == "lstm" and not bf16_lstm_supported():
        pytest.skip("bf16 autocast of an LSTM is unsupported on this CPU "
                    "(rnnlab.trainer.bf16_lstm_supported() is False)")
    torch.manual_seed(0)
    m = RecurrentLM(V, cell, embedding_dim=8, hidden_size=32, num_layers=2,
                    cutoffs=[10, 30], dropout=0.0).float().train()
    b = _batch()
    ref, _ = m.loss(b)
    ref.backward()
    ref_grads = [p.grad.clone() for p in m.parameters()]
    m.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, _ = m.loss(b)
    loss.backward()
    assert loss.dtype == torch.float32
    # bf16 keeps 8 bits of mantissa: the mean loss agrees to a few parts in a thousand
    assert loss.item() == pytest.approx(ref.item(), rel=5e-3)
    for g, r in zip((p.grad for p in m.parameters()), ref_grads, strict=True):
        assert g.dtype == torch.float32
        cos = torch.nn.functional.cosine_similarity(g.flatten(), r.flatten(), dim=0)
        assert r.abs().max() == 0 or cos > 0.99


def test_word_run_with_adaptive_softmax_trains_scores_and_exports(tmp_path, capsys):
    """End to end through the CLI on a synthetic 2,500-word Zipf text: train, evaluate, and
    (with the export extra) ONNX export checked against PyTorch."""
    from rnnlab.cli import main

    g = torch.Generator().manual_seed(0)
    p = 1.0 / torch.arange(1, 2501, dtype=torch.float64)
    ids = torch.multinomial(p, 30_000, replacement=True, generator=g).tolist()
    text = tmp_path / "zipf.txt"
    text.write_text("\n".join(" ".join(f"w{i}" for i in ids[s:s + 12])
                              for s in range(0, len(ids), 12)) + "\n")
    run = tmp_path / "run"
    assert main(["train", "--data", str(text), "--format", "text", "--level", "word",
                 "--model", "lstm", "--hidden-size", "32", "--embedding-dim", "16",
                 "--adaptive-softmax", "--max-steps", "4", "--eval-every", "4", "--threads",
                 "1", "--no-progress", "--samples", "1", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json"]) == 0
    import json

    out = json.loads(capsys.readouterr().out)
    assert 1.0 < out["ppl"] < 2600  # a normalized model over the whole vocabulary
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from rnnlab.export.onnx import TOLERANCE, export

    assert export(run, tmp_path / "m.onnx")["max_abs_diff"] <= TOLERANCE


def test_adaptive_softmax_refuses_tied_weights_on_the_command_line(tmp_path, user_error):
    text = tmp_path / "t.txt"
    text.write_text("a b c\n" * 50)
    line = user_error(["train", "--data", str(text), "--format", "text", "--level", "word",
                       "--adaptive-softmax", "--tie-weights", "--embedding-dim", "256"])
    assert "--no-tie-weights" in line


def test_trainer_uses_the_target_only_loss_without_fused_loss():
    from rnnlab.config import TrainConfig
    from rnnlab.trainer import make_loss_fn

    m = _model().eval()
    b = _batch()
    calls = []
    real = m.loss
    m.loss = lambda *a: calls.append(1) or real(*a[:2])  # type: ignore[method-assign]
    loss, _ = make_loss_fn(m, TrainConfig(fused_loss=False))(b, None)
    assert calls and torch.allclose(loss.double(), m(b).loss, atol=1e-12)
    plain = RecurrentLM(V, "lstm", embedding_dim=8, hidden_size=32)
    assert not plain.trains_by_loss
