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
`rnnlab.tasks.forecast` turns it on only when a KPSS test rejects stationarity of the training part.
A window of C values gives C - 1 changes; a latent-state model reads Δ = 0 at the first step.

`seasonal=m` (m >= 2; implies `residual`) is the seasonal prior: the model reads the seasonal
differences Δ_m x_t = x_t - x_{t-m} and predicts the next one, x̂_t = x_{t-m} + f(Δ_m x), the
seasonal differencing of SARIMA's D = 1 (Hyndman & Athanasopoulos, Forecasting: Principles
and Practice, 3rd ed., sec. 9.1 and 9.9). With zero output weights, where training starts,
the forecast is exactly seasonal naive; the network learns a correction to it. Together with
`difference=True` it reads Δ Δ_m x_t and starts from x̂_t = x_{t-1} + x_{t-m} - x_{t-m-1}
(the "airline model" forecast with zero MA terms: last value plus last year's change). A
window of C values gives C - m (C - m - 1 with `difference`) seasonal differences; a direct
model starts step k from the same season one cycle back, plus, with `difference`, one yearly
change per cycle crossed. A latent-state model reads 0 until the lag is filled and is not
trained on those first positions; its recursive forecast re-reads the sliding window (as it
was trained), since a carried state cannot look m steps back.

Training loss: mean squared error in scaled units. The recursive latent-state models are
trained with teacher forcing at every position of the window (each h_t predicts x_{t+1}),
after a burn-in of C // 4 positions whose state has seen too little history to be judged.

Outputs: `logits` (B, S, 1) is the point forecast; prediction intervals are not a head of the
model but come from validation residual quantiles (`rnnlab.tasks.forecast`), for every kind alike.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.errors import RnnlabError
from rnnlab.models.base import Output, SeriesBatch, State
from rnnlab.models.recurrent import Recurrent

KINDS = ("linear", "mlp", "rnn", "gru", "lstm")
STRATEGIES = ("recursive", "direct")


def seasonal_difference(x: Tensor, season: int, difference: bool = False) -> Tensor:
    """x (B, T) -> (B, T - lag): Δ_m x_t = x_t - x_{t-m} (m = `season`, 0 for none), then
    Δ of that when `difference`; lag = m + difference. The features the model reads."""
    u = x[:, season:] - x[:, : x.shape[1] - season] if season else x
    return u[:, 1:] - u[:, :-1] if difference else u  # slices, not diff: ONNX has no diff


def undo_seasonal_difference(u: Tensor, head: Tensor, season: int,
                             difference: bool = False) -> Tensor:
    """The inverse of `seasonal_difference`: u (B, T - lag) and the first lag values head
    (B, lag) -> x (B, T), by x_t = x_{t-1} + x_{t-m} - x_{t-m-1} + u_t (or x_{t-m} + u_t,
    x_{t-1} + u_t), the recursion the model's forecasts follow."""
    lag = season + int(difference)
    if head.shape[1] != lag:
        raise RnnlabError(f"need the first {lag} values to undo the differencing, got "
                          f"{head.shape[1]}; pass head = x[:, :{lag}]")
    cols = list(head.unbind(dim=1))
    for j in range(u.shape[1]):
        t = lag + j
        if season and difference:
            v = cols[t - 1] + (cols[t - season] - cols[t - season - 1]) + u[:, j]
        elif season:
            v = cols[t - season] + u[:, j]
        elif difference:
            v = cols[t - 1] + u[:, j]
        else:
            v = u[:, j]
        cols.append(v)
    return torch.stack(cols, dim=1) if cols else head


class Forecaster(nn.Module):
    """A forecaster of the next `horizon` values from the last `context` ones: a window model
    (`kind` linear or mlp) or a latent-state one (rnn, gru, lstm) over the window,
    `strategy` recursive (one step, fed back H times) or direct (all H at once). With
    `residual` it predicts the change from the last value; `difference` / `seasonal` read
    (seasonal) differences. forward(SeriesBatch) -> Output(logits (B, H, F), loss, None).
    """

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
        seasonal: int = 0,
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
        if seasonal < 0 or seasonal == 1:
            raise RnnlabError(
                f"seasonal differencing needs a lag m >= 2 (or 0 for none), got {seasonal}; "
                "lag 1 is plain differencing (difference=True)"
            )
        lag = seasonal + int(difference)  # leading window positions without a feature
        need = lag + (2 if kind in ("rnn", "gru", "lstm") else 1)
        if seasonal and context < need:
            raise RnnlabError(
                f"seasonal differencing at lag {seasonal} needs --context >= {need}, got "
                f"{context}; raise --context or drop the seasonal prior"
            )
        self.hparams = dict(
            kind=kind, strategy=strategy, context=context, horizon=horizon,
            hidden_size=hidden_size, num_layers=num_layers, dropout=dropout, impl=impl,
            residual=residual, difference=difference, seasonal=seasonal,
        )
        self.kind, self.strategy, self.context, self.horizon = kind, strategy, context, horizon
        # a model of changes (or of seasonal changes) adds them to the level it starts from
        self.residual = residual or difference or seasonal > 0
        self.difference = difference
        self.seasonal, self.lag = seasonal, lag
        self.steps_out = horizon if strategy == "direct" else 1  # S
        self.drop = nn.Dropout(dropout)
        self.recurrent = kind in ("rnn", "gru", "lstm")
        features = context - lag  # window model inputs
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

    # -- preprocessing ----------------------------------------------------------------
    def _features(self, window: Tensor) -> Tensor:
        """window (B, T) -> (B, T - lag): levels, Δx, Δ_m x or Δ Δ_m x."""
        return seasonal_difference(window, self.seasonal, self.difference)

    def _base(self, window: Tensor) -> Tensor:
        """window (B, T >= lag + 1) -> (B, S): the forecast the model starts from, to which its
        output is added (naive, seasonal naive, or seasonal naive plus last year's change)."""
        if not self.seasonal:
            return window[:, -1:].expand(-1, self.steps_out)
        m, T = self.seasonal, window.shape[1]
        k = torch.arange(self.steps_out, device=window.device)
        cycles = k // m + 1  # (S,) seasons crossed to reach an observed value
        base = window[:, T + k - m * cycles]  # (B, S) seasonal naive
        if self.difference:  # plus the last observed yearly change, once per cycle crossed
            base = base + cycles * (window[:, -1:] - window[:, -1 - m : -m])
        return base

    def _position_base(self, inputs: Tensor) -> Tensor:
        """inputs (B, T) -> (B, T): the one-step base at every position j (for x_{j+1}); naive
        where the seasonal lag reaches before the window (those positions are not trained)."""
        if not self.seasonal:
            return inputs
        m, T = self.seasonal, inputs.shape[1]
        out = inputs.clone()
        out[:, m - 1 :] = inputs[:, : T - m + 1]  # x_{j+1-m}
        if self.difference:  # x_j + x_{j+1-m} - x_{j-m} from j = m on
            out[:, m - 1] = inputs[:, m - 1]
            out[:, m:] = inputs[:, m:] + inputs[:, 1 : T - m + 1] - inputs[:, : T - m]
        return out

    # -- windowed ---------------------------------------------------------------------
    def _window(self, window: Tensor) -> Tensor:
        """window (B, C) -> predictions (B, S) of the S values after it."""
        feats = self._features(window)  # (B, C - lag)
        if self.kind == "linear":
            y = self.out(feats)
        else:
            h = feats
            for layer in self.hidden:
                h = self.drop(torch.tanh(layer(h)))  # (B, Hd)
            y = self.out(h)
        return y + self._base(window) if self.residual else y

    # -- latent state -----------------------------------------------------------------
    def _read(self, inputs: Tensor, state: State | None) -> tuple[Tensor, State]:
        """inputs (B, T) -> one-step predictions at every position (B, T, S), final state."""
        if self.seasonal:  # 0 where the lag reaches before the window
            u = F.pad(self._features(inputs), (self.lag, 0))  # (B, T)
        elif self.difference:
            u = inputs - torch.cat([inputs[:, :1], inputs[:, :-1]], dim=1)  # (B, T), 0 first
        else:
            u = inputs
        out, state = self.rnn(u.unsqueeze(-1), state)  # (B, T, Hd)
        y = self.out(self.drop(out))  # (B, T, S)
        if self.residual:
            y = y + self._position_base(inputs).unsqueeze(-1)
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
            if self.seasonal and self.strategy == "direct":  # step k starts from its own base
                pred = pred - self._position_base(x)[:, -1:] + self._base(x)
            if batch.targets is not None:
                if self.strategy == "recursive":
                    # teacher forcing: position t predicts x_{t+1}, the next input or target 0
                    nxt = torch.cat([x[:, 1:], batch.targets[:, :1]], dim=1)  # (B, T)
                    burn = max(x.shape[1] // 4, self.lag)  # no loss before the lag is filled
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
        if self.seasonal:  # re-read the sliding window: the state cannot look m steps back
            for _ in range(steps):
                y = self._read(window, None)[0][:, -1, :1]  # (B, 1)
                preds.append(y)
                window = torch.cat([window[:, 1:], y], dim=1)
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


class ModelSpec(Protocol):
    """The fields of a forecasting ModelConfig (`rnnlab.tasks.forecast`) a Forecaster reads."""

    model: str
    strategy: str
    hidden_size: int
    num_layers: int
    dropout: float
    impl: str
    residual: bool
    seasonal: bool | None


class DataSpec(Protocol):
    """The fields of a forecasting DataConfig a Forecaster reads."""

    horizon: int
    season: int


def forecaster_from_config(model: ModelSpec, data: DataSpec, context: int, difference: bool
                           ) -> Forecaster:
    """The Forecaster a forecasting config names (`rnnlab.tasks.forecast` ModelConfig and
    DataConfig), with the resolved context and differencing."""
    return Forecaster(kind=model.model, strategy=model.strategy, context=context,
                      horizon=data.horizon, hidden_size=model.hidden_size,
                      num_layers=model.num_layers, dropout=model.dropout, impl=model.impl,
                      residual=model.residual, difference=difference,
                      seasonal=data.season if model.seasonal else 0)


class ForecastCombination(nn.Module):
    """The forecast `--model auto` keeps when its choice is not one trained network: the
    equal-weight mean of `members`, each a trained Forecaster (`"type": "network"`, with its
    `hparams` and `scaler`) or a fitted classical model (`"naive"`, `"seasonal_naive"`,
    `"autoreg"`, `"ets"`, with its fitted `params`); one member is a single model.

    This module only holds the members: the networks' weights (its state dict) and the
    classical parameters (plain values in `hparams`), so a checkpoint stores and reloads
    the whole. The forecasts in original units, which the classical members compute from the
    whole history, are made by `rnnlab.tasks.forecast.combine`. Nothing is trained by
    gradients in the run: the members were fitted while `--model auto` chose them, and
    `fit_counts` loads their weights (the driver's path for models fitted without gradients).
    """

    kind = "combination"
    strategy = "mean"
    difference = False
    seasonal = 0

    def __init__(self, members: list[dict[str, Any]], context: int, horizon: int,
                 label: str = "") -> None:
        super().__init__()
        if not members:
            raise RnnlabError("a forecast combination needs at least one member")
        self.hparams = dict(members=members, context=context, horizon=horizon, label=label)
        self.members, self.context, self.horizon, self.label = members, context, horizon, label
        self.nets = nn.ModuleList(
            [Forecaster(**m["hparams"]) for m in members if m["type"] == "network"])
        # a parameter-free module still needs one tensor for `.to(device)` and optimizers
        self.register_buffer("weights", torch.full((len(members),), 1.0 / len(members)))

    def fit_counts(self, counts: dict[str, Tensor] | None) -> None:
        """Load the members' weights fitted during the choice (None: keep these)."""
        if counts is not None:
            self.load_state_dict(counts)
