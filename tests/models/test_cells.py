"""Hand-written cells equal torch.nn cells after copying weights (outputs and gradients)."""

from __future__ import annotations

import torch
from torch import nn

from rnnlab.models.cells import ElmanCell, GRUCell, LSTMCell

B, I, H = 3, 5, 4
TOL = 1e-10
TORCH_NAMES = {n: n for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}


def _copy(dst: nn.Module, src: nn.Module) -> None:
    with torch.no_grad():
        for name, p in dst.named_parameters():
            p.copy_(getattr(src, name))


def _run_seq(cell, xs, state):
    """Run a cell over 6 steps and sum a fixed functional of every state."""
    total = 0.0
    for x in xs:
        state = cell(x, state)
        h = state[0] if isinstance(state, tuple) else state
        total = total + (h * torch.linspace(-1, 1, H, dtype=h.dtype)).sum() + (h**2).sum()
    return total


def _assert_same(ours: nn.Module, ref: nn.Module, state0, names: dict[str, str]) -> None:
    """Run both cells over the same 6 steps; values and the gradients of `names`
    (our parameter -> torch's) must agree to TOL."""
    xs = torch.randn(6, B, I, dtype=torch.float64)
    a, b = _run_seq(ours, xs, state0), _run_seq(ref, xs, state0)
    a.backward()
    b.backward()
    assert abs(a.item() - b.item()) < TOL
    for mine, theirs in names.items():
        g, g_ref = getattr(ours, mine).grad, getattr(ref, theirs).grad
        assert torch.allclose(g, g_ref, atol=TOL, rtol=0), mine


def test_elman_equals_torch_rnncell() -> None:
    torch.manual_seed(0)
    ours = ElmanCell(I, H).double()
    ref = nn.RNNCell(I, H, nonlinearity="tanh").double()
    with torch.no_grad():  # the notes' single bias b is torch's bias_ih, with bias_hh = 0
        ref.weight_ih.copy_(ours.weight_ih)
        ref.weight_hh.copy_(ours.weight_hh)
        ref.bias_ih.copy_(ours.bias)
        ref.bias_hh.zero_()
    h0 = torch.randn(B, H, dtype=torch.float64)
    _assert_same(ours, ref, h0, {"weight_hh": "weight_hh", "weight_ih": "weight_ih",
                                 "bias": "bias_ih"})


def test_elman_feedback_is_r_times_previous_output() -> None:
    torch.manual_seed(1)
    K = 6
    cell = ElmanCell(I, H, feedback_size=K).double()
    x = torch.randn(B, I, dtype=torch.float64)
    h = torch.randn(B, H, dtype=torch.float64)
    y_ids = torch.tensor([0, 3, 5])
    y_onehot = torch.nn.functional.one_hot(y_ids, K).double()
    expected = torch.tanh(
        h @ cell.weight_hh.T + x @ cell.weight_ih.T + cell.bias + y_onehot @ cell.weight_fb.T
    )
    assert torch.allclose(cell(x, h, y_ids), expected, atol=TOL, rtol=0)
    assert torch.allclose(cell(x, h, y_onehot), expected, atol=TOL, rtol=0)


def test_gru_equals_torch_grucell() -> None:
    torch.manual_seed(2)
    ours, ref = GRUCell(I, H).double(), nn.GRUCell(I, H).double()
    _copy(ours, ref)
    _assert_same(ours, ref, torch.randn(B, H, dtype=torch.float64), TORCH_NAMES)


def test_lstm_equals_torch_lstmcell() -> None:
    torch.manual_seed(3)
    ours, ref = LSTMCell(I, H).double(), nn.LSTMCell(I, H).double()
    _copy(ours, ref)
    s0 = (torch.randn(B, H, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64))
    _assert_same(ours, ref, s0, TORCH_NAMES)
