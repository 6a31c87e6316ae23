"""Sequence classifier: embedding -> `Recurrent` -> pooling over real steps -> linear -> K classes.

Shapes: B batch, T time (padded length), V vocabulary, E embedding, H hidden, D directions
(1 or 2), L layers, K classes, A attention units (= D*H).

    e_t = Emb[x_t]                              (B, E)       <pad> = 0 embeds to zeros
    h_t = cell(e_t, h_{t-1})                    (B, D*H)     Elman (Elman 1990), GRU (Cho et
                                                             al. 2014), LSTM (Hochreiter &
                                                             Schmidhuber 1997); top layer
    z   = pool(h_1 .. h_n)                      (B, D*H)     n = the sequence's real length
    o   = V dropout(z) + c                      (B, K)      (--embedding-dropout drops
                                                             entries of e_t in training;
                                                             --word-dropout a: x_t of count
                                                             f reads <unk> w.p. a/(a+f))
    p(y | x) = softmax(o),  loss = sum_i w_{y_i} CE(o_i, y_i) / sum_i w_{y_i}  (w = 1 default)

This is the many-to-one network of Elman (1990): one input per step, one output after the
last step. The notes' loss taken only at o_tau (the output after the last token) is
`cell="rnn", pool="last"`. Pooling choices, all over the real steps t = 1..n only:

    last       z = h_n; bidirectional: [h_n(forward); h_1(backward)], the final states of
               both directions (each has then read the whole sequence)
    mean       z = (1/n) sum_t h_t
    max        z_j = max_t h_{t,j}
    attention  s_t = v^T tanh(W h_t + b)        additive score (Bahdanau et al. 2015)
               a_t = exp(s_t) / sum_{u<=n} exp(s_u),  z = sum_t a_t h_t

Why pooling must skip padding: a batch pads every sequence to the longest one. The padded
steps of `Recurrent` output zeros, so taking h_T as "last" would read zeros (or, without
masking, states driven by <pad> tokens), a mean over T steps would shrink by n/T, a max
would let a padded 0 win over negative activations, and attention would give padded steps
weight. Any of these makes an example's prediction depend on what it was batched with; with
masking it does not (a test pins logits alone == logits inside a padded batch).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.errors import RnnlabError
from rnnlab.models.base import ClassBatch, Output, State, drop_to_unk
from rnnlab.models.recurrent import Recurrent

CELLS = ("rnn", "gru", "lstm")
POOLS = ("last", "mean", "max", "attention")


class SequenceClassifier(nn.Module):
    class_weights: Tensor | None  # buffers (see __init__)
    token_freq: Tensor
    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        cell: str = "gru",
        embedding_dim: int = 64,
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = False,
        pool: str = "last",
        dropout: float = 0.0,
        impl: str = "fused",
        class_weights: list[float] | None = None,
        embedding_dropout: float = 0.0,
        word_dropout: float = 0.0,
        token_freq: list[int] | None = None,
    ) -> None:
        super().__init__()
        _check(cell, pool, vocab_size, num_classes, embedding_dim, hidden_size, num_layers,
               dropout, class_weights)
        if not 0.0 <= embedding_dropout < 1.0:
            raise RnnlabError(f"embedding_dropout must lie in [0, 1), got {embedding_dropout}; "
                              "e.g. --embedding-dropout 0.3")
        if not (0.0 <= word_dropout < float("inf")):
            raise RnnlabError(f"word_dropout (alpha) must be a finite number >= 0, got "
                              f"{word_dropout}; e.g. --word-dropout 0.25")
        if token_freq is not None and len(token_freq) != vocab_size:
            raise RnnlabError(f"token_freq needs one training count per token "
                              f"({vocab_size}), got {len(token_freq)}")
        self.hparams: dict[str, Any] = dict(
            vocab_size=vocab_size, num_classes=num_classes, cell=cell,
            embedding_dim=embedding_dim, hidden_size=hidden_size, num_layers=num_layers,
            bidirectional=bidirectional, pool=pool, dropout=dropout, impl=impl,
            class_weights=None if class_weights is None else [float(w) for w in class_weights],
            embedding_dropout=embedding_dropout, word_dropout=word_dropout,
        )
        self.num_classes, self.pool = num_classes, pool
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        # dropout on the embedded inputs (B, T, E): with few examples per word (MR) the
        # embedding table holds most parameters and overfits first
        self.embedding_drop = nn.Dropout(embedding_dropout)
        self.rnn = Recurrent(
            cell, embedding_dim, hidden_size, num_layers, dropout,  # type: ignore[arg-type]
            bidirectional=bidirectional, impl=impl,  # type: ignore[arg-type]
        )
        width = self.rnn.output_size  # D*H
        if pool == "attention":
            self.attn = nn.Linear(width, width)  # W, b
            self.attn_v = nn.Linear(width, 1, bias=False)  # v
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(width, num_classes)
        # a buffer: it follows .to()/.double() and is saved in the state dict, and hparams
        # carry the same list so `cls(**hparams)` rebuilds a model whose state dict fits
        weights = None if class_weights is None else torch.tensor(class_weights)
        self.register_buffer("class_weights", weights)
        if word_dropout > 0:  # saved with the weights; runs without word dropout have none
            # token_freq None: a checkpoint's state dict fills the counts (`rebuild`)
            self.register_buffer("token_freq", torch.zeros(vocab_size) if token_freq is None
                                 else torch.as_tensor(token_freq, dtype=torch.float32))

    def _drop_words(self, inputs: Tensor) -> Tensor:
        """Training only: token id -> <unk> with probability alpha / (alpha + frequency)
        (Kiperwasser & Goldberg 2016), so rare words are often unseen, as at test time."""
        alpha = self.hparams["word_dropout"]
        if alpha <= 0:  # no counts buffer then
            return inputs
        return drop_to_unk(inputs, self.token_freq, alpha, self.training)

    # -- encoder -------------------------------------------------------------------------
    def _encode(self, batch: ClassBatch) -> tuple[Tensor, State, Tensor]:
        """(top-layer outputs (B, T, D*H), final state, mask (B, T) of real steps)."""
        inputs, lengths = batch.inputs, batch.lengths
        T = inputs.shape[1]
        if lengths.numel() and (int(lengths.min()) < 1 or int(lengths.max()) > T):
            raise RnnlabError(
                f"ClassBatch lengths must lie in 1..{T} (the padded width), got "
                f"{int(lengths.min())}..{int(lengths.max())}; drop empty sequences before "
                "batching"
            )
        emb = self.embedding_drop(self.embedding(self._drop_words(inputs)))  # (B, T, E)
        out, state = self.rnn(emb, None, lengths)  # every sequence starts from zeros
        mask = torch.arange(T, device=inputs.device) < lengths.to(inputs.device).unsqueeze(1)
        return out, state, mask  # mask (B, T)

    def _last(self, out: Tensor, mask: Tensor) -> Tensor:
        """The final states of the top layer, read from its outputs (B, T, D*H): the forward
        direction's h_n at each sequence's last real step, the backward direction's at step 1
        (its state after reading x_1). The same values as the recurrence's final state, and
        a gather exports to ONNX where the packed layer's final state does not."""
        H = self.rnn.hidden_size
        last = (mask.sum(1) - 1).clamp_min(0)  # (B,) index of the last real step
        h_n = out[torch.arange(out.shape[0], device=out.device), last, :H]  # (B, H)
        if self.rnn.num_directions == 1:
            return h_n
        return torch.cat([h_n, out[:, 0, H:]], dim=-1)  # (B, D*H)

    def _scores(self, out: Tensor, mask: Tensor) -> Tensor:
        s = self.attn_v(torch.tanh(self.attn(out))).squeeze(-1)  # (B, T)
        return s.masked_fill(~mask, float("-inf"))

    def _pool(self, out: Tensor, state: State, mask: Tensor) -> Tensor:
        if self.pool == "last":
            return self._last(out, mask)
        m = mask.unsqueeze(-1)  # (B, T, 1)
        if self.pool == "mean":
            # padded outputs are zero already; the mask keeps that true whatever Recurrent does
            return (out * m).sum(1) / m.sum(1).to(out.dtype)  # (B, D*H)
        if self.pool == "max":
            return out.masked_fill(~m, float("-inf")).amax(1)  # (B, D*H)
        a = torch.softmax(self._scores(out, mask), dim=1)  # (B, T), 0 on padding
        return torch.einsum("bt,bth->bh", a, out)  # (B, D*H)

    # -- contract --------------------------------------------------------------------------
    def forward(self, batch: ClassBatch, state: State | None = None) -> Output:
        """Output(logits (B, K), mean cross-entropy or None without labels, state=None).
        `state` is accepted for the common contract and ignored: examples are independent."""
        out, final, mask = self._encode(batch)
        logits = self.head(self.drop(self._pool(out, final, mask)))  # (B, K)
        loss = None
        if batch.labels is not None:
            wide = logits.to(torch.promote_types(logits.dtype, torch.float32))
            w = None if self.class_weights is None else self.class_weights.to(wide.dtype)
            loss = F.cross_entropy(wide, batch.labels, weight=w)
        return Output(logits, loss, None)

    @torch.no_grad()
    def attention_weights(self, batch: ClassBatch) -> Tensor:
        """Attention weights a_t (B, T): each row sums to 1 over real steps, 0 on padding."""
        if self.pool != "attention":
            raise RnnlabError(
                f"attention weights exist only with pool='attention', this model pools with "
                f"{self.pool!r}; train with --pool attention to inspect them"
            )
        out, _, mask = self._encode(batch)
        return torch.softmax(self._scores(out, mask), dim=1)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def _check(
    cell: str, pool: str, vocab_size: int, num_classes: int, embedding_dim: int,
    hidden_size: int, num_layers: int, dropout: float, class_weights: list[float] | None,
) -> None:
    if cell not in CELLS:
        raise RnnlabError(f"cell must be one of {', '.join(CELLS)}, got {cell!r}; e.g. --cell gru")
    if pool not in POOLS:
        raise RnnlabError(
            f"pool must be one of {', '.join(POOLS)}, got {pool!r}; e.g. --pool last"
        )
    if num_classes < 2:
        raise RnnlabError(
            f"a classifier needs num_classes >= 2, got {num_classes}; check that the labels "
            "hold at least two distinct classes"
        )
    if vocab_size < 2:
        raise RnnlabError(
            f"vocab_size must be >= 2 (<pad> and at least one token), got {vocab_size}; "
            "fit the tokenizer on non-empty data"
        )
    for name, value in (("embedding_dim", embedding_dim), ("hidden_size", hidden_size),
                        ("num_layers", num_layers)):
        if value < 1:
            flag = name.replace("_", "-")
            raise RnnlabError(
                f"{name} must be an integer >= 1, got {value}; pass --{flag} 1 or more"
            )
    if not 0.0 <= dropout < 1.0:
        raise RnnlabError(f"dropout must lie in [0, 1), got {dropout}; e.g. --dropout 0.1")
    if class_weights is not None:
        if len(class_weights) != num_classes:
            raise RnnlabError(
                f"class_weights needs one weight per class ({num_classes}), got "
                f"{len(class_weights)}; list them in class-id order"
            )
        if min(class_weights) < 0 or sum(class_weights) <= 0:
            raise RnnlabError(
                f"class_weights must be >= 0 with a positive sum, got {list(class_weights)}; "
                "e.g. inverse class frequencies"
            )
