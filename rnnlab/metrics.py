"""Evaluation: NLL (nats per token), perplexity, bits per token, over any batch source.

`evaluate` sums the log-loss of every real target (the `<eos>` of each line included, padding
excluded) and divides once at the end, so the figure is per token, not a mean of batch means.
State is carried across stream chunks exactly as in training (`reset` flags).

Memory: a model with `target_log_probs(batch, state) -> (logp (B, T), state)` (NGramLM,
RecurrentLM, WindowLM) is scored through it, which never holds more than a fixed number of
logits (`models.lm.LOGIT_BUDGET`) or, for n-grams, any V-wide row; other models go through
`forward`, whose (B, T, V) logits are the cost.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, cast

import torch
from torch import Tensor, nn

from rnnlab.distributed import sum_across_ranks
from rnnlab.losses import count_targets, masked_cross_entropy
from rnnlab.models.base import CondBatch, LMBatch, SeriesBatch, State, detach_state

if TYPE_CHECKING:
    from rnnlab.models.forecaster import Forecaster


def nll_to_metrics(total_nll: float, tokens: int) -> dict[str, float | int]:
    """{"nll" per token, "ppl" = e^nll (inf past e^700, where float64 overflows, and for an
    unsmoothed model's inf NLL), "bpc" = nll / ln 2, "tokens"}."""
    nll = total_nll / max(tokens, 1)
    return {"nll": nll, "ppl": math.exp(nll) if nll < 700.0 else math.inf, "bpc": nll / math.log(2),
            "tokens": tokens}


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable[LMBatch | CondBatch]) -> dict[str, float | int]:
    """{"nll", "ppl", "bpc", "tokens"} of `model` on `batches` (a language model's, or a
    class-conditioned one's)."""
    was_training = model.training
    model.eval()
    total, tokens = 0.0, 0
    state: State | None = None
    scorer = getattr(model, "target_log_probs", None)
    for batch in batches:
        if batch.reset:
            state = None
        if scorer is not None:
            logp, state = scorer(batch, state)
            total -= float(logp.double().sum())
        else:
            out = model(batch, state)
            state = out.state
            total += float(masked_cross_entropy(out.logits.float(), batch.targets, "sum"))
        state = detach_state(state)
        tokens += count_targets(batch.targets)
    model.train(was_training)
    total, n = sum_across_ranks(total, tokens)  # torchrun validation: every rank's shard
    return nll_to_metrics(total, int(n))


# -- point-forecast errors (forecasting) --------------------------------------------------
# y, y_hat: arrays of the same shape in original units, e.g. (N_o, H) for N_o forecast origins
# and H steps. MASE (Hyndman & Koehler 2006) divides the MAE by the in-sample MAE of the
# seasonal naive forecast y_t = y_{t-m}, so 1.0 means "as good as seasonal naive in sample".


def forecast_mae(y: Iterable[float], y_hat: Iterable[float]) -> float:
    import numpy as np

    return float(np.mean(np.abs(np.asarray(y, float) - np.asarray(y_hat, float))))


def forecast_rmse(y: Iterable[float], y_hat: Iterable[float]) -> float:
    import numpy as np

    return float(np.sqrt(np.mean((np.asarray(y, float) - np.asarray(y_hat, float)) ** 2)))


def mase_scale(in_sample: Iterable[float], season: int = 1) -> float:
    """mean |y_t - y_{t-m}| over the in-sample part (m = season; m = 1 is the naive error)."""
    import numpy as np

    a = np.asarray(in_sample, float)
    if len(a) <= season:
        raise ValueError(f"need more than season={season} in-sample values, got {len(a)}")
    return float(np.mean(np.abs(a[season:] - a[:-season])))


def forecast_errors(y: Iterable[float], y_hat: Iterable[float], scale: float) -> dict[str, float]:
    """{"mae", "rmse", "mase"} of forecasts against actuals; `scale` from `mase_scale`."""
    mae = forecast_mae(y, y_hat)
    return {"mae": mae, "rmse": forecast_rmse(y, y_hat),
            "mase": mae / scale if scale > 0 else float("inf")}


@torch.no_grad()
def window_forecast_errors(model: nn.Module, batches: Iterable[SeriesBatch]
                           ) -> dict[str, float]:
    """{"mae", "rmse"} of `model.forecast` over every window of `batches` (SeriesBatch), in
    the windows' (scaled) units, the horizon being the width of their targets."""
    was_training = model.training
    model.eval()
    abs_err, sq_err = 0.0, 0.0
    count: float = 0  # an int until the sums across ranks
    for batch in batches:
        targets = cast(Tensor, batch.targets)  # validation windows have targets
        forecast = cast("Forecaster", model).forecast  # a model with `forecast`
        err = forecast(batch.inputs, targets.shape[1]) - targets  # (B, H)
        abs_err += float(err.abs().sum())
        sq_err += float((err**2).sum())
        count += err.numel()
    model.train(was_training)
    abs_err, sq_err, count = sum_across_ranks(abs_err, sq_err, count)  # torchrun: all shards
    return {"mae": abs_err / count, "rmse": (sq_err / count) ** 0.5}


# -- classification ---------------------------------------------------------------------------
def confusion_matrix(y_true: Iterable[int], y_pred: Iterable[int], k: int) -> list[list[int]]:
    """`counts[i][j]`: examples of class i predicted as class j (K, K)."""
    counts = [[0] * k for _ in range(k)]
    for t, p in zip(y_true, y_pred, strict=True):
        counts[t][p] += 1
    return counts


def classification_report(
    y_true: list[int], y_pred: list[int], labels: list[str]
) -> dict[str, object]:
    """Accuracy, macro-F1 (the unweighted mean of per-class F1, so a small class counts as
    much as a large one) and per-class precision, recall, F1 and support. A class never
    predicted has precision 0 (as scikit-learn's zero_division=0)."""
    k = len(labels)
    cm = confusion_matrix(y_true, y_pred, k)
    per_class, f1s = {}, []
    for i, name in enumerate(labels):
        tp = cm[i][i]
        predicted = sum(cm[j][i] for j in range(k))
        support = sum(cm[i])
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {"precision": precision, "recall": recall, "f1": f1,
                           "support": support}
        if support:  # classes absent from this split do not dilute the mean
            f1s.append(f1)
    n = len(y_true)
    return {"accuracy": sum(cm[i][i] for i in range(k)) / n if n else 0.0,
            "macro_f1": sum(f1s) / len(f1s) if f1s else 0.0, "examples": n,
            "per_class": per_class, "confusion": cm}


def confusion_text(cm: list[list[int]], labels: list[str]) -> str:
    """A confusion matrix as text: rows are true labels, columns predicted ones."""
    w = max(6, *(len(x) for x in labels))
    head = " " * w + " " + " ".join(f"{x[:w]:>{w}}" for x in labels)
    rows = [f"{labels[i]:<{w}} " + " ".join(f"{c:>{w}}" for c in row) for i, row in
            enumerate(cm)]
    return "true \\ predicted\n" + head + "\n" + "\n".join(rows) + "\n"
