"""The long-range tasks are what their papers define, and their trivial baselines hold."""

from __future__ import annotations

import torch

from rnnlab.models.recurrent import Recurrent
from rnnlab.reference.synthetic import ADDING_BASELINE_MSE, adding_problem, copy_memory


def test_adding_problem_layout_and_baseline() -> None:
    g = torch.Generator().manual_seed(0)
    x, y = adding_problem(20_000, 50, g)
    markers = x[..., 1]
    assert x.shape == (20_000, 50, 2) and y.shape == (20_000, 1)
    assert torch.equal(markers.sum(1), torch.full((20_000,), 2.0))
    assert torch.equal(markers[:, :25].sum(1), torch.ones(20_000))  # one marker per half
    assert torch.allclose(y[:, 0], (x[..., 0] * markers).sum(1))
    mse_of_mean = float(((y - 1.0) ** 2).mean())  # predicting E[y] = 1 without reading x
    assert abs(mse_of_mean - ADDING_BASELINE_MSE) < 0.01


def test_copy_memory_layout() -> None:
    inputs, targets = copy_memory(4, delay=6, n_symbols=8, copy_length=3)
    assert inputs.shape == targets.shape == (4, 6 + 6)
    data = inputs[:, :3]
    assert ((data >= 1) & (data <= 8)).all()
    assert (inputs[:, 3 + 6 - 1] == 9).all()  # the delimiter, copy_length steps before the end
    assert torch.equal(targets[:, -3:], data) and (targets[:, :-3] == 0).all()


def test_recorded_states_on_padded_steps_are_the_carried_state() -> None:
    torch.manual_seed(0)
    rnn = Recurrent("gru", 3, 4, impl="loop")
    rnn.record = True
    x = torch.randn(2, 5, 3)
    _, h = rnn(x, None, torch.tensor([5, 2]))
    trace = rnn.recorded[0]
    assert len(trace) == 5
    for t in range(2, 5):  # row 1 has ended: its state is held, not zeroed
        assert torch.equal(trace[t][1], trace[1][1])
    assert torch.equal(trace[-1][1], h[0, 1])
