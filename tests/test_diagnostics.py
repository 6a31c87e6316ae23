"""Gradient-flow diagnostics against the NumPy BPTT reference, the fused path against the loop
path, and the textbook bound that makes gradients vanish: ||dL_T/dh_t|| <= ||W||^(T-t) ..."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from rnnlab.diagnostics import (
    grad_norms,
    gradient_flow,
    loop_copy,
    recurrent_gradient_flow,
    spectral,
    write_report,
)
from rnnlab.errors import RnnlabError
from rnnlab.models.base import LMBatch
from rnnlab.models.lm import RecurrentLM
from rnnlab.models.recurrent import Recurrent
from rnnlab.reference import numpy_bptt as nb

B, T, V, H = 4, 12, 7, 5


def batch(seed: int = 0, T_: int = T) -> LMBatch:
    g = torch.Generator().manual_seed(seed)
    return LMBatch(torch.randint(0, V, (B, T_), generator=g),
                   torch.randint(0, V, (B, T_), generator=g), None)


def test_hidden_and_input_gradients_equal_numpy_reference() -> None:
    """Elman LM with Emb = identity: dL_T/dh_t is the reference's dh with only the last loss,
    and dL_T/dx_t = U^T dL_T/da_t with da_t = (1 - h_t^2) dh_t."""
    torch.manual_seed(0)
    lm = RecurrentLM(V, "rnn", embedding_dim=V, hidden_size=H, impl="loop", feedback=True).double()
    cell = lm.rnn.cells[0]
    with torch.no_grad():
        lm.embedding.weight.copy_(torch.eye(V))
        for p in cell.parameters():
            p.mul_(3.0)  # larger weights: a curve that varies over t
    params = {"U": cell.weight_ih, "W": cell.weight_hh, "b": cell.bias, "R": cell.weight_fb,
              "V": lm.head.weight, "c": lm.head.bias}
    params = {k: v.detach().numpy().copy() for k, v in params.items()}
    b = batch()
    x, y = b.inputs.numpy(), b.targets.numpy()
    cache = nb.forward(params, x, None, x)
    ref = nb.backward(params, cache, y, loss_start=T - 1)  # L_T only
    result = gradient_flow(lm, b)
    assert result["final_loss"] == pytest.approx(nb.nll(cache, y, T - 1) / B, rel=1e-12)
    expected_h = np.linalg.norm(ref.dh, axis=-1).mean(0)  # (T,)
    np.testing.assert_allclose(result["hidden_grad_norm"][0], expected_h, rtol=1e-10)
    da = (1 - cache.h[:, 1:] ** 2) * ref.dh
    expected_x = np.linalg.norm(da @ params["U"], axis=-1).mean(0)
    np.testing.assert_allclose(result["input_grad_norm"], expected_x, rtol=1e-10)
    sat = (np.abs(cache.h[:, 1:]) > 0.95).mean(-1).mean(0)
    np.testing.assert_allclose(result["saturation"][0]["over_time"]["h"], sat, rtol=1e-12)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_fused_model_gives_the_loop_copy_result(cell: str) -> None:
    torch.manual_seed(1)
    fused = RecurrentLM(V, cell, 6, H, num_layers=2, impl="fused").double()
    looped = RecurrentLM(V, cell, 6, H, num_layers=2, impl="loop").double()
    looped.load_state_dict(fused.state_dict(), strict=False)  # embedding and head
    looped.rnn = loop_copy(fused.rnn)
    b = batch(1)
    torch.testing.assert_close(fused(b).logits, looped(b).logits, rtol=0, atol=1e-12)
    r_fused, r_loop = gradient_flow(fused, b), gradient_flow(looped, b)
    for key in ("hidden_grad_norm", "input_grad_norm"):
        np.testing.assert_allclose(np.array(r_fused[key]), np.array(r_loop[key]), rtol=1e-10)
    assert r_fused["saturation"] == r_loop["saturation"]
    assert len(r_fused["hidden_grad_norm"]) == 2 and len(r_fused["input_grad_norm"]) == T
    assert fused.rnn.impl == "fused" and all(p.grad is None for p in fused.parameters())


def test_contractive_elman_gradient_vanishes_geometrically() -> None:
    """With ||W||_2 = 0.5 and |tanh'| <= 1: ||dL_T/dh_t|| <= 0.5^(T-t) ||dL_T/dh_T||."""
    torch.manual_seed(2)
    rnn = Recurrent("rnn", 3, 8, impl="fused").double()
    with torch.no_grad():
        w = rnn.rnn.weight_hh_l0
        w.mul_(0.5 / torch.linalg.matrix_norm(w, ord=2))
    x = torch.randn(B, 30, 3, dtype=torch.float64)
    result = recurrent_gradient_flow(rnn, x, lambda out: out[:, -1].sum())
    curve = np.array(result["hidden_grad_norm"][0])
    bound = curve[-1] * 0.5 ** np.arange(29, -1, -1)
    assert np.all(curve <= bound * (1 + 1e-9))
    assert curve[0] < 1e-8 * curve[-1]
    assert result["spectral"][0]["W"]["norm"] == pytest.approx(0.5)


def test_spectral_blocks_and_radius() -> None:
    rnn = Recurrent("gru", 2, 3, impl="loop")
    with torch.no_grad():
        nilpotent = torch.tensor([[0.0, 3.0, 0], [0, 0, 0], [0, 0, 0]])
        blocks = [torch.diag(torch.tensor([0.1, -0.7, 0.2])), 2.0 * torch.eye(3), nilpotent]
        rnn.cells[0].weight_hh.copy_(torch.cat(blocks))  # (3H, H): r, z, n
    s = spectral(rnn)[0]
    assert list(s) == ["W_hr", "W_hz", "W_hn"]
    assert s["W_hr"]["radius"] == pytest.approx(0.7)
    assert s["W_hz"]["radius"] == pytest.approx(2.0) and s["W_hz"]["norm"] == pytest.approx(2.0)
    # nilpotent: radius 0 although the norm is 3, the gap between the two measures
    assert s["W_hn"]["radius"] == pytest.approx(0.0, abs=1e-12)
    assert s["W_hn"]["norm"] == pytest.approx(3.0)


def test_saturation_of_large_and_zero_weights() -> None:
    torch.manual_seed(3)
    for scale, low, high in [(50.0, 0.9, 1.0), (0.0, 0.0, 0.0)]:
        rnn = Recurrent("rnn", 3, 16, impl="loop")
        with torch.no_grad():
            for p in rnn.parameters():
                p.mul_(scale)
        r = recurrent_gradient_flow(rnn, torch.randn(2, 10, 3), lambda out: out[:, -1].sum())
        assert low <= r["saturation"][0]["overall"]["h"] <= high
    lstm = Recurrent("lstm", 3, 4, impl="fused")
    r = recurrent_gradient_flow(lstm, torch.randn(2, 5, 3), lambda out: out[:, -1].sum())
    assert set(r["saturation"][0]["overall"]) == {"i", "f", "g", "o"}


def test_bidirectional_reverse_direction_sees_only_the_last_step() -> None:
    """A loss on out[:, -1] reaches the reverse direction of the top layer only at t = T."""
    rnn = Recurrent("gru", 3, 4, num_layers=2, bidirectional=True, impl="fused")
    r = recurrent_gradient_flow(rnn, torch.randn(2, 6, 3), lambda out: out[:, -1].sum())
    top_reverse = r["hidden_grad_norm"][3]
    assert top_reverse[:-1] == [0.0] * 5 and top_reverse[-1] > 0
    assert all(v > 0 for v in r["hidden_grad_norm"][0])


def test_report_files_and_errors(tmp_path) -> None:
    lm = RecurrentLM(V, "lstm", 6, H)
    paths = write_report(gradient_flow(lm, batch()), tmp_path)
    data = json.loads(paths["json"].read_text())
    assert data["mode"] == "lstm" and len(data["hidden_grad_norm"][0]) == T
    assert paths["png"].stat().st_size < 150_000
    with pytest.raises(RnnlabError, match="recurrent language model"):
        gradient_flow(nn.Linear(2, 2), batch())
    b = batch()
    with pytest.raises(RnnlabError, match="padded batch"):
        gradient_flow(lm, b._replace(lengths=torch.tensor([T, T - 2, T, T])))


def test_grad_norms_total_is_the_clipped_norm() -> None:
    lm = RecurrentLM(V, "gru", 6, H)
    lm(batch()).loss.backward()
    norms = grad_norms(lm.named_parameters())
    total = float(nn.utils.clip_grad_norm_(lm.parameters(), float("inf")))
    assert norms["total"] == pytest.approx(total, rel=1e-6)
    assert "rnn.rnn.weight_hh_l0" in norms
