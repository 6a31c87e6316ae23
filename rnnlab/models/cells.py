"""Recurrent cells: one time step each; the driver in `recurrent.py` does time.

Shapes: B batch, I input features, H hidden, F feedback features (previous output).

Every cell splits its step in two so the driver can hoist the input half out of the time loop:
  `project(x)`: the input term for all steps at once, (B, T, I) -> (B, T, G*H)
  `recur(xw_t, state)`: the recurrent term and nonlinearity for one step
`cell(x_t, state)` does both for a single step. Parameter names follow `torch.nn`
(`weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`) so tests copy weights into `torch.nn` cells;
the gate layouts are torch's too (LSTM: i, f, g, o; GRU: r, z, n, reset-after).

The recurrences themselves are plain functions (`elman_recur`, `gru_recur`, `lstm_recur`) so the
fused path can run a single decoding step with the weights of `torch.nn.RNN/GRU/LSTM`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def elman_recur(xw_t: Tensor, h_prev: Tensor, weight_hh: Tensor, bias_hh: Tensor | None) -> Tensor:
    """h_t = tanh(a_t), a_t = W h_{t-1} + (U x_t + b), the bracket precomputed in `xw_t`.
    `bias_hh` is torch.nn.RNN's second bias (None for the notes' single b)."""
    a_t = torch.addmm(xw_t, h_prev, weight_hh.t())  # (B, H)
    if bias_hh is not None:
        a_t = a_t + bias_hh
    return torch.tanh(a_t)


def gru_recur(xw_t: Tensor, h_prev: Tensor, weight_hh: Tensor, bias_hh: Tensor | None) -> Tensor:
    """Cho et al. 2014, reset-after as torch.nn.GRU:
    r = σ(W_ir x + b_ir + W_hr h + b_hr), z = σ(W_iz x + b_iz + W_hz h + b_hz),
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}."""
    hw = F.linear(h_prev, weight_hh, bias_hh)  # (B, 3H)
    x_r, x_z, x_n = xw_t.chunk(3, dim=-1)
    h_r, h_z, h_n = hw.chunk(3, dim=-1)
    r = torch.sigmoid(x_r + h_r)
    z = torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    return n + z * (h_prev - n)


def lstm_recur(
    xw_t: Tensor, state: tuple[Tensor, Tensor], weight_hh: Tensor
) -> tuple[Tensor, Tensor]:
    """Hochreiter & Schmidhuber 1997 with forget gate (Gers 2000), torch's layout:
    [i, f, g, o] = W_ih x + b_ih + W_hh h + b_hh (both biases already in `xw_t`),
    c_t = σ(f) ⊙ c_{t-1} + σ(i) ⊙ tanh(g), h_t = σ(o) ⊙ tanh(c_t)."""
    h_prev, c_prev = state
    gates = torch.addmm(xw_t, h_prev, weight_hh.t())  # (B, 4H)
    i, f, g, o = gates.chunk(4, dim=-1)
    c_t = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(g)
    h_t = torch.sigmoid(o) * torch.tanh(c_t)
    return h_t, c_t


def _uniform_(params: list[Tensor], hidden_size: int) -> None:
    bound = 1.0 / math.sqrt(hidden_size)
    for p in params:
        nn.init.uniform_(p, -bound, bound)


class ElmanCell(nn.Module):
    """Elman 1990 simple recurrent cell, written as the notes write it:

        a_t = W h_{t-1} + U x_t + b  [+ R y_{t-1}]
        h_t = tanh(a_t)

    `weight_ih` is U (H, I), `weight_hh` is W (H, H), `bias` is b (H,). With `feedback_size`
    F > 0 the cell also takes the previous output y_{t-1} through `weight_fb` = R (H, F), the
    output-to-hidden connection that lifts the conditional-independence assumption between
    outputs (Goodfellow et al. 2016, 10.2.1). y_{t-1} is given (teacher forcing), so R y_{t-1}
    is hoisted out of the loop with U x_t. It may be a float vector (B, T, F) or ids (B, T),
    read as one-hot columns of R.
    """

    def __init__(self, input_size: int, hidden_size: int, feedback_size: int = 0) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.feedback_size = feedback_size
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size))  # U
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))  # W
        self.bias = nn.Parameter(torch.empty(hidden_size))  # b
        self.weight_fb = (
            nn.Parameter(torch.empty(hidden_size, feedback_size)) if feedback_size else None
        )  # R
        _uniform_(list(self.parameters()), hidden_size)

    def project(self, x: Tensor, y_prev: Tensor | None = None) -> Tensor:
        """U x + b (+ R y_prev) for every step: (..., I) -> (..., H)."""
        xw = F.linear(x, self.weight_ih, self.bias)
        if self.weight_fb is not None:
            if y_prev is None:
                raise ValueError("this ElmanCell has feedback_size > 0: pass y_prev")
            if y_prev.dtype in (torch.int64, torch.int32):
                xw = xw + F.embedding(y_prev, self.weight_fb.t())  # R[:, y] for one-hot y
            else:
                xw = xw + F.linear(y_prev, self.weight_fb)
        return xw

    def recur(self, xw_t: Tensor, h_prev: Tensor) -> Tensor:
        return elman_recur(xw_t, h_prev, self.weight_hh, None)

    def forward(
        self, x_t: Tensor, h_prev: Tensor | None = None, y_prev: Tensor | None = None
    ) -> Tensor:
        if h_prev is None:
            h_prev = x_t.new_zeros(x_t.shape[0], self.hidden_size)
        return self.recur(self.project(x_t, y_prev), h_prev)

    # the driver reads every cell's weights through this one view
    def layer_params(self) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        return self.weight_ih, self.weight_hh, self.bias, None


class GRUCell(nn.Module):
    """Gated recurrent unit (Cho et al. 2014), reset-after, as `torch.nn.GRUCell`."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(3 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(3 * hidden_size, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(3 * hidden_size))
        self.bias_hh = nn.Parameter(torch.empty(3 * hidden_size))
        _uniform_(list(self.parameters()), hidden_size)

    def project(self, x: Tensor, y_prev: Tensor | None = None) -> Tensor:
        return F.linear(x, self.weight_ih, self.bias_ih)  # (..., 3H)

    def recur(self, xw_t: Tensor, h_prev: Tensor) -> Tensor:
        return gru_recur(xw_t, h_prev, self.weight_hh, self.bias_hh)

    def forward(self, x_t: Tensor, h_prev: Tensor | None = None) -> Tensor:
        if h_prev is None:
            h_prev = x_t.new_zeros(x_t.shape[0], self.hidden_size)
        return self.recur(self.project(x_t), h_prev)

    def layer_params(self) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh


class LSTMCell(nn.Module):
    """Long short-term memory (Hochreiter & Schmidhuber 1997), as `torch.nn.LSTMCell`."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size))
        self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size))
        _uniform_(list(self.parameters()), hidden_size)

    def project(self, x: Tensor, y_prev: Tensor | None = None) -> Tensor:
        return F.linear(x, self.weight_ih, self.bias_ih + self.bias_hh)  # (..., 4H)

    def recur(self, xw_t: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        return lstm_recur(xw_t, state, self.weight_hh)

    def forward(
        self, x_t: Tensor, state: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor]:
        if state is None:
            z = x_t.new_zeros(x_t.shape[0], self.hidden_size)
            state = (z, z)
        return self.recur(self.project(x_t), state)

    def layer_params(self) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh


CELLS: dict[str, type[nn.Module]] = {"rnn": ElmanCell, "gru": GRUCell, "lstm": LSTMCell}
Cell = ElmanCell | GRUCell | LSTMCell  # what a loop-path `Recurrent` holds in `cells`
