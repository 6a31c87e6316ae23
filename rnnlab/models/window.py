"""Fixed-window autoregressive language models: p(x_t | x_{t-1}, ..., x_{t-context}).

Shapes: B batch, T time, V vocabulary, E embedding, H hidden, C context.

- `linear`: o_t = b + W [e_{t-C}; ...; e_{t-1}]  (a log-linear model of the window)
- `mlp` (Bengio et al. 2003): o_t = b + W x + U tanh(d + H x), x the concatenated embeddings;
  the direct connection W x is optional (`direct`)
- `cnn`: causal dilated 1-D convolutions (kernel 3, dilation 1, 2, 4, ...) whose receptive
  field is the context; tanh between layers

All read the same batches as the recurrent models. Their "state" is the last C-1 tokens
(B, C-1), so streams carry context across TBPTT chunks and decoding steps one token at a time;
with no state the context is filled with `<bos>`.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor, nn

from rnnlab.data.tokenizers import BOS_ID
from rnnlab.errors import RnnlabError
from rnnlab.losses import masked_cross_entropy
from rnnlab.models.base import LMBatch, Output
from rnnlab.models.lm import chunked_target_log_probs


class WindowLM(nn.Module):
    """An autoregressive model over a fixed window of the last `context` tokens (the notes'
    windowed AR model): `kind` linear, mlp (Bengio et al. 2003, with `direct` connections)
    or cnn; no latent state is carried beyond the window."""

    def __init__(
        self,
        vocab_size: int,
        kind: str = "mlp",
        context: int = 3,
        embedding_dim: int = 16,
        hidden_size: int = 256,
        num_layers: int = 1,
        dropout: float = 0.0,
        direct: bool = False,
    ) -> None:
        super().__init__()
        if kind not in ("linear", "mlp", "cnn"):
            raise RnnlabError(f"window model kind must be linear, mlp or cnn, got {kind!r}")
        if kind == "cnn":
            context = 1 + 2 * (2**num_layers - 1)  # receptive field of kernel-3 dilated stack
        if context < 1:
            raise RnnlabError(f"--context must be >= 1, got {context}")
        self.hparams = dict(
            vocab_size=vocab_size, kind=kind, context=context, embedding_dim=embedding_dim,
            hidden_size=hidden_size, num_layers=num_layers, dropout=dropout, direct=direct,
        )
        self.kind, self.context = kind, context
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.drop = nn.Dropout(dropout)
        flat = context * embedding_dim
        if kind == "linear":
            self.out = nn.Linear(flat, vocab_size)
        elif kind == "mlp":
            self.hidden = nn.Linear(flat, hidden_size)
            self.out = nn.Linear(hidden_size, vocab_size)
            self.direct = nn.Linear(flat, vocab_size, bias=False) if direct else None
        else:
            convs = []
            for i in range(num_layers):
                convs.append(
                    nn.Conv1d(embedding_dim if i == 0 else hidden_size, hidden_size, 3,
                              dilation=2**i)
                )
            self.convs = nn.ModuleList(convs)
            self.out = nn.Linear(hidden_size, vocab_size)

    def _full(self, inputs: Tensor, state: Tensor | None) -> Tensor:
        """Prepend the carried context: (B, T) -> (B, C-1+T)."""
        B = inputs.shape[0]
        if state is None:
            state = inputs.new_full((B, self.context - 1), BOS_ID)
        return torch.cat([state, inputs], dim=1)

    def _features(self, full: Tensor) -> tuple[Tensor, Tensor | None]:
        """full (B, C-1+T) token ids -> what the output layer reads at each window ending at
        t: (hidden (B, T, H) or window (B, T, C*E), window for the direct connection or None).
        Cheap next to the logits when V is large, so `target_log_probs` builds them whole."""
        emb = self.drop(self.embedding(full))  # (B, C-1+T, E)
        if self.kind == "cnn":
            z = emb.transpose(1, 2)  # (B, E, C-1+T)
            for conv in self.convs:  # each unpadded conv shortens the sequence by 2*dilation
                z = torch.tanh(conv(z))
            # the stack's receptive field is C, so exactly T positions remain: (B, H, T)
            return self.drop(z.transpose(1, 2)), None
        C = self.context
        if full.shape[1] == C:  # one window (decoding): the same view, and exports to ONNX
            windows = emb.transpose(1, 2).unsqueeze(1)  # (B, 1, E, C)
        else:
            windows = emb.unfold(1, C, 1)  # (B, T, E, C)
        x = windows.transpose(2, 3).reshape(*windows.shape[:2], -1)  # (B, T, C*E), oldest first
        if self.kind == "linear":
            return x, None
        h = torch.tanh(self.hidden(x))  # (B, T, H)
        return self.drop(h), (x if self.direct is not None else None)

    def _head(self, feats: Tensor, direct_in: Tensor | None) -> Tensor:
        """(..., H or C*E) -> logits (..., V)."""
        logits = self.out(feats)
        if direct_in is not None:
            logits = logits + cast(nn.Linear, self.direct)(direct_in)
        return logits

    def _logits(self, full: Tensor) -> Tensor:
        """full (B, C-1+T) token ids -> logits (B, T, V) for each window ending at t."""
        return self._head(*self._features(full))

    @torch.no_grad()
    def target_log_probs(
        self, batch: LMBatch, state: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """(log p(targets) (B, T), 0 where targets == IGNORE_INDEX; state (B, C-1)), equal to
        `token_log_probs(forward(batch, state).logits, targets)`, with the output layer run
        over LOGIT_BUDGET // V positions at a time (no (B, T, V) array)."""
        full = self._full(batch.inputs, state)
        feats, direct_in = self._features(full)
        f = feats.reshape(-1, feats.shape[-1])  # (B*T, H)
        d = None if direct_in is None else direct_in.reshape(-1, direct_in.shape[-1])
        logp = chunked_target_log_probs(
            lambda s, e: self._head(f[s:e], None if d is None else d[s:e]),
            batch.targets, self.out.out_features,
        )
        return logp, full[:, full.shape[1] - (self.context - 1):]

    def forward(self, batch: LMBatch, state: Tensor | None = None) -> Output:
        full = self._full(batch.inputs, state)
        logits = self._logits(full)
        loss = None if batch.targets is None else masked_cross_entropy(logits, batch.targets)
        new_state = full[:, full.shape[1] - (self.context - 1):]
        return Output(logits, loss, new_state)

    @torch.no_grad()
    def prefill(self, prompt: Tensor) -> tuple[Tensor, Tensor]:
        full = self._full(prompt, None)
        window = full[:, -self.context:]
        return self._logits(window)[:, -1], window[:, 1:]

    @torch.no_grad()
    def step(self, token: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        window = torch.cat([state, token.unsqueeze(1)], dim=1)  # (B, C)
        return self._logits(window)[:, -1], window[:, 1:]
