"""`Recurrent`: runs cells over time, stacked and optionally bidirectional.

Shapes: B batch, T time, I input features, H hidden, L layers, D directions (1 or 2).

Two implementations behind one interface, chosen by `impl`:
  "fused": `torch.nn.RNN/GRU/LSTM` (one C++ kernel per layer; packed sequences for padding)
  "loop":  the hand-written cells of `cells.py`, one Python step per time step
Both take `x (B, T, I)`, an optional initial state and optional `lengths (B,)`, and return
`outputs (B, T, D*H)` (zero on padded steps) and the final state: `h (L*D, B, H)`, or `(h, c)`
for the LSTM, taken after each sequence's last real token; layer-major, direction-minor, as
`torch.nn`. A test pins that the two paths agree on padded batches of mixed lengths.

`step(x_t, state)` advances a unidirectional stack by one token for decoding; on the fused path
it reads the `torch.nn` module's weights into the same recurrence functions the cells use,
because calling `nn.LSTM` once per token costs several times more than one cell step.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnlab.errors import RnnlabError
from rnnlab.models.base import State
from rnnlab.models.cells import CELLS, ElmanCell, elman_recur, gru_recur, lstm_recur

Mode = Literal["rnn", "gru", "lstm"]
Impl = Literal["fused", "loop"]
_FUSED: dict[str, type[nn.RNN] | type[nn.GRU] | type[nn.LSTM]] = {
    "rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


class _Cell(Protocol):
    """What the loop path calls on a cell of models/cells.py (ElmanCell, GRUCell, LSTMCell)."""

    def project(self, x: Tensor, y_prev: Tensor | None = None) -> Tensor: ...

    # h (B, H) -> h, or the LSTM's (h, c) -> (h, c)
    def recur(self, xw_t: Tensor, s: Any) -> Any: ...

    def layer_params(self) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]: ...


def reverse_padded(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence of x (B, T, ...) within its own length; padding stays in place."""
    if lengths is None:
        return x.flip(1)
    T = x.shape[1]
    t = torch.arange(T, device=x.device).unsqueeze(0)  # (1, T)
    n = lengths.to(x.device).unsqueeze(1)  # (B, 1)
    idx = torch.where(t < n, n - 1 - t, t)  # (B, T)
    idx = idx.view(*idx.shape, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, idx)


class Recurrent(nn.Module):
    """Elman (`mode` rnn), GRU or LSTM layers driven over time: (B, T, input_size) ->
    (B, T, hidden_size x directions) and the final state. `impl="fused"` runs PyTorch's nn
    kernels; `"loop"` steps the hand-written cells of cells.py one time step at a time (the
    notes' equations, and the output feedback `R y_{t-1}` with `feedback_size`). Padded
    batches take `lengths`: states stop at each row's last real step, both ways."""

    def __init__(
        self,
        mode: Mode,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        dropout: float = 0.0,
        bidirectional: bool = False,
        impl: Impl = "fused",
        feedback_size: int = 0,
    ) -> None:
        super().__init__()
        if mode not in CELLS:
            raise RnnlabError(f"cell must be one of {sorted(CELLS)}, got {mode!r}")
        if impl not in ("fused", "loop"):
            raise RnnlabError(f"impl must be 'fused' or 'loop', got {impl!r}")
        if feedback_size and (impl != "loop" or mode != "rnn"):
            raise RnnlabError(
                "output-to-hidden feedback exists for the Elman cell's hand-written loop only; "
                "use --model rnn --impl loop with --feedback"
            )
        self.mode, self.impl = mode, impl
        self.input_size, self.hidden_size = input_size, hidden_size
        self.num_layers, self.dropout = num_layers, dropout
        self.num_directions = 2 if bidirectional else 1
        self.feedback_size = feedback_size
        # diagnostics: when True, the loop path keeps every h_t (in the autograd graph)
        self.record = False
        self.recorded: list[list[Tensor]] = []
        if impl == "fused":
            self.rnn = _FUSED[mode](
                input_size, hidden_size, num_layers, batch_first=True,
                dropout=dropout if num_layers > 1 else 0.0, bidirectional=bidirectional,
            )
        else:
            cells: list[nn.Module] = []
            for layer in range(num_layers):
                in_size = input_size if layer == 0 else hidden_size * self.num_directions
                for _ in range(self.num_directions):
                    if mode == "rnn":
                        fb = feedback_size if layer == 0 else 0
                        cells.append(ElmanCell(in_size, hidden_size, fb))
                    else:
                        cells.append(CELLS[mode](in_size, hidden_size))
            self.cells = nn.ModuleList(cells)  # index layer * D + direction

    @property
    def output_size(self) -> int:
        return self.hidden_size * self.num_directions

    def initial_state(self, batch_size: int, device: torch.device | str | None = None,
                      dtype: torch.dtype | None = None) -> State:
        z = torch.zeros(
            self.num_layers * self.num_directions, batch_size, self.hidden_size,
            device=device, dtype=dtype,
        )
        return (z, z.clone()) if self.mode == "lstm" else z

    def forward(
        self,
        x: Tensor,
        state: State | None = None,
        lengths: Tensor | None = None,
        feedback: Tensor | None = None,
    ) -> tuple[Tensor, State]:
        """x (B, T, I) -> outputs (B, T, D*H), final state. `feedback` (B, T[, F]) is the
        previous output y_{t-1} for an Elman cell with feedback (ids or vectors)."""
        if lengths is not None and bool((lengths == x.shape[1]).all()):
            lengths = None  # full-length batch: no masking or packing needed
        if self.impl == "fused":
            return self._forward_fused(x, state, lengths)
        return self._forward_loop(x, state, lengths, feedback)

    # -- fused -------------------------------------------------------------------------
    def _forward_fused(
        self, x: Tensor, state: State | None, lengths: Tensor | None
    ) -> tuple[Tensor, State]:
        if lengths is None:
            return self.rnn(x, state)
        T = x.shape[1]
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, state = self.rnn(packed, state)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)  # (B, T, D*H)
        return out, state

    # -- loop --------------------------------------------------------------------------
    def _forward_loop(
        self, x: Tensor, state: State | None, lengths: Tensor | None, feedback: Tensor | None
    ) -> tuple[Tensor, State]:
        B, T, _ = x.shape
        if state is None:
            state = self.initial_state(B, x.device, x.dtype)
        is_lstm = self.mode == "lstm"
        mask = None
        if lengths is not None:
            mask = (torch.arange(T, device=x.device) < lengths.to(x.device).unsqueeze(1))
            mask = mask.unsqueeze(-1)  # (B, T, 1)
        self.recorded = []
        finals_h, finals_c = [], []
        layer_in = x
        for layer in range(self.num_layers):
            outs = []
            for d in range(self.num_directions):
                k = layer * self.num_directions + d
                cell = cast(_Cell, self.cells[k])
                s0 = (state[0][k], state[1][k]) if is_lstm else state[k]
                y_prev = feedback if layer == 0 else None
                xw = cell.project(layer_in, y_prev)  # (B, T, G*H), hoisted out of the loop
                if d == 1:
                    xw = reverse_padded(xw, lengths)
                out, s_last, trace = self._time_loop(cell, xw, s0, mask)
                if d == 1:
                    out = reverse_padded(out, lengths)
                outs.append(out)
                if self.record:
                    self.recorded.append(trace)
                if is_lstm:
                    finals_h.append(s_last[0])
                    finals_c.append(s_last[1])
                else:
                    finals_h.append(cast(Tensor, s_last))
            layer_in = outs[0] if len(outs) == 1 else torch.cat(outs, dim=-1)  # (B, T, D*H)
            if layer < self.num_layers - 1 and self.dropout > 0:
                layer_in = F.dropout(layer_in, self.dropout, self.training)
        h = torch.stack(finals_h)  # (L*D, B, H)
        return layer_in, ((h, torch.stack(finals_c)) if is_lstm else h)

    def _time_loop(
        self, cell: _Cell, xw: Tensor, s: State, mask: Tensor | None
    ) -> tuple[Tensor, State, list[Tensor]]:
        """Iterate one cell over xw (B, T, G*H). `unbind` gives views; indexing xw[:, t] per
        step would make backward accumulate a full-size gradient per step (quadratic in T)."""
        is_lstm = isinstance(s, tuple)
        outs: list[Tensor] = []
        states: list[Tensor] = []  # the h_t that feeds step t+1 (diagnostics read its grad)
        for t, xw_t in enumerate(xw.unbind(1)):
            new = cell.recur(xw_t, s)
            h_t = new[0] if is_lstm else new
            if mask is not None:
                m = mask[:, t]  # (B, 1): padded rows keep their state and output zeros
                if is_lstm:
                    new = (torch.where(m, new[0], s[0]), torch.where(m, new[1], s[1]))
                else:
                    new = torch.where(m, new, cast(Tensor, s))
                outs.append(h_t * m)
            else:
                outs.append(h_t)
            s = new
            if self.record:
                states.append(s[0] if is_lstm else cast(Tensor, s))
        return torch.stack(outs, dim=1), s, states

    # -- decoding ----------------------------------------------------------------------
    def layer_params(self, layer: int) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        """(weight_ih, weight_hh, bias_ih, bias_hh) of a layer's forward direction."""
        if self.impl == "loop":
            return cast(_Cell, self.cells[layer * self.num_directions]).layer_params()
        r = self.rnn
        return (
            getattr(r, f"weight_ih_l{layer}"), getattr(r, f"weight_hh_l{layer}"),
            getattr(r, f"bias_ih_l{layer}"), getattr(r, f"bias_hh_l{layer}"),
        )

    def step(
        self, x_t: Tensor, state: State | None, feedback: Tensor | None = None
    ) -> tuple[Tensor, State]:
        """One token for all layers: x_t (B, I) -> (h_t of the top layer (B, H), new state)."""
        if self.num_directions != 1:
            raise RnnlabError(
                "a bidirectional model sees the future and cannot decode step by step"
            )
        if state is None:
            state = self.initial_state(x_t.shape[0], x_t.device, x_t.dtype)
        hs, cs = [], []
        inp = x_t
        for layer in range(self.num_layers):
            w_ih, w_hh, b_ih, b_hh = self.layer_params(layer)
            if self.mode == "lstm":
                bias = b_ih + cast(Tensor, b_hh) if b_ih is not None else None
                h, c = lstm_recur(F.linear(inp, w_ih, bias), (state[0][layer], state[1][layer]),
                                  w_hh)
                cs.append(c)
            elif self.mode == "gru":
                h = gru_recur(F.linear(inp, w_ih, b_ih), state[layer], w_hh, b_hh)
            else:
                if self.impl == "loop" and layer == 0 and self.feedback_size:
                    xw = cast(_Cell, self.cells[0]).project(inp, feedback)
                else:
                    xw = F.linear(inp, w_ih, b_ih)
                h = elman_recur(xw, state[layer], w_hh, b_hh)
            hs.append(h)
            inp = h  # no dropout between layers at decoding time (eval mode)
        h_all = torch.stack(hs)  # (L, B, H)
        return inp, ((h_all, torch.stack(cs)) if self.mode == "lstm" else h_all)
