"""Encoder-decoder with attention for translation (`Seq2Seq`).

Shapes: B batch, S source time, T target time, E embedding, H decoder hidden (`hidden_size`),
D encoder directions (2 if `bidirectional`), L layers, A attention size (= H),
V_s / V_t source / target vocabulary.

Encoder: a (bi)GRU/LSTM (`Recurrent`, fused, packed by source length) over the source:
    m_1 .. m_S = Enc(Emb_s[x_1 .. x_S])        memory (B, S, H), zero on padded positions
Each direction has H / D units, so the encoder's outputs (forward and backward halves
concatenated) and its final states have the decoder's size H: layer l's final forward and
backward states, concatenated, start the decoder's layer l (h_0^l, and c_0^l for the LSTM).
This parameter-free bridge is how the no-attention baseline is conditioned: the final encoder
state alone carries the source (Sutskever et al. 2014; Cho et al. 2014).

Decoder, one step per target token (Luong et al. 2015, "global attention"):
    h_t = cell([Emb_t[y_{t-1}]; h~_{t-1}], h_{t-1})     input feeding: h~_{t-1} enters, h~_0 = 0
    score(h_t, m_s) = v^T tanh(W_q h_t + W_k m_s)      attention="additive" (Bahdanau et al.
                                                       2015; placed after the step, as Luong)
                    = h_t^T W m_s                      attention="multiplicative" (Luong general)
    a_t = softmax_s(score) over real positions          padded positions get exactly 0
    c_t = sum_s a_ts m_s                               context (B, H)
    h~_t = tanh(W_c [c_t; h_t])                        attentional vector (B, H)
    p(y_t | y_<t, x) = softmax(W_o h~_t + b_o)
With attention="none" there is no context: p(y_t | ...) = softmax(W_o h_t + b_o), no input
feeding. Without input feeding (`--no-input-feeding`, and always with attention="none")
training runs the decoder fused over all T steps, then the attention of all T queries at once
(the additive scores ATTEND_BUDGET values at a time): a few times the steps per second of the
input-feeding loop.

Training uses teacher forcing: y_{t-1} is the reference token. With `scheduled_sampling`
= p > 0 (Bengio et al. 2015), in training each y_{t-1} (t > 1) is replaced with probability
p by a token drawn from the model's own distribution at step t-1.

Memory: past the budget, the output layer runs over the N = B*T target positions in chunks
of LOGIT_BUDGET // V_t rows (`ChunkedHeadCE`, recomputed in backward), so about
2 * LOGIT_BUDGET floats of logits and their gradient exist at once (2^25 float32 = 128 MB),
whatever B, T and V_t are, besides the (N, H) decoder outputs. `forward` returns the full
logits (B, T, V_t) only when B*T*V_t <= LOGIT_BUDGET, else `Output.logits` is None (the
loss is the same).

Decoding follows the generative protocol with the source as the prompt:
    `prefill(src (B, S), src_lengths (B,)) -> (logits (B, V_t) for y_1, state)`
    `step(token (B,), state) -> (logits (B, V_t), state)`
    `reorder_state(state, index (B',)) -> state`          beams follow their rows
The state (`Seq2SeqState`) carries the memory, its projected keys, the source mask, the
decoder's recurrent state, h~ for input feeding and the last attention weights.
"""

from __future__ import annotations

from typing import Any, NamedTuple, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.data.tokenizers import BOS_ID, PAD_ID
from rnnlab.errors import RnnlabError
from rnnlab.losses import IGNORE_INDEX
from rnnlab.models.base import Output, PairBatch
from rnnlab.models.cells import gru_recur, lstm_recur
from rnnlab.models.lm import LOGIT_BUDGET, chunked_target_log_probs, linear_cross_entropy
from rnnlab.models.recurrent import Recurrent

CELLS = ("gru", "lstm")
ATTEND_BUDGET = 2**24  # additive scores of all queries at once: (B, t, S, A) values at most
ATTENTIONS = ("additive", "multiplicative", "none")


class Seq2SeqState(NamedTuple):
    """The decoding state; every field's first batch-like axis follows the beams."""

    memory: Tensor  # (B, S, H) encoder outputs
    keys: Tensor | None  # (B, S, A) W_k m_s (additive) or W m_s (multiplicative); None: none
    mask: Tensor  # (B, S) bool, True on real source positions
    hidden: Tensor  # (L, B, H) decoder h
    cell: Tensor | None  # (L, B, H) decoder c (LSTM), else None
    feed: Tensor | None  # (B, H) h~ of the last step (input feeding), else None
    attention: Tensor | None  # (B, S) the attention that produced the last logits


class Seq2Seq(nn.Module):
    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        cell: str = "gru",
        embedding_dim: int = 256,
        hidden_size: int = 256,
        num_layers: int = 1,
        bidirectional: bool = True,
        attention: str = "additive",
        input_feeding: bool = True,
        dropout: float = 0.2,
        scheduled_sampling: float = 0.0,
        tie_embeddings: bool = False,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        self.hparams = dict(
            src_vocab_size=src_vocab_size, tgt_vocab_size=tgt_vocab_size, cell=cell,
            embedding_dim=embedding_dim, hidden_size=hidden_size, num_layers=num_layers,
            bidirectional=bidirectional, attention=attention, input_feeding=input_feeding,
            dropout=dropout, scheduled_sampling=scheduled_sampling,
            tie_embeddings=tie_embeddings, label_smoothing=label_smoothing,
        )
        _check(self.hparams)
        D = 2 if bidirectional else 1
        self.cell, self.attention, self.num_layers = cell, attention, num_layers
        self.hidden_size, self.tgt_vocab_size = hidden_size, tgt_vocab_size
        self.input_feeding = input_feeding and attention != "none"
        self.scheduled_sampling, self.label_smoothing = scheduled_sampling, label_smoothing
        self.src_embedding = nn.Embedding(src_vocab_size, embedding_dim)
        self.tgt_embedding = nn.Embedding(tgt_vocab_size, embedding_dim)
        self.encoder = Recurrent(cell, embedding_dim, hidden_size // D, num_layers,  # type: ignore[arg-type]
                                 dropout, bidirectional=bidirectional)
        feed = hidden_size if self.input_feeding else 0
        # fused (torch.nn) weights: one kernel over T for attention="none"; the attention
        # loop reads the same weights one step at a time
        self.decoder = Recurrent(cell, embedding_dim + feed, hidden_size, num_layers,  # type: ignore[arg-type]
                                 dropout)
        if attention == "additive":
            self.key_proj = nn.Linear(hidden_size, hidden_size, bias=False)  # W_k
            self.query_proj = nn.Linear(hidden_size, hidden_size, bias=True)  # W_q (+ bias)
            self.score_v = nn.Linear(hidden_size, 1, bias=False)  # v
        elif attention == "multiplicative":
            self.key_proj = nn.Linear(hidden_size, hidden_size, bias=False)  # W
        if attention != "none":
            self.combine = nn.Linear(2 * hidden_size, hidden_size, bias=False)  # W_c
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, tgt_vocab_size)  # W_o, b_o
        if tie_embeddings:
            self.head.weight = self.tgt_embedding.weight

    # -- encoder -----------------------------------------------------------------------
    def encode(self, src: Tensor, src_lengths: Tensor) -> Seq2SeqState:
        """src (B, S), src_lengths (B,) -> the state before the first target token."""
        B, S = src.shape
        mask = torch.arange(S, device=src.device).unsqueeze(0) < src_lengths.unsqueeze(1)
        emb = self.drop(self.src_embedding(src))  # (B, S, E)
        memory, final = self.encoder(emb, None, src_lengths)  # (B, S, H), (L*D, B, H/D)
        bridge = self._bridge
        hidden = bridge(final[0] if isinstance(final, tuple) else final)  # (L, B, H)
        cell = bridge(final[1]) if isinstance(final, tuple) else None
        keys = self.key_proj(memory) if self.attention != "none" else None  # (B, S, A)
        feed = memory.new_zeros(B, self.hidden_size) if self.input_feeding else None
        return Seq2SeqState(memory, keys, mask, hidden, cell, feed, None)

    def _bridge(self, h: Tensor) -> Tensor:
        """(L*D, B, H/D) layer-major, direction-minor -> (L, B, H): directions concatenated."""
        LD, B, Hd = h.shape
        L = self.num_layers
        return h.view(L, LD // L, B, Hd).permute(0, 2, 1, 3).reshape(L, B, (LD // L) * Hd)

    # -- decoder -----------------------------------------------------------------------
    def _embed_proj(self, emb: Tensor) -> Tensor:
        """The embedding's share of layer 0's input projection, biases included:
        emb (..., E) -> (..., G*H). Hoisted out of the time loop in training."""
        w_ih, _, b_ih, b_hh = self.decoder.layer_params(0)
        E = emb.shape[-1]
        # lstm_recur wants both biases
        bias = cast(Tensor, b_ih) + cast(Tensor, b_hh) if self.cell == "lstm" else b_ih
        return F.linear(emb, w_ih[:, :E], bias)

    def _step(self, xw0: Tensor, state: Seq2SeqState) -> tuple[Tensor, Seq2SeqState]:
        """One decoder step from layer 0's embedding projection xw0 (B, G*H) -> (the vector
        the output layer reads: h~_t, or h_t without attention (B, H), new state)."""
        w_ih0 = self.decoder.layer_params(0)[0]
        E = w_ih0.shape[1] - (self.hidden_size if self.input_feeding else 0)
        if state.feed is not None:
            xw0 = xw0 + F.linear(state.feed, w_ih0[:, E:])
        hs, cs = [], []
        inp = cast(Tensor, None)  # layer 0 sets it before any use
        for layer in range(self.num_layers):
            w_ih, w_hh, b_ih, b_hh = self.decoder.layer_params(layer)
            if layer == 0:
                xw = xw0
            else:  # dropout between layers, as the fused torch.nn stack applies it
                inp = F.dropout(inp, self.decoder.dropout, self.training)
                xw = F.linear(inp, w_ih, cast(Tensor, b_ih) + cast(Tensor, b_hh)
                              if self.cell == "lstm" else b_ih)
            if state.cell is not None:
                h, c = lstm_recur(xw, (state.hidden[layer], state.cell[layer]), w_hh)
                cs.append(c)
            else:
                h = gru_recur(xw, state.hidden[layer], w_hh, b_hh)
            hs.append(h)
            inp = h
        hidden = torch.stack(hs)  # (L, B, H)
        cell = torch.stack(cs) if cs else None
        if self.attention == "none":
            return inp, state._replace(hidden=hidden, cell=cell)
        h_tilde, a = self._attentional(inp.unsqueeze(1), state)  # (B, 1, H), (B, 1, S)
        h_tilde, a = h_tilde.squeeze(1), a.squeeze(1)
        feed = h_tilde if self.input_feeding else None
        return h_tilde, state._replace(hidden=hidden, cell=cell, feed=feed, attention=a)

    def _attentional(self, q: Tensor, state: Seq2SeqState) -> tuple[Tensor, Tensor]:
        """Queries q (B, T, H) -> (h~ (B, T, H), attention a (B, T, S), 0 on padded
        positions). One decoding step has T = 1; training without input feeding reads all T
        at once. The additive scores need (B, t, S, A) values: t = ATTEND_BUDGET // (B*S*A)
        queries at a time keep them bounded."""
        assert state.keys is not None
        if self.attention == "additive":
            B, S, A = state.keys.shape
            t = max(1, ATTEND_BUDGET // max(1, B * S * A))
            qp = self.query_proj(q)  # (B, T, A)
            parts = [self.score_v(torch.tanh(state.keys.unsqueeze(1)
                                             + qp[:, s:s + t].unsqueeze(2))).squeeze(-1)
                     for s in range(0, q.shape[1], t)]  # (B, t, S) each
            scores = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)  # (B, T, S)
        else:
            scores = torch.bmm(q, state.keys.transpose(1, 2))  # (B, T, S)
        a = scores.masked_fill(~state.mask.unsqueeze(1), -float("inf")).softmax(-1)
        context = torch.bmm(a, state.memory)  # (B, T, H)
        return torch.tanh(self.combine(torch.cat([context, q], dim=-1))), a

    def _decode_teacher(self, batch: PairBatch) -> Tensor:
        """Teacher-forced (or scheduled-sampled) decoder outputs (B, T, H), before dropout."""
        state = self.encode(batch.src, batch.src_lengths)
        emb = self.drop(self.tgt_embedding(batch.inputs))  # (B, T, E)
        sampling = self.training and self.scheduled_sampling > 0
        if not self.input_feeding and not sampling:
            # nothing of step t feeds step t+1 but the recurrence: the fused kernel runs all
            # T steps, then attention reads all T queries at once
            h0 = (state.hidden, state.cell) if state.cell is not None else state.hidden
            out, _ = self.decoder(emb, h0)  # (B, T, H); steps after the target end are unread
            return out if self.attention == "none" else self._attentional(out, state)[0]
        xw = self._embed_proj(emb)  # (B, T, G*H)
        outs: list[Tensor] = []
        for t, xw_t in enumerate(xw.unbind(1)):
            if sampling and t > 0:
                xw_t = self._sampled_input(batch.inputs[:, t], outs[-1], xw_t)
            out_t, state = self._step(xw_t, state)
            outs.append(out_t)
        return torch.stack(outs, dim=1)  # (B, T, H)

    def _sampled_input(self, gold: Tensor, prev_out: Tensor, gold_xw: Tensor) -> Tensor:
        """Scheduled sampling: replace each row's reference input with probability p by a
        token sampled from the previous step's distribution (no gradient through the draw)."""
        with torch.no_grad():
            probs = self.head(self.drop(prev_out)).float().softmax(-1)  # (B, V_t)
            drawn = torch.multinomial(probs, 1).squeeze(1)  # (B,)
            swap = torch.rand(gold.shape, device=gold.device) < self.scheduled_sampling
            swap &= gold != PAD_ID  # padded steps stay padded (their targets are ignored)
        if not bool(swap.any()):
            return gold_xw
        xw = self._embed_proj(self.drop(self.tgt_embedding(drawn)))  # (B, G*H)
        return torch.where(swap.unsqueeze(1), xw, gold_xw)

    # -- training and scoring ----------------------------------------------------------
    def forward(self, batch: PairBatch, state: None = None) -> Output:
        """Logits (B, T, V_t) (None past the budget), mean loss over real target tokens."""
        out = self.drop(self._decode_teacher(batch))  # (B, T, H)
        B, T, _ = out.shape
        h = out.reshape(B * T, -1)  # (N, H)
        targets = batch.targets.reshape(-1)  # (N,)
        if B * T * self.tgt_vocab_size <= LOGIT_BUDGET:
            logits = self.head(h)  # (N, V_t)
            wide = logits.to(torch.promote_types(logits.dtype, torch.float32))
            loss = F.cross_entropy(wide, targets, ignore_index=IGNORE_INDEX,
                                   label_smoothing=self._smoothing())
            return Output(logits.view(B, T, -1), loss, None)
        return Output(None, self._chunked_loss(h, targets), None)  # type: ignore[arg-type]

    def loss(self, batch: PairBatch, state: None = None,
             head_dtype: torch.dtype | None = None) -> tuple[Tensor, None]:
        """`forward(batch).loss` without the (N, V_t) logits and their float32 softmax
        passes: the output layer and the cross-entropy run fused (`linear_cross_entropy`,
        its gradient kept in `head_dtype`, N * V_t values); `head_dtype` bfloat16 runs the
        output layer's products alone in bfloat16 (--fused-loss --precision bf16-head).
        Past LOGIT_BUDGET the chunked float32 path of `forward` runs instead."""
        out = self.drop(self._decode_teacher(batch))  # (B, T, H)
        h = out.reshape(-1, out.shape[-1])  # (N, H)
        targets = batch.targets.reshape(-1)  # (N,)
        if h.shape[0] * self.tgt_vocab_size > LOGIT_BUDGET:
            return self._chunked_loss(h, targets), None
        return linear_cross_entropy(h, self.head.weight, self.head.bias, targets,
                                    head_dtype, self._smoothing()), None

    def _smoothing(self) -> float:
        """Label smoothing regularizes training only: in eval mode the loss is the NLL."""
        return self.label_smoothing if self.training else 0.0

    def _chunked_loss(self, h: Tensor, targets: Tensor) -> Tensor:
        """Mean cross-entropy of head(h) (N, V_t), LOGIT_BUDGET // V_t rows at a time."""
        rows = max(1, LOGIT_BUDGET // self.tgt_vocab_size)
        total = ChunkedHeadCE.apply(h, self.head.weight, self.head.bias, targets, rows,
                                    self._smoothing())
        return total / (targets != IGNORE_INDEX).sum().clamp_min(1)

    @torch.no_grad()
    def target_log_probs(self, batch: PairBatch, state: None = None) -> tuple[Tensor, None]:
        """(log p(y_t | y_<t, x) (B, T), 0 where targets == IGNORE_INDEX; None), the output
        layer in chunks of LOGIT_BUDGET logits (`chunked_target_log_probs`)."""
        out = self.drop(self._decode_teacher(batch))  # (B, T, H)
        h = out.reshape(-1, out.shape[-1])  # (N, H)
        return chunked_target_log_probs(lambda s, e: self.head(h[s:e]), batch.targets,
                                        self.tgt_vocab_size), None

    # -- decoding ----------------------------------------------------------------------
    @torch.no_grad()
    def prefill(
        self, src: Tensor, src_lengths: Tensor | None = None
    ) -> tuple[Tensor, Seq2SeqState]:
        """src (B, S) -> logits (B, V_t) for the first target token (after <bos>), state.
        Without `src_lengths` each source ends at its first <pad> (or at S)."""
        src = torch.as_tensor(src, dtype=torch.long)
        if src_lengths is None:
            src_lengths = (src != PAD_ID).long().cumprod(1).sum(1)
        src_lengths = torch.as_tensor(src_lengths, dtype=torch.long)
        if src.dim() != 2 or src_lengths.shape != src.shape[:1]:
            raise RnnlabError(f"prefill needs src (B, S) and src_lengths (B,), got "
                              f"{tuple(src.shape)} and {tuple(src_lengths.shape)}")
        if len(src_lengths) and not (1 <= int(src_lengths.min())
                                     and int(src_lengths.max()) <= src.shape[1]):
            raise RnnlabError(f"source lengths must be in [1, {src.shape[1]}], got "
                              f"{src_lengths.tolist()[:8]}; an empty source cannot be "
                              "translated")
        state = self.encode(src, src_lengths)
        bos = torch.full((src.shape[0],), BOS_ID, dtype=torch.long, device=src.device)
        return self.step(bos, state)

    @torch.no_grad()
    def step(self, token: Tensor, state: Seq2SeqState) -> tuple[Tensor, Seq2SeqState]:
        """token (B,) -> logits (B, V_t) for the next token, new state."""
        out, state = self._step(self._embed_proj(self.tgt_embedding(token)), state)
        return self.head(out), state

    def reorder_state(self, state: Seq2SeqState, index: Tensor) -> Seq2SeqState:
        """The state's rows `index` (B',) in that order (beam search; repeats allowed)."""
        def rows(t: Tensor | None, dim: int = 0) -> Tensor | None:
            return None if t is None else t.index_select(dim, index)

        return Seq2SeqState(
            rows(state.memory), rows(state.keys), rows(state.mask),  # type: ignore[arg-type]
            rows(state.hidden, 1), rows(state.cell, 1),  # type: ignore[arg-type]
            rows(state.feed), rows(state.attention),
        )

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


class ChunkedHeadCE(torch.autograd.Function):
    """sum_i CE(W h_i + b, y_i) over targets y_i != IGNORE_INDEX, `rows` rows of logits at a
    time. Backward recomputes each chunk's logits (d loss / d z = softmax(z) - onehot(y))
    instead of keeping them: memory rows * V, not N * V. The products run in the weight's
    dtype (autocast off), the softmax in at least float32."""

    @staticmethod
    def forward(ctx: Any, h: Tensor, weight: Tensor, bias: Tensor, targets: Tensor,
                rows: int, smoothing: float = 0.0) -> Tensor:
        acc = torch.promote_types(weight.dtype, torch.float32)
        with torch.autocast("cpu", enabled=False):
            hc = h.detach().to(weight.dtype)
            total = torch.zeros((), dtype=acc)
            for s in range(0, len(hc), rows):
                z = F.linear(hc[s:s + rows], weight, bias).to(acc)  # (c, V)
                total += F.cross_entropy(z, targets[s:s + rows], ignore_index=IGNORE_INDEX,
                                         reduction="sum", label_smoothing=smoothing)
        ctx.save_for_backward(hc, weight, bias, targets)
        ctx.rows, ctx.h_dtype, ctx.smoothing = rows, h.dtype, float(smoothing)
        return total

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:
        hc, weight, bias, targets = ctx.saved_tensors
        acc = torch.promote_types(weight.dtype, torch.float32)
        e, V = ctx.smoothing, weight.shape[0]
        grad_h, grad_w = torch.empty_like(hc), torch.zeros_like(weight)
        grad_b = torch.zeros_like(bias)
        with torch.autocast("cpu", enabled=False):
            for s in range(0, len(hc), ctx.rows):
                h_c, y = hc[s:s + ctx.rows], targets[s:s + ctx.rows]
                dz = F.linear(h_c, weight, bias).to(acc).softmax(-1)  # (c, V)
                dz[torch.arange(len(y)), y.clamp_min(0)] -= 1.0 - e
                if e:
                    dz.sub_(e / V)  # softmax - (1 - e) onehot - e / V
                dz = dz.mul_(((y != IGNORE_INDEX) * g).unsqueeze(1).to(acc)).to(weight.dtype)
                grad_h[s:s + ctx.rows] = dz @ weight  # (c, H)
                grad_w += dz.t() @ h_c  # (V, H)
                grad_b += dz.sum(0)
        return grad_h.to(ctx.h_dtype), grad_w, grad_b, None, None, None


def _check(hp: dict[str, Any]) -> None:
    """Every hyper-parameter in range, with the flag a user would change."""
    for name in ("src_vocab_size", "tgt_vocab_size"):
        if hp[name] < 5:
            raise RnnlabError(f"{name} must be >= 5 (4 special tokens and a word), got "
                              f"{hp[name]}")
    if hp["cell"] not in CELLS:
        raise RnnlabError(f"cell must be one of {', '.join(CELLS)}, got {hp['cell']!r}")
    if hp["attention"] not in ATTENTIONS:
        raise RnnlabError(f"attention must be one of {', '.join(ATTENTIONS)}, got "
                          f"{hp['attention']!r}")
    for name in ("embedding_dim", "hidden_size", "num_layers"):
        if hp[name] < 1:
            raise RnnlabError(f"{name} must be >= 1, got {hp[name]}")
    if hp["bidirectional"] and hp["hidden_size"] % 2:
        raise RnnlabError(
            f"a bidirectional encoder gives each direction hidden_size / 2 units, so "
            f"hidden_size must be even, got {hp['hidden_size']}; use {hp['hidden_size'] + 1}"
        )
    if not 0 <= hp["dropout"] < 1:
        raise RnnlabError(f"dropout must be in [0, 1), got {hp['dropout']}")
    if not 0 <= hp["scheduled_sampling"] <= 1:
        raise RnnlabError(f"scheduled_sampling must be in [0, 1], got "
                          f"{hp['scheduled_sampling']}")
    if not 0 <= hp["label_smoothing"] < 1:
        raise RnnlabError(f"label_smoothing must be in [0, 1), got {hp['label_smoothing']}")
    if hp["tie_embeddings"] and hp["embedding_dim"] != hp["hidden_size"]:
        raise RnnlabError(
            f"tie_embeddings shares the target embedding with the output layer and needs "
            f"embedding_dim == hidden_size, got {hp['embedding_dim']} and "
            f"{hp['hidden_size']}; set --embedding-dim {hp['hidden_size']} or drop it"
        )
