"""rnnlab/models/forecaster.py: recursive forecasts equal feeding predictions back, the
direct strategy predicts the horizon at once, differencing by hand, checkpoint round trip."""

from __future__ import annotations

import pytest
import torch

from rnnlab.checkpoint import load_checkpoint, save_checkpoint
from rnnlab.errors import RnnlabError
from rnnlab.models import rebuild
from rnnlab.models.base import SeriesBatch
from rnnlab.models.forecaster import Forecaster


def _random_model(
    kind: str, strategy: str = "recursive", horizon: int = 4, difference: bool = False
) -> Forecaster:
    torch.manual_seed(0)
    m = Forecaster(kind=kind, strategy=strategy, context=5, horizon=horizon, hidden_size=8,
                   difference=difference)
    torch.nn.init.normal_(m.out.weight, std=0.5)  # zero-init would make every kind "naive"
    return m.eval()


@pytest.mark.parametrize("difference", [False, True], ids=["levels", "differenced"])
@pytest.mark.parametrize("kind", ["linear", "mlp", "rnn", "gru", "lstm"])
def test_recursive_forecast_equals_feeding_predictions_back(kind, difference):
    model = _random_model(kind, difference=difference)
    x = torch.randn(3, 5)
    fast = model.forecast(x, 4)  # (B, 4); the recurrent ones carry their state by `step`
    seq = x
    for k in range(4):
        y = model(SeriesBatch(seq, None)).logits[:, 0, 0]  # re-read everything so far
        assert torch.allclose(fast[:, k], y, atol=1e-5), k
        seq = torch.cat([seq, y[:, None]], dim=1)


@pytest.mark.parametrize("kind", ["linear", "mlp", "gru"])
def test_direct_strategy_predicts_the_horizon_at_once(kind):
    model = _random_model(kind, "direct", horizon=6)
    x = torch.randn(2, 5)
    out = model(SeriesBatch(x, torch.randn(2, 6)))
    assert out.logits.shape == (2, 6, 1) and out.loss.ndim == 0
    assert torch.equal(model.forecast(x, 4), out.logits[:, :4, 0])
    with pytest.raises(RnnlabError, match="exceeds the horizon 6"):
        model.forecast(x, 7)


def test_differenced_linear_model_reads_changes_by_hand():
    model = Forecaster(kind="linear", context=3, difference=True)
    with torch.no_grad():
        model.out.weight.copy_(torch.tensor([[0.5, 2.0]]))  # on (Δx_{t-2}, Δx_{t-1})
    x = torch.tensor([[1.0, 2.0, 4.0]])  # changes 1, 2
    assert model.forecast(x, 1).item() == 4.0 + 0.5 * 1 + 2.0 * 2  # last value + f(changes)


def test_checkpoint_round_trip_gives_identical_forecasts(tmp_path):
    model = _random_model("gru", difference=True)
    save_checkpoint(tmp_path / "m.pt", {"model_class": "Forecaster", "hparams": model.hparams,
                                        "model_state": model.state_dict()})
    p = load_checkpoint(tmp_path / "m.pt")
    again = rebuild(p["model_class"], p["hparams"])
    again.load_state_dict(p["model_state"])
    again.eval()
    x = torch.randn(4, 9)
    assert torch.equal(model.forecast(x, 5), again.forecast(x, 5))
