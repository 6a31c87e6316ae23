"""Hand-written cells equal torch.nn cells after copying weights (outputs and gradients)."""

from __future__ import annotations

import torch
from torch import nn

from rnnlab.models.cells import ElmanCell, GRUCell, LSTMCell

B, I, H = 3, 5, 4
TOL = 1e-10


def _grads(module: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in module.named_parameters()}


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


def test_elman_equals_torch_rnncell() -> None:
    torch.manual_seed(0)
    ours = ElmanCell(I, H).double()
    ref = nn.RNNCell(I, H, nonlinearity="tanh").double()
    with torch.no_grad():  # the notes' single bias b is torch's bias_ih, with bias_hh = 0
        ref.weight_ih.copy_(ours.weight_ih)
        ref.weight_hh.copy_(ours.weight_hh)
        ref.bias_ih.copy_(ours.bias)
        ref.bias_hh.zero_()
    xs = torch.randn(6, B, I, dtype=torch.float64)
    h0 = torch.randn(B, H, dtype=torch.float64)
    a, b = _run_seq(ours, xs, h0), _run_seq(ref, xs, h0)
    a.backward()
    b.backward()
    assert abs(a.item() - b.item()) < TOL
    assert torch.allclose(ours.weight_hh.grad, ref.weight_hh.grad, atol=TOL, rtol=0)
    assert torch.allclose(ours.weight_ih.grad, ref.weight_ih.grad, atol=TOL, rtol=0)
    assert torch.allclose(ours.bias.grad, ref.bias_ih.grad, atol=TOL, rtol=0)


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
    xs = torch.randn(6, B, I, dtype=torch.float64)
    h0 = torch.randn(B, H, dtype=torch.float64)
    a, b = _run_seq(ours, xs, h0), _run_seq(ref, xs, h0)
    a.backward()
    b.backward()
    assert abs(a.item() - b.item()) < TOL
    for name, g in _grads(ours).items():
        assert torch.allclose(g, getattr(ref, name).grad, atol=TOL, rtol=0), name


def test_lstm_equals_torch_lstmcell() -> None:
    torch.manual_seed(3)
    ours, ref = LSTMCell(I, H).double(), nn.LSTMCell(I, H).double()
    _copy(ours, ref)
    xs = torch.randn(6, B, I, dtype=torch.float64)
    s0 = (torch.randn(B, H, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64))
    a, b = _run_seq(ours, xs, s0), _run_seq(ref, xs, s0)
    a.backward()
    b.backward()
    assert abs(a.item() - b.item()) < TOL
    for name, g in _grads(ours).items():
        assert torch.allclose(g, getattr(ref, name).grad, atol=TOL, rtol=0), name
