"""The hand-written loop equals the fused torch.nn path on padded batches of mixed lengths;
decoding steps equal the full forward; padded steps output zeros and keep the state."""

from __future__ import annotations

import pytest
import torch

from rnnlab.models.recurrent import Recurrent, reverse_padded

B, T, I, H = 4, 7, 3, 5
TOL = 1e-10


def copy_fused_to_loop(fused: Recurrent, loop: Recurrent) -> None:
    D = fused.num_directions
    with torch.no_grad():
        for layer in range(fused.num_layers):
            for d in range(D):
                sfx = f"l{layer}" + ("_reverse" if d else "")
                w_ih = getattr(fused.rnn, f"weight_ih_{sfx}")
                w_hh = getattr(fused.rnn, f"weight_hh_{sfx}")
                b_ih = getattr(fused.rnn, f"bias_ih_{sfx}")
                b_hh = getattr(fused.rnn, f"bias_hh_{sfx}")
                cell = loop.cells[layer * D + d]
                cell.weight_ih.copy_(w_ih)
                cell.weight_hh.copy_(w_hh)
                if fused.mode == "rnn":
                    cell.bias.copy_(b_ih + b_hh)  # the notes' b is the sum of torch's biases
                else:
                    cell.bias_ih.copy_(b_ih)
                    cell.bias_hh.copy_(b_hh)


def _pair(mode: str, layers: int, bidirectional: bool) -> tuple[Recurrent, Recurrent]:
    torch.manual_seed(0)
    fused = Recurrent(mode, I, H, layers, bidirectional=bidirectional, impl="fused").double()
    loop = Recurrent(mode, I, H, layers, bidirectional=bidirectional, impl="loop").double()
    copy_fused_to_loop(fused, loop)
    return fused, loop


def _flat(state):
    return torch.cat([s.flatten() for s in state]) if isinstance(state, tuple) else state.flatten()


@pytest.mark.parametrize("mode", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("layers,bidirectional", [(1, False), (2, False), (2, True)])
def test_loop_equals_fused_on_padded_batch(mode: str, layers: int, bidirectional: bool) -> None:
    fused, loop = _pair(mode, layers, bidirectional)
    x = torch.randn(B, T, I, dtype=torch.float64)
    lengths = torch.tensor([7, 3, 5, 1])
    out_f, s_f = fused(x, None, lengths)
    out_l, s_l = loop(x, None, lengths)
    assert torch.allclose(out_f, out_l, atol=TOL, rtol=0)
    assert torch.allclose(_flat(s_f), _flat(s_l), atol=TOL, rtol=0)
    # padded positions are exactly zero on both paths
    pad = torch.arange(T)[None, :] >= lengths[:, None]
    assert out_l[pad].abs().max() == 0 and out_f[pad].abs().max() == 0
    # gradients agree too
    w = torch.randn_like(out_f)
    ((out_f * w).sum() + _flat(s_f).sum()).backward()
    ((out_l * w).sum() + _flat(s_l).sum()).backward()
    assert fused.rnn.weight_hh_l0.grad is not None
    assert torch.allclose(fused.rnn.weight_hh_l0.grad, loop.cells[0].weight_hh.grad,
                          atol=1e-9, rtol=0)
    assert torch.allclose(fused.rnn.weight_ih_l0.grad, loop.cells[0].weight_ih.grad,
                          atol=1e-9, rtol=0)


@pytest.mark.parametrize("mode", ["rnn", "gru", "lstm"])
def test_final_state_is_after_last_real_token(mode: str) -> None:
    _, loop = _pair(mode, 1, False)
    x = torch.randn(B, T, I, dtype=torch.float64)
    lengths = torch.tensor([7, 3, 5, 1])
    _, s = loop(x, None, lengths)
    for i, n in enumerate(lengths.tolist()):
        _, s_i = loop(x[i : i + 1, :n], None, None)  # the sequence alone, unpadded
        h, h_i = (s[0], s_i[0]) if mode == "lstm" else (s, s_i)
        assert torch.allclose(h[:, i], h_i[:, 0], atol=TOL, rtol=0)


@pytest.mark.parametrize("impl", ["fused", "loop"])
@pytest.mark.parametrize("mode", ["rnn", "gru", "lstm"])
def test_step_equals_forward(impl: str, mode: str) -> None:
    torch.manual_seed(4)
    rnn = Recurrent(mode, I, H, num_layers=2, impl=impl).double().eval()
    x = torch.randn(2, T, I, dtype=torch.float64)
    out, final = rnn(x)
    state = None
    for t in range(T):
        h, state = rnn.step(x[:, t], state)
        assert torch.allclose(h, out[:, t], atol=TOL, rtol=0)
    assert torch.allclose(_flat(state), _flat(final), atol=TOL, rtol=0)


def test_reverse_padded() -> None:
    x = torch.arange(8.0).view(2, 4, 1)
    out = reverse_padded(x, torch.tensor([4, 2]))
    assert out.squeeze(-1).tolist() == [[3, 2, 1, 0], [5, 4, 6, 7]]


def test_state_carries_like_one_long_sequence() -> None:
    """Two chunks with the state carried equal one forward over the concatenation (TBPTT's
    premise: detaching changes gradients, never values)."""
    torch.manual_seed(5)
    rnn = Recurrent("lstm", I, H, 2).double()
    x = torch.randn(2, 10, I, dtype=torch.float64)
    full, _ = rnn(x)
    a, s = rnn(x[:, :6])
    b, _ = rnn(x[:, 6:], tuple(t.detach() for t in s))
    assert torch.allclose(torch.cat([a, b], 1), full, atol=TOL, rtol=0)
