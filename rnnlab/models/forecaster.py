"""Forecaster: autoregressive models of a real-valued series, windowed or latent-state.

Shapes: B batch, C context (past values read), H horizon (steps forecast), S steps a forward
pass predicts (1 for `recursive`, H for `direct`), F = 1 output feature (a point forecast),
Hd hidden units, L layers. All values are scaled (see `batching.Scaler`).

Windowed models (the notes' "window of tau past values"; tau = `context`):
  linear   x̂_t = b + w · [x_{t-C}, ..., x_{t-1}]                     a linear AR(C) model
  mlp      x̂_t = b + V tanh(c + U [x_{t-C}, ..., x_{t-1}])            (Bengio et al. 2003 shape)
Latent-state models (the notes' h_t = g(h_{t-1}, x_{t-1}), x̂_t = f(h_t)):
  rnn      Elman (1990)  h_t = tanh(W h_{t-1} + U x_{t-1} + b)
  gru      Cho et al. 2014; lstm  Hochreiter & Schmidhuber 1997  (`Recurrent` drives the cells)
  then     x̂_t = V h_t + c

Strategies for an H-step forecast (Taieb et al. 2012 compare the two):
  recursive  learn the one-step model, then feed each prediction back as the next input:
             x̂_{t+k} = f(x_{t+k-C}, ..., x̂_{t+k-1}); errors made early are read again later,
             so they accumulate with k (the notes' warning). A latent-state model carries its
             state forward one `step` per prediction and never re-reads the window.
  direct     one model emits all H values at once from the window: no feedback, no
             accumulation, but one output per horizon step to learn from fewer windows.

`residual=True` adds the last observed value to every output (x̂ = x_{t-1} + f(...)), so a
model with zero output weights is the naive forecast, which is where training starts (the
output layer is zero-initialised). On trending series (airline passengers, FTSE) this keeps
forecasts near the current level even where it lies outside the training range.

`difference=True` (implies `residual`) feeds the changes Δx_t = x_t - x_{t-1} instead of the
levels, as ARIMA's d = 1 (Box & Jenkins 1970): the model then predicts the next change from
the recent changes, x̂_t = x_{t-1} + f(Δx_{t-C+1}, ..., Δx_{t-1}), and never sees a level it
was not trained on. It also hides the level, which a mean-reverting series needs, so
`rnnlab.forecast` turns it on only when a KPSS test rejects stationarity of the training part.
A window of C values gives C - 1 changes; a latent-state model reads Δ = 0 at the first step.

Training loss: mean squared error in scaled units. The recursive latent-state models are
trained with teacher forcing at every position of the window (each h_t predicts x_{t+1}),
after a burn-in of C // 4 positions whose state has seen too little history to be judged.

Outputs: `logits` (B, S, 1) is the point forecast; prediction intervals are not a head of the
model but come from validation residual quantiles (`rnnlab.forecast`), for every kind alike.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.errors import RnnlabError
from rnnlab.models.base import Output, SeriesBatch, State
from rnnlab.models.recurrent import Recurrent

KINDS = ("linear", "mlp", "rnn", "gru", "lstm")
STRATEGIES = ("recursive", "direct")


class Forecaster(nn.Module):
    def __init__(
        self,
        kind: str = "mlp",
        strategy: str = "recursive",
        context: int = 24,
        horizon: int = 1,
        hidden_size: int = 64,
        num_layers: int = 1,
        dropout: float = 0.0,
        impl: str = "fused",
        residual: bool = True,
        difference: bool = False,
    ) -> None:
        super().__init__()
        if kind not in KINDS:
            raise RnnlabError(
                f"--model {kind!r} is not a forecasting model; choose one of {', '.join(KINDS)}"
            )
        if strategy not in STRATEGIES:
            raise RnnlabError(
                f"--strategy must be 'recursive' or 'direct', got {strategy!r}"
            )
        if context < 1:
            raise RnnlabError(f"--context must be >= 1, got {context}; use e.g. --context 24")
        if horizon < 1:
            raise RnnlabError(f"--horizon must be >= 1, got {horizon}; use e.g. --horizon 12")
        if difference and kind in ("linear", "mlp") and context < 2:
            raise RnnlabError(
                f"differenced inputs need --context >= 2 (C values give C - 1 changes), got "
                f"{context}; raise --context"
            )
        self.hparams = dict(
            kind=kind, strategy=strategy, context=context, horizon=horizon,
            hidden_size=hidden_size, num_layers=num_layers, dropout=dropout, impl=impl,
            residual=residual, difference=difference,
        )
        self.kind, self.strategy, self.context, self.horizon = kind, strategy, context, horizon
        self.residual = residual or difference  # a model of changes adds them to the level
        self.difference = difference
        self.steps_out = horizon if strategy == "direct" else 1  # S
        self.drop = nn.Dropout(dropout)
        self.recurrent = kind in ("rnn", "gru", "lstm")
        features = context - 1 if difference else context  # window model inputs
        if kind == "linear":
            self.out = nn.Linear(features, self.steps_out)
        elif kind == "mlp":
            layers: list[nn.Module] = []
            for i in range(num_layers):
                layers.append(nn.Linear(features if i == 0 else hidden_size, hidden_size))
            self.hidden = nn.ModuleList(layers)
            self.out = nn.Linear(hidden_size, self.steps_out)
        else:
            self.rnn = Recurrent(kind, 1, hidden_size, num_layers, dropout, impl=impl)  # type: ignore[arg-type]
            self.out = nn.Linear(hidden_size, self.steps_out)
        if self.residual:  # start from the naive forecast (see the module docstring)
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    # -- windowed ---------------------------------------------------------------------
    def _window(self, window: Tensor) -> Tensor:
        """window (B, C) -> predictions (B, S) of the S values after it."""
        feats = window.diff(dim=1) if self.difference else window  # (B, C-1) or (B, C)
        if self.kind == "linear":
            y = self.out(feats)
        else:
            h = feats
            for layer in self.hidden:
                h = self.drop(torch.tanh(layer(h)))  # (B, Hd)
            y = self.out(h)
        return y + window[:, -1:] if self.residual else y

    # -- latent state -----------------------------------------------------------------
    def _read(self, inputs: Tensor, state: State | None) -> tuple[Tensor, State]:
        """inputs (B, T) -> one-step predictions at every position (B, T, S), final state."""
        u = inputs.diff(dim=1, prepend=inputs[:, :1]) if self.difference else inputs  # (B, T)
        out, state = self.rnn(u.unsqueeze(-1), state)  # (B, T, Hd)
        y = self.out(self.drop(out))  # (B, T, S)
        if self.residual:
            y = y + inputs.unsqueeze(-1)
        return y, state

    def forward(self, batch: SeriesBatch, state: State | None = None) -> Output:
        """Predict the S values after `batch.inputs` (B, T); a windowed model reads the last C
        of them, a latent-state model reads them all. logits (B, S, 1)."""
        x = batch.inputs
        if x.shape[1] < (1 if self.recurrent else self.context):
            raise RnnlabError(
                f"the model reads --context {self.context} values, got {x.shape[1]}"
            )
        loss = None
        if not self.recurrent:
            pred = self._window(x[:, -self.context:])  # (B, S)
            new_state: State | None = None
            if batch.targets is not None:
                loss = F.mse_loss(pred, batch.targets[:, : self.steps_out])
        else:
            y, new_state = self._read(x, state)  # (B, T, S)
            pred = y[:, -1]  # (B, S): the forecast made after the last input
            if batch.targets is not None:
                if self.strategy == "recursive":
                    # teacher forcing: position t predicts x_{t+1}, the next input or target 0
                    nxt = torch.cat([x[:, 1:], batch.targets[:, :1]], dim=1)  # (B, T)
                    burn = x.shape[1] // 4
                    loss = F.mse_loss(y[:, burn:, 0], nxt[:, burn:])
                else:
                    loss = F.mse_loss(pred, batch.targets[:, : self.steps_out])
        return Output(pred.unsqueeze(-1), loss, new_state)

    @torch.no_grad()
    def forecast(self, inputs: Tensor, steps: int) -> Tensor:
        """inputs (B, T >= C) -> forecasts (B, steps) of the values after the last C inputs.

        recursive: each prediction is fed back as an input; direct: one pass, steps <= H."""
        if steps < 1:
            raise RnnlabError(f"--horizon must be >= 1, got {steps}")
        if inputs.shape[1] < self.context:
            raise RnnlabError(
                f"need --context {self.context} past values to forecast, got {inputs.shape[1]}"
            )
        window = inputs[:, -self.context:]  # (B, C): the same length the model trained on
        if self.strategy == "direct":
            if steps > self.horizon:
                raise RnnlabError(
                    f"--horizon {steps} exceeds the horizon {self.horizon} this direct model "
                    f"was trained for; use --horizon <= {self.horizon} or retrain with "
                    f"--horizon {steps} (or --strategy recursive)"
                )
            return self.forward(SeriesBatch(window, None)).logits[:, :steps, 0]
        preds: list[Tensor] = []
        if not self.recurrent:
            for _ in range(steps):
                y = self._window(window)[:, :1]  # (B, 1)
                preds.append(y)
                window = torch.cat([window[:, 1:], y], dim=1)  # slide: drop oldest, add x̂
            return torch.cat(preds, dim=1)
        y_all, state = self._read(window, None)
        y = y_all[:, -1, :1]  # (B, 1)
        preds.append(y)
        prev = window[:, -1:]  # (B, 1) the value before y, for its change
        for _ in range(steps - 1):
            # carry the state: h_{t+1} = g(h_t, x̂_t), one cell step, no window re-read
            h, state = self.rnn.step(y - prev if self.difference else y, state)  # (B, Hd)
            prev, y = y, self.out(h)[:, :1] + (y if self.residual else 0.0)
            preds.append(y)
        return torch.cat(preds, dim=1)
