"""The forecast task's configuration: its `[data]` and `[model]` fields (flags of `rnnlab train
--task forecast`) and which models read which. Torch-free: `rnnlab --help` reads it."""

from __future__ import annotations

from dataclasses import dataclass

from rnnlab.config import BIG, STREAM_FIELDS, param

KINDS = ("linear", "mlp", "rnn", "gru", "lstm")
STRATEGIES = ("recursive", "direct")


@dataclass
class DataConfig:
    data: str | None = param(None, "CSV file (default: yearly sunspots from statsmodels)",
                             input=True)
    column: str | None = param(None, "value column of the CSV (default: its only numeric "
                               "column)")
    season: int = param(1, "seasonal period m: seasonal naive lag and MASE scale (12 monthly, "
                        "1 none)", ge=1, le=1 << 16)
    horizon: int = param(12, "steps H to forecast from each origin", ge=1, le=1 << 16)
    val_size: int | None = param(None, "validation values (default max(2H, 10%%))", ge=1,
                                 le=BIG)
    test_size: int | None = param(None, "test values (default max(2H, 10%%))", ge=1, le=BIG)


@dataclass
class ModelConfig:
    model: str = param("auto", "auto (networks of every kind, context and preprocessing, "
                       "and naive, seasonal naive, AutoReg, ETS, scored on the validation "
                       "part; keeps the mean of the best few, see forecast/auto.py), linear, "
                       "mlp, rnn, gru, lstm",
                       choices=("auto", *KINDS), noun="forecasting model")
    strategy: str = param("recursive", "recursive (feed predictions back) or direct (all H at "
                          "once)", choices=STRATEGIES)
    context: int | None = param(None, "past values C a model reads (default min(max(2m, 2H, "
                                "8), 64))", ge=1, le=1 << 14)
    hidden_size: int = param(64, "hidden units per layer", ge=1, le=1 << 16)
    num_layers: int = param(1, "stacked layers", ge=1, le=64)
    dropout: float = param(0.0, "dropout probability", ge=0, lt=1)
    impl: str = param("fused", "recurrent models: fused (PyTorch's nn kernels) or loop "
                      "(hand-written cells)", choices=("fused", "loop"))
    residual: bool = param(True, "forecast = last value + model output")
    difference: bool | None = param(None, "read changes, not levels (default: KPSS test on the "
                                    "training part; auto: chosen on validation)")
    seasonal: bool | None = param(None, "seasonal prior: read and predict seasonal differences "
                                  "at lag --season (default: off; auto: chosen on validation)")
    log: str = param("off", "model log values (a multiplicative trend or season becomes "
                     "additive; values must be > 0): off, on, or auto (--model auto tries both "
                     "where every value before the test part is > 0)",
                     choices=("off", "on", "auto"))
    auto_steps: int = param(500, "auto: training steps per candidate and of the chosen one",
                            ge=1, le=BIG)


# model fields that only some models read (refused with another --model)
MODEL_ONLY: dict[str, tuple[str, ...]] = {"impl": ("rnn", "gru", "lstm"),
                                          "auto_steps": ("auto",)}
# TrainConfig fields no forecasting run reads (refused with --task forecast)
TRAIN_UNUSED: tuple[str, ...] = (*STREAM_FIELDS, "fused_loss")
RENAMED: dict[str, str] = {}  # old "section.key" -> new (none)
# `rnnlab train --task forecast --help` ends with these (each runs as shown)
EXAMPLES: tuple[str, ...] = (
    "rnnlab train --task forecast --out runs/sunspots-auto",
    "rnnlab train --task forecast --model gru --context 24 --horizon 6 --max-steps 500",
    "rnnlab train --task forecast --data sales.csv --column sales --season 12 --horizon 12",
)
