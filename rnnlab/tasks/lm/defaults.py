"""Recurrent language-model defaults that scale with the training text and the budget.

`text_defaults` picks the shape and the training settings of a recurrent LM on one text stream
(`--format text`) from the number of training tokens, the vocabulary size, the level, and the
budget (`--max-time` CPU seconds or `--max-steps`). The run driver applies them only to the
fields the user did not set. What a `--max-time` budget does to the limits, the evaluation
cadence and early stopping is the rule every task shares (rnnlab/budget.py); the
`eval_every` chosen here applies when the run has no time budget. The measurements behind
every constant are in
`benchmarks/results/lm_defaults_runs.md` and the "Defaults on new texts" section of
BENCHMARKS.md (one CPU thread, torch 2.13).
"""

from __future__ import annotations

import math
from typing import Any

# Training tokens per CPU second of a 1-layer character LSTM at batch 32 x 64 under bf16
# autocast, one thread, measured at hidden 512 (16k/s; fp32 runs at about half that). Other
# sizes scale with the recurrent matrix products, ~H^2, softened by the per-step overhead that
# small models do not amortize (exponent 1.5 fits 256/512/768/1024 within ~25%).
CHAR_TOKENS_PER_S_AT_512 = 16_000.0
# Word level with a 10k vocabulary, bf16 + fused output layer, tied 2 x H LSTM, batch 32 x 35:
# the output layer dominates, ~V * H per token.
WORD_TOKENS_PER_S_AT_200_10K = 6_000.0

# Budget assumed when neither max_time nor max_steps is given (CPU seconds).
DEFAULT_SECONDS = 600.0
# Word level: budgets of fewer passes than this over the text train Zaremba's small model
# with SGD (the measured 10-minute PTB recipe); more passes, the tied AdamW rule below.
FEW_PASSES = 8.0
# Steps when only max_time is given: large enough never to end the run first.
UNBOUNDED_STEPS = 10**9

CHAR_SIZES = (256, 384, 512, 768, 1024)
WORD_SIZES = (200, 300, 400, 512, 650)


def char_tokens_per_second(hidden: int) -> float:
    """Estimated training throughput (tokens per CPU second) of a character LSTM."""
    return CHAR_TOKENS_PER_S_AT_512 * float((512 / hidden) ** 1.5)


def word_tokens_per_second(hidden: int, vocab_size: int) -> float:
    """Estimated training throughput (tokens per CPU second) of a tied 2-layer word LSTM."""
    return WORD_TOKENS_PER_S_AT_200_10K * (200 / hidden) * (10_000 / max(vocab_size, 1000))


def _epochs_dropout(epochs: float, scale: float, cap: float) -> float:
    """Dropout growing with the passes over the data the budget allows: none within one
    epoch (no token is seen twice, nothing to overfit), `scale` more per doubling after."""
    return round(min(cap, max(0.0, scale * math.log2(max(epochs, 1.0)))), 2)


def text_defaults(
    train_tokens: int,
    vocab_size: int,
    level: str,
    max_time: float | None,
    max_steps: int | None,
) -> dict[str, Any]:
    """Defaults for a recurrent LM trained on one stream of `train_tokens` tokens.

    Returns `{field: value}` with field names of the language model's ModelConfig and of
    TrainConfig (unique across the two); `rnnlab.tasks.lm` applies them only to the fields
    the user left unset (`--defaults auto`, the default for `--format text`).

    The rule (character level):

    * Budget first. A run of a few CPU-minutes is far from convergence on anything but a tiny
      text, so what it reaches is set by how many optimizer *updates* it makes: batch
      32 x 64 passed in 50 CPU-s what batch 64 x 128 reached in 180 s on PTB characters. So
      the batch stays small (32 x 64) and the lr high (5e-3, AdamW, cosine to 10% over the
      budget, 50 warm-up steps); `max_steps` is unbounded when only `max_time` is given, so
      the cosine anneals over the time budget and ends the run there.
    * Width from the token budget: tokens = seconds x the measured throughput at that width;
      the widest LSTM whose budget still gives >= 2 tokens per parameter: 512 for 3 minutes;
      for 10 minutes 768 on an alphabet of <= 58 symbols (PTB characters: 54), 512 on larger
      ones, whose output layer tips the count. A wider net learns more per token but sees
      too few of them.
    * Dropout from the passes the budget makes over the text (epochs = budget tokens /
      train_tokens): 0 within one epoch, +0.08 per doubling, at most 0.5 (The Time Machine,
      161k characters, makes ~15 passes in 3 minutes: 0.3).
    * bf16 autocast: the LSTM's products run ~1.7-2x faster in bfloat16 on this CPU even at
      a character vocabulary; the fused output layer buys nothing at V < 1000 (fp32 loss).
    * Validation counts against the CPU budget (the trainer's clock runs through it): 3-20
      passes, as many as keep it near 10% of the budget (PTB characters, 400k validation
      characters, 10 s a pass: 3 passes in 3 minutes); on texts over 1M tokens it reads the
      stream in 32 rows (the final figure still reads it at batch 1, outside the budget).

    Word level, a budget of fewer than `FEW_PASSES` passes over the text (PTB in 10 or 20
    CPU-minutes): Zaremba et al.'s small model (2 x 200 LSTM, untied, no dropout, weights
    U(-0.1, 0.1)) with SGD at lr 20, clip 0.25 (the mean-loss form of their lr 1, clip 5),
    batch 20 x 20, cosine over the budget, validation estimated in 32 rows. In 10 CPU-minutes
    on PTB the previous rule (tied AdamW, batch 32 x 35, validation at batch 1, which took a
    third of the budget) reached test perplexity 233, this one 136.6 (BENCHMARKS.md "Defaults
    against the best rows"). More passes: a tied 2-layer LSTM (E = H, Press & Wolf 2017),
    AdamW at lr 3e-3, batch 32 x 35, width from the token budget as above but at >= 1 token
    per parameter, dropout from the epochs (scale 0.15, at most 0.5), fused output layer;
    not validated beyond Tatoeba English (10 CPU-minutes: test perplexity 52.9 against the
    5-gram's 21.2).
    """
    if level not in ("char", "word"):
        raise ValueError(f"level must be 'char' or 'word', got {level!r}")
    if train_tokens <= 0 or vocab_size <= 0:
        raise ValueError("train_tokens and vocab_size must be positive")
    if level == "char":
        batch, seq, lr = 32, 64, 5e-3
        sizes = CHAR_SIZES

        def rate(h: int) -> float:
            return char_tokens_per_second(h)

        def params(h: int) -> float:  # embedding 64, 1 layer, output layer
            return 4 * h * (64 + h + 2) + vocab_size * (64 + h + 1)

        per_param, drop_scale = 2.0, 0.08
    else:
        batch, seq, lr = 32, 35, 3e-3
        sizes = WORD_SIZES

        def rate(h: int) -> float:
            return word_tokens_per_second(h, vocab_size)

        def params(h: int) -> float:  # tied embedding, 2 layers
            return 2 * 4 * h * (2 * h + 2) + vocab_size * (h + 1)

        per_param, drop_scale = 1.0, 0.15

    def budget_tokens(h: int) -> float:
        if max_time:
            return max_time * rate(h)
        if max_steps:
            return float(max_steps * batch * seq)
        return DEFAULT_SECONDS * rate(h)

    hidden = sizes[0]
    for h in sizes:
        if budget_tokens(h) >= per_param * params(h):
            hidden = h
    tokens = budget_tokens(hidden)
    epochs = tokens / train_tokens
    steps_est = max(1, int(tokens // (batch * seq)))
    if max_time:
        steps = UNBOUNDED_STEPS
    elif max_steps:
        steps = max_steps
    else:
        steps = steps_est
    # Validation runs inside the budget (the trainer's clock keeps running), so on a long
    # text it is rationed: a validation pass costs ~1/3 of training on as many tokens, and
    # the validation split is taken as ~6% of the training tokens (a 5% split); at most
    # ~10% of the budget goes to it, between 3 and 20 passes.
    val_est = 0.06 * train_tokens
    n_evals = min(20, max(3, int(0.3 * tokens / val_est)))
    eval_every = max(50, steps_est // n_evals)
    long_val = train_tokens > 1_000_000
    model: dict[str, Any] = {"hidden_size": hidden, "num_layers": 1 if level == "char" else 2}
    train: dict[str, Any] = {
        "batch_size": batch, "seq_len": seq, "lr": lr, "schedule": "cosine", "warmup": 50,
        "weight_decay": 0.1 if level == "char" else 0.01, "max_steps": steps,
        "eval_every": eval_every, "stream_val_batch": 32 if long_val else 1,
        # the final figure of a long text in as many rows (every token still scored once,
        # each row after a warm-up of context; `rnnlab evaluate RUN --eval-rows 1` is exact)
        "eval_rows": 32 if long_val else 1,
        "precision": "bf16",
    }
    if level == "char":
        model.update(embedding_dim=64, tie_weights=False,
                     dropout=_epochs_dropout(epochs, drop_scale, 0.5))
        train["fused_loss"] = False
    elif epochs < FEW_PASSES:
        # a budget of a few passes over a large text: Zaremba et al.'s small model and plain
        # SGD, the best 10-minute PTB row (BENCHMARKS.md "Time budget": 1 epoch, test 183)
        model.update(hidden_size=200, num_layers=2, embedding_dim=200, tie_weights=False,
                     dropout=0.0, init_range=0.1)
        train.update(optimizer="sgd", lr=20.0, clip=0.25, batch_size=20, seq_len=20,
                     weight_decay=0.0, warmup=0, fused_loss=True, precision="bf16-head",
                     stream_val_batch=32)
    else:
        model.update(embedding_dim=hidden, tie_weights=True,
                     dropout=_epochs_dropout(epochs, drop_scale, 0.5))
        train.update(fused_loss=True, stream_val_batch=32)
    return {**model, **train}
