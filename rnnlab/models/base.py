"""The contracts every model follows.

Shapes: B batch, T time, V vocabulary, H hidden, L layers.

- `forward(batch, state=None) -> Output`: logits for every position, the mean loss over real
  targets (targets equal to `IGNORE_INDEX` are skipped) and the final recurrent state.
- Generative models add the decoding protocol, which carries the state token by token so no
  model ever re-reads its history:
    `prefill(prompt (B, T)) -> (logits (B, V), state)`  logits for the token after the prompt
    `step(token (B,), state) -> (logits (B, V), state)`
  A model whose decoding state is more than recurrent tensors (`(L, B, H)` or `(B, C)`), e.g.
  an encoder-decoder's state with the encoder outputs and source mask, adds
    `reorder_state(state, index (B',)) -> state`  rows `index` in that order (beam search)
- Count-based models (`CountModel`) are fitted by one pass of counting instead of gradients.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable

import torch
from torch import Tensor

from rnnlab.data.tokenizers import PAD_ID, UNK_ID

# A recurrent state: (L, B, H) for Elman/GRU, (h, c) for LSTM; window models keep the last
# tokens (B, context); any model may use a tuple of tensors.
State = Tensor | tuple[Tensor, ...]


class Output(NamedTuple):
    """What every model's forward returns: logits, the mean loss when targets were given,
    and the final recurrent state (None for models without one)."""

    logits: Tensor  # lm/tagger (B, T, V) · classifier (B, K) · forecaster (B, H, F)
    loss: Tensor | None  # scalar mean over real targets; None without targets
    state: State | None  # final recurrent state (TBPTT carry-over, decoding)


class LMBatch(NamedTuple):
    """One batch for language modeling. `inputs[:, t]` predicts `targets[:, t]`."""

    inputs: Tensor  # (B, T) int64 token ids, <pad>=0 after each sequence's end
    targets: Tensor  # (B, T) int64, IGNORE_INDEX on padding
    lengths: Tensor | None  # (B,) real lengths for padded batches; None for full stream chunks
    reset: bool = True  # False: continue from the previous batch's state (sequential TBPTT)


class SeriesBatch(NamedTuple):
    """One batch of forecasting windows (scaled values)."""

    inputs: Tensor  # (B, C) float32: x_{t-C} .. x_{t-1}, oldest first
    targets: Tensor | None  # (B, H) float32: x_t .. x_{t+H-1}; None when only forecasting
    reset: bool = True  # every window starts from an empty state (windows are independent)


def detach_state(state: State | None) -> State | None:
    """The state's values without the graph that made them: truncated BPTT carries a state
    across chunks, and backward must stop at the chunk boundary (see `Trainer.fit`)."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


@runtime_checkable
class Generative(Protocol):
    def prefill(self, prompt: Tensor) -> tuple[Tensor, State | None]: ...

    def step(self, token: Tensor, state: State | None) -> tuple[Tensor, State | None]: ...


class Decoder(Protocol):
    """The decoding protocol as callers type it (rnnlab.decoding, the ONNX export): a
    conditional model's and an encoder-decoder's `prefill` take a second tensor (the class,
    or the source lengths)."""

    def prefill(self, prompt: Tensor, extra: Tensor = ..., /) -> tuple[Tensor, State]: ...

    def step(self, token: Tensor, state: State) -> tuple[Tensor, State]: ...


@runtime_checkable
class CountModel(Protocol):
    """A model estimated by counting: `fit_counts` replaces gradient training."""

    def fit_counts(self, sequences: list[list[int]]) -> None: ...


class ClassBatch(NamedTuple):
    """One batch of labeled sequences (classification)."""

    inputs: Tensor  # (B, T) int64 token ids, <pad>=0 after each sequence's end
    lengths: Tensor  # (B,) int64 real lengths (>= 1)
    labels: Tensor | None  # (B,) int64 class ids; None when only predicting
    reset: bool = True  # every sequence starts from an empty state


class CondBatch(NamedTuple):
    """One batch for a class-conditioned language model: `inputs[:, t]` and the class
    `labels` predict `targets[:, t]` (`ConditionalLM`)."""

    inputs: Tensor  # (B, T) int64 token ids, <pad>=0 after each sequence's end
    targets: Tensor  # (B, T) int64, IGNORE_INDEX on padding
    lengths: Tensor | None  # (B,) real lengths for padded batches; None when all are full
    labels: Tensor  # (B,) int64 class of each sequence, in [0, num_classes)
    reset: bool = True  # False: continue from the previous batch's state


class TagBatch(NamedTuple):
    """One batch of sentences to tag, one tag per word (`SequenceTagger`). The characters
    are laid out once per distinct word form of the batch (U forms, at most C characters),
    so the character encoder runs over U words, not B * T."""

    words: Tensor  # (B, T) int64 word ids, <pad>=0 after each sentence's end
    chars: Tensor  # (U, C) int64 character ids of the batch's distinct forms, <pad>=0
    char_lengths: Tensor  # (U,) int64 characters of each form (>= 1)
    forms: Tensor  # (B, T) int64 row of `chars` holding each word's form (0 on padding)
    lengths: Tensor  # (B,) int64 real lengths (>= 1)
    tags: Tensor | None  # (B, T) int64 tag ids, IGNORE_INDEX on padding; None to predict
    reset: bool = True  # every sentence starts from an empty state


# rows of forms, not of sentences: a rank's share of the batch keeps them whole
# (distributed.shard_batch), since its `forms` index them; set after the class so the type
# checker still reads TagBatch as a NamedTuple (a class-body constant would be refused)
TagBatch.shared_fields = ("chars", "char_lengths")  # type: ignore[attr-defined]


class PairBatch(NamedTuple):
    """One batch of (source, target) pairs for an encoder-decoder (`Seq2Seq`). The decoder
    reads `inputs[:, t]` (and the source) to predict `targets[:, t]` (teacher forcing)."""

    src: Tensor  # (B, S) int64 source ids, <pad>=0 after each source's end
    src_lengths: Tensor  # (B,) int64 real source lengths (>= 1)
    inputs: Tensor  # (B, T) int64: <bos> y_1 .. y_m, then <pad>
    targets: Tensor  # (B, T) int64: y_1 .. y_m <eos>, then losses.IGNORE_INDEX
    reset: bool = True  # every pair starts from an empty state


def drop_to_unk(ids: Tensor, freq: Tensor, alpha: float, training: bool) -> Tensor:
    """Word dropout (Kiperwasser & Goldberg 2016): in training, id -> <unk> with probability
    alpha / (alpha + freq[id]), so rare words are often unseen, as at test time; <pad> stays.
    ids (B, T) int64, freq (V,) training counts; the identity outside training or at 0."""
    if not training or alpha <= 0:
        return ids
    p = alpha / (alpha + freq[ids])  # (B, T)
    drop = (torch.rand(ids.shape, device=ids.device) < p) & (ids != PAD_ID)
    return ids.masked_fill(drop, UNK_ID)
