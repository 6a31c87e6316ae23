"""Recurrent language model: embedding -> `Recurrent` -> dropout -> linear -> softmax.

Shapes: B batch, T time, V vocabulary, E embedding, H hidden.

    e_t = Emb[x_t]                          (B, E)
    h_t = cell(e_t, h_{t-1})                 Elman (Elman 1990; Mikolov et al. 2010),
                                             GRU (Cho et al. 2014), LSTM (Hochreiter 1997)
    o_t = V h_t + c,  p(x_{t+1} | x_<=t) = softmax(o_t)

For the Elman cell with `feedback=True` the previous output y_{t-1} enters the hidden layer
through R. In a language model the previous target is the current input, so y_{t-1} = x_t
(one-hot) in training and in decoding alike. `tie_weights` shares Emb with V (Press & Wolf
2017; Inan et al. 2017) and needs E == H.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.errors import RnnlabError
from rnnlab.losses import masked_cross_entropy
from rnnlab.models.base import LMBatch, Output, State
from rnnlab.models.recurrent import Recurrent


class RecurrentLM(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        cell: str = "lstm",
        embedding_dim: int = 64,
        hidden_size: int = 256,
        num_layers: int = 1,
        dropout: float = 0.0,
        tie_weights: bool = False,
        impl: str = "fused",
        feedback: bool = False,
        init_range: float | None = None,
    ) -> None:
        super().__init__()
        self.hparams = dict(
            vocab_size=vocab_size, cell=cell, embedding_dim=embedding_dim,
            hidden_size=hidden_size, num_layers=num_layers, dropout=dropout,
            tie_weights=tie_weights, impl=impl, feedback=feedback, init_range=init_range,
        )
        if tie_weights and embedding_dim != hidden_size:
            raise RnnlabError(
                f"tie_weights needs embedding_dim == hidden_size, got {embedding_dim} and "
                f"{hidden_size}; set --embedding-dim {hidden_size} or drop --tie-weights"
            )
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.rnn = Recurrent(
            cell, embedding_dim, hidden_size, num_layers, dropout, impl=impl,  # type: ignore[arg-type]
            feedback_size=vocab_size if feedback else 0,
        )
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size)
        if tie_weights:
            self.head.weight = self.embedding.weight
        if init_range is not None:  # Zaremba et al. 2014: every weight ~ U(-r, r)
            for p in self.parameters():
                nn.init.uniform_(p, -init_range, init_range)

    def _feedback(self, inputs: Tensor) -> Tensor | None:
        return inputs if self.hparams["feedback"] else None

    def forward(self, batch: LMBatch, state: State | None = None) -> Output:
        emb = self.drop(self.embedding(batch.inputs))  # (B, T, E)
        out, state = self.rnn(emb, state, batch.lengths, self._feedback(batch.inputs))
        logits = self.head(self.drop(out))  # (B, T, V)
        loss = None if batch.targets is None else masked_cross_entropy(logits, batch.targets)
        return Output(logits, loss, state)

    @torch.no_grad()
    def prefill(self, prompt: Tensor) -> tuple[Tensor, State]:
        """prompt (B, T) of token ids -> logits for the next token (B, V), state."""
        emb = self.embedding(prompt)  # (B, T, E)
        out, state = self.rnn(emb, None, None, self._feedback(prompt))
        return self.head(out[:, -1]), state

    @torch.no_grad()
    def step(self, token: Tensor, state: State | None) -> tuple[Tensor, State]:
        """token (B,) -> logits (B, V), state; one cell step per layer, no history re-read."""
        h, state = self.rnn.step(self.embedding(token), state, self._feedback(token))
        return self.head(h), state

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def repackage(state: State | None) -> State | None:
    """Detach a state from the graph that produced it (see `Trainer` for why)."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def logits_to_logprobs(logits: Tensor) -> Tensor:
    return F.log_softmax(logits.float(), dim=-1)
