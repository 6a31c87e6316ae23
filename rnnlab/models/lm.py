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

`cutoffs` replaces the softmax over V by an adaptive softmax (Grave et al. 2017,
`torch.nn.AdaptiveLogSoftmaxWithLoss`): the c_1 most frequent tokens (ids are frequency
ranked) and one entry per tail cluster share a head softmax; cluster k = [c_k, c_{k+1})
is a second softmax over a projection of h to H / 4^k units. The probabilities stay exact
and normalized over all V (perplexity is comparable); a training step costs
H (c_1 + K) + (tokens falling in a tail) x that cluster's cost instead of H V per token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.errors import RnnlabError
from rnnlab.losses import IGNORE_INDEX, masked_cross_entropy
from rnnlab.models.base import LMBatch, Output, State
from rnnlab.models.recurrent import Recurrent

# At most this many logits (floats) exist at once in `target_log_probs` (2^24 float32 = 64 MB,
# plus as much again for their log-softmax): evaluation memory stays flat whatever B T V is.
LOGIT_BUDGET = 2**24


class RecurrentLM(nn.Module):
    """A recurrent language model: embedding -> `Recurrent` layers (rnn, gru, lstm) ->
    dropout -> output layer over the vocabulary (optionally tied to the embedding).
    forward(LMBatch, state) -> Output(logits (B, T, V), loss, state); `prefill` and `step`
    carry the state token by token for decoding."""

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
        cutoffs: list[int] | None = None,
    ) -> None:
        super().__init__()
        self.hparams = dict(
            vocab_size=vocab_size, cell=cell, embedding_dim=embedding_dim,
            hidden_size=hidden_size, num_layers=num_layers, dropout=dropout,
            tie_weights=tie_weights, impl=impl, feedback=feedback, init_range=init_range,
            cutoffs=None if cutoffs is None else [int(c) for c in cutoffs],
        )
        if cutoffs is not None:
            _check_cutoffs(list(cutoffs), vocab_size, hidden_size, tie_weights)
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
        self.head: nn.Linear | None = None
        self.adaptive: nn.AdaptiveLogSoftmaxWithLoss | None = None
        if cutoffs is None:
            self.head = nn.Linear(hidden_size, vocab_size)
            if tie_weights:
                self.head.weight = self.embedding.weight
        else:
            self.adaptive = nn.AdaptiveLogSoftmaxWithLoss(
                hidden_size, vocab_size, list(cutoffs), div_value=4.0)
        if init_range is not None:  # Zaremba et al. 2014: every weight ~ U(-r, r)
            for p in self.parameters():
                nn.init.uniform_(p, -init_range, init_range)

    @property
    def trains_by_loss(self) -> bool:
        """True with an adaptive softmax: `loss` scores the targets alone, while `forward`
        builds all V log-probabilities (the trainer then calls `loss`)."""
        return self.adaptive is not None

    def logits(self, h: Tensor) -> Tensor:
        """h (..., H) -> next-token scores (..., V): the output layer's logits, or with an
        adaptive softmax its exact log-probabilities (softmax of them is the same p)."""
        if self.adaptive is None:
            return self.head(h)  # type: ignore[misc]
        with torch.autocast("cpu", enabled=False):  # the module mixes dtypes under autocast
            flat = h.reshape(-1, h.shape[-1]).to(self.adaptive.head.weight.dtype)
            return self.adaptive.log_prob(flat).reshape(*h.shape[:-1], self.vocab_size)

    def _adaptive_target_log_probs(self, h: Tensor, targets: Tensor) -> Tensor:
        """log p(target) (N,) from h (N, H), 0 where targets == IGNORE_INDEX; the adaptive
        module evaluates each tail cluster only on the rows whose target falls in it."""
        flat = targets.reshape(-1)
        valid = flat != IGNORE_INDEX
        out = torch.zeros(flat.shape, dtype=self.adaptive.head.weight.dtype,  # type: ignore[union-attr]
                          device=h.device)
        if bool(valid.any()):
            with torch.autocast("cpu", enabled=False):
                a = cast(nn.AdaptiveLogSoftmaxWithLoss, self.adaptive)
                picked = a(h[valid].to(a.head.weight.dtype), flat[valid]).output
            out = out.masked_scatter(valid, picked)
        return out

    def _feedback(self, inputs: Tensor) -> Tensor | None:
        return inputs if self.hparams["feedback"] else None

    def forward(self, batch: LMBatch, state: State | None = None) -> Output:
        emb = self.drop(self.embedding(batch.inputs))  # (B, T, E)
        out, state = self.rnn(emb, state, batch.lengths, self._feedback(batch.inputs))
        logits = self.logits(self.drop(out))  # (B, T, V)
        # under bf16 autocast the logits are bf16; the softmax and loss stay fp32 (or fp64)
        wide = logits.to(torch.promote_types(logits.dtype, torch.float32))
        loss = None if batch.targets is None else masked_cross_entropy(wide, batch.targets)
        return Output(logits, loss, state)

    def loss(
        self, batch: LMBatch, state: State | None = None, head_dtype: torch.dtype | None = None
    ) -> tuple[Tensor, State]:
        """Training loss and final state without materializing the (B, T, V) logits: the
        output layer and the cross-entropy run fused, row-chunk by row-chunk (`LinearCE`).
        Same value and gradients as `forward(batch, state).loss` (a test pins it).
        `head_dtype` (e.g. bfloat16) sets the output layer's matrix-product dtype alone."""
        emb = self.drop(self.embedding(batch.inputs))  # (B, T, E)
        out, state = self.rnn(emb, state, batch.lengths, self._feedback(batch.inputs))
        h = self.drop(out).reshape(-1, out.shape[-1])  # (B*T, H)
        if self.adaptive is not None:  # the adaptive softmax never builds (B*T, V) either
            logp = self._adaptive_target_log_probs(h, batch.targets)
            n = (batch.targets != IGNORE_INDEX).sum().clamp_min(1)
            return -logp.sum() / n, state
        return linear_cross_entropy(h, self.head.weight, self.head.bias,  # type: ignore[union-attr]
                                    batch.targets.reshape(-1), head_dtype), state

    @torch.no_grad()
    def target_log_probs(
        self, batch: LMBatch, state: State | None = None
    ) -> tuple[Tensor, State]:
        """(log p(targets) (B, T), 0 where targets == IGNORE_INDEX; final state), the same
        values as `token_log_probs(forward(batch, state).logits, targets)`.

        The recurrence runs once over the batch; the output layer then runs over chunks of
        the (B*T, H) hidden states, LOGIT_BUDGET // V rows at a time, so no (B, T, V) array
        is ever built."""
        emb = self.drop(self.embedding(batch.inputs))  # (B, T, E)
        out, state = self.rnn(emb, state, batch.lengths, self._feedback(batch.inputs))
        h = self.drop(out).reshape(-1, out.shape[-1])  # (B*T, H)
        if self.adaptive is not None:
            return self._adaptive_target_log_probs(h, batch.targets).reshape(
                batch.targets.shape), state
        logp = chunked_target_log_probs(lambda s, e: self.logits(h[s:e]), batch.targets,
                                        self.vocab_size)
        return logp, state

    @torch.no_grad()
    def prefill(self, prompt: Tensor) -> tuple[Tensor, State]:
        """prompt (B, T) of token ids -> logits for the next token (B, V), state."""
        emb = self.embedding(prompt)  # (B, T, E)
        out, state = self.rnn(emb, None, None, self._feedback(prompt))
        return self.logits(out[:, -1]), state

    @torch.no_grad()
    def step(self, token: Tensor, state: State | None) -> tuple[Tensor, State]:
        """token (B,) -> logits (B, V), state; one cell step per layer, no history re-read."""
        h, state = self.rnn.step(self.embedding(token), state, self._feedback(token))
        return self.logits(h), state

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def adaptive_cutoffs(vocab_size: int, first: int = 1000, factor: int = 4) -> list[int]:
    """Cluster boundaries first, first*factor, ... below the vocabulary: 16k words ->
    [1000, 4000], 50k -> [1000, 4000, 16000]; at least 1k ids in the last cluster. A head
    of 1000 words covers ~80% of English running words (81% on Tatoeba English) and costs
    half of a 2000-word head (36 vs 68 ms a 32 x 35 step at H = 200, one core)."""
    if vocab_size < 2 * first:
        raise RnnlabError(
            f"an adaptive softmax splits the vocabulary at {first}, and this one has "
            f"{vocab_size} tokens (< {2 * first}): the full softmax is as fast; drop "
            "--adaptive-softmax")
    cuts = [first]
    while cuts[-1] * factor + 1000 <= vocab_size:
        cuts.append(cuts[-1] * factor)
    return cuts


def _check_cutoffs(cutoffs: list[int], vocab_size: int, hidden: int, tie_weights: bool
                   ) -> None:
    if tie_weights:
        raise RnnlabError("--tie-weights shares the embedding with a V x H output matrix, "
                          "which an adaptive softmax does not have; drop one of "
                          "--tie-weights and --adaptive-softmax")
    ok = (cutoffs and all(isinstance(c, int) and c > 0 for c in cutoffs)
          and cutoffs == sorted(set(cutoffs)) and cutoffs[-1] < vocab_size - 1)
    if not ok:
        raise RnnlabError(f"adaptive softmax cutoffs must increase strictly within 1..V-2 "
                          f"(V = {vocab_size}), got {cutoffs}")
    if hidden < 4 ** len(cutoffs):  # cluster k projects h to H / 4^k units
        raise RnnlabError(f"an adaptive softmax with {len(cutoffs)} tail cluster(s) needs "
                          f"--hidden-size >= {4 ** len(cutoffs)}, got {hidden}")


def chunked_target_log_probs(
    logits_of: Callable[[int, int], Tensor], targets: Tensor, vocab_size: int,
    budget: int | None = None,
) -> Tensor:
    """log softmax(logits)[target] per position, at most `budget` logits at a time.

    `logits_of(start, stop)` gives the logits (stop - start, V) of flattened positions
    start..stop-1 of targets (B, T); `budget` defaults to LOGIT_BUDGET. Returns (B, T) in
    the logits' dtype promoted to at least float32 (as `forward`'s loss), 0 where targets ==
    IGNORE_INDEX."""
    flat = targets.reshape(-1)
    rows = max(1, (budget or LOGIT_BUDGET) // vocab_size)
    parts = []
    for s in range(0, len(flat), rows):
        z = logits_of(s, min(s + rows, len(flat)))  # (c, V)
        logp = torch.log_softmax(z.to(torch.promote_types(z.dtype, torch.float32)), dim=-1)
        y = flat[s : s + rows]
        picked = logp.gather(1, y.clamp_min(0).unsqueeze(1)).squeeze(1)
        parts.append(picked.masked_fill(y == IGNORE_INDEX, 0.0))
    if not parts:
        return torch.zeros(targets.shape)
    return torch.cat(parts).reshape(targets.shape)


def logits_to_logprobs(logits: Tensor) -> Tensor:
    return F.log_softmax(logits.float(), dim=-1)


class LinearCE(torch.autograd.Function):
    """mean_i [logsumexp(z_i) - (1 - e) z_{i,y_i} - e mean_j z_{i,j}], z_i = W h_i + b, over
    targets y_i != IGNORE_INDEX: cross-entropy against (1 - e) onehot(y_i) + e / V, i.e.
    label smoothing e (Szegedy et al. 2016; e = 0 is the plain cross-entropy).

    Why: with a 10k vocabulary the plain path (`linear` -> `log_softmax` -> `nll_loss` and
    their backwards) makes ~8 passes over a (B*T, V) float32 array far larger than the cache,
    which costs more than the matrix products once those run in bfloat16. Here the forward
    computes the logits `CHUNK` rows at a time, turns each chunk in cache into its gradient
    d loss / d logits = softmax - (1 - e) onehot - e / V (exact), and keeps only that
    gradient (in the compute dtype); backward is then two matrix products. Under CPU
    autocast (bf16) the products run in bfloat16 and everything else (max, exp, sums, the
    loss) in float32.
    """

    # rows per chunk: 128 x 10k float32 = 5 MB stays cached across the ~6 passes, where the
    # whole (700, 10k) array of a 20 x 35 batch (28 MB) does not; 64 and 128 measured
    # equally fast, 32 slower
    CHUNK = 128

    @staticmethod
    def forward(ctx: Any, h: Tensor, weight: Tensor, bias: Tensor, targets: Tensor,
                dtype: torch.dtype, smoothing: float = 0.0) -> Tensor:
        e = float(smoothing)
        with torch.autocast("cpu", enabled=False):
            hc, wc = h.detach().to(dtype), weight.detach().to(dtype)  # (N, H), (V, H)
            bc, wt = bias.detach().to(dtype), wc.t()
            N, V = h.shape[0], weight.shape[0]
            grad = torch.empty(N, V, dtype=dtype)  # d loss / d logits, unscaled
            acc = torch.promote_types(dtype, torch.float32)  # softmax and sums: fp32 or fp64
            grad_bias = torch.zeros(V, dtype=acc)
            valid = targets != IGNORE_INDEX  # (N,)
            n = valid.sum().clamp_min(1)
            total = torch.zeros((), dtype=acc)
            for s in range(0, N, LinearCE.CHUNK):
                z = torch.addmm(bc, hc[s : s + LinearCE.CHUNK], wt).to(acc)  # (c, V)
                y = targets[s : s + LinearCE.CHUNK].clamp_min(0).unsqueeze(1)  # (c, 1)
                v = valid[s : s + LinearCE.CHUNK]
                m = z.amax(1, keepdim=True)  # (c, 1) shift for a stable exp
                z_y = z.gather(1, y)
                if e:
                    z_y = (1 - e) * z_y + e * z.mean(1, keepdim=True)  # smoothed target score
                z.sub_(m).exp_()
                denom = z.sum(1, keepdim=True)
                total += ((denom.log() + m - z_y).squeeze(1) * v).sum()
                z.div_(denom).scatter_add_(1, y, torch.full_like(z_y, -(1 - e)))
                if e:
                    z.sub_(e / V)  # softmax - (1 - e) onehot - e / V
                if not bool(v.all()):
                    z.mul_(v.unsqueeze(1))  # padded targets contribute nothing
                grad_bias += z.sum(0)
                grad[s : s + LinearCE.CHUNK] = z
        ctx.save_for_backward(hc, wc, grad, grad_bias, n)
        ctx.h_dtype = h.dtype
        return total / n

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:
        hc, wc, grad, grad_bias, n = ctx.saved_tensors
        scale = g / n
        acc = grad_bias.dtype
        grad_h = (grad @ wc).to(acc).mul_(scale)  # (N, H)
        grad_w = (grad.t() @ hc).to(acc).mul_(scale)  # (V, H)
        return grad_h.to(ctx.h_dtype), grad_w, grad_bias * scale, None, None, None


def linear_cross_entropy(
    h: Tensor, weight: Tensor, bias: Tensor, targets: Tensor, dtype: torch.dtype | None = None,
    smoothing: float = 0.0,
) -> Tensor:
    """Mean cross-entropy of logits `h @ weight.T + bias` (N, V) against targets (N,), fused,
    with label smoothing `smoothing` (as `F.cross_entropy(label_smoothing=...)`).
    The matrix products run in `dtype`; by default in the CPU autocast dtype inside an
    autocast region (bfloat16), else in the weight's dtype."""
    if dtype is None:
        autocast = torch.is_autocast_enabled("cpu")
        dtype = torch.get_autocast_dtype("cpu") if autocast else weight.dtype
    return LinearCE.apply(h, weight, bias, targets, dtype, smoothing)
