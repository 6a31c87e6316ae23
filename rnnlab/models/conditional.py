"""Class-conditioned recurrent language model (one fixed input, many outputs).

Shapes: B batch, T time, V vocabulary, E embedding, C class embedding (`class_dim`),
H hidden, L layers, K classes (`num_classes`).

A sequence x_1 .. x_n (e.g. the characters of a name) is generated given a class c (e.g. the
name's language):

    p(x_1 .. x_n, <eos> | c) = prod_t p(x_t | x_<t, c)
    e_t = Emb[x_t]   (E)            z = ClassEmb[c]   (C)

Two ways to let c in:

  condition="init"    the class fixes the starting point of the recurrence, as an encoder's
                      code vector starts a decoder (Sutskever et al. 2014; Cho et al. 2014):
                          h_0^l = tanh(A^l z + a^l)               for every layer l
                      LSTM: the cell memory gets its own projection, c_0^l = tanh(G^l z + g^l)
                          h_t = cell(e_t, h_{t-1})
  condition="concat"  the class vector enters every step beside the token, as the fixed
                      context vector f of Mikolov & Zweig (2012), "Context dependent recurrent
                      neural network language model":
                          h_0 = 0,   h_t = cell([e_t; z], h_{t-1})
  condition="none"    (or num_classes=0) the same network without the class: the baseline
                      that shows what the class is worth.

Then o_t = W h_t + b and p(x_{t+1} | x_<=t, c) = softmax(o_t), as in `RecurrentLM`.

Decoding follows the generative protocol with the class as an extra argument:
    `prefill(prompt (B, T), condition (B,)) -> (logits (B, V), state)`
    `step(token (B,), state) -> (logits (B, V), state)`
The decoding state is the recurrent state (h (L, B, H), or h, c for the LSTM) and, for
"concat", the class vector z (B, C) appended as the tuple's last element, because every step
needs it; `reorder_state(state, index)` follows beams. `forward`'s `state` argument and
`Output.state` are the recurrent state alone (truncated BPTT carry-over).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnlab.errors import RnnlabError
from rnnlab.losses import masked_cross_entropy
from rnnlab.models.base import CondBatch, Output, State
from rnnlab.models.lm import chunked_target_log_probs, linear_cross_entropy
from rnnlab.models.recurrent import Recurrent

CONDITIONS = ("init", "concat", "none")


class ConditionalLM(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        cell: str = "gru",
        embedding_dim: int = 64,
        hidden_size: int = 256,
        num_layers: int = 1,
        dropout: float = 0.0,
        impl: str = "fused",
        condition: str = "init",
        class_dim: int = 32,
    ) -> None:
        super().__init__()
        self.hparams = dict(
            vocab_size=vocab_size, num_classes=num_classes, cell=cell,
            embedding_dim=embedding_dim, hidden_size=hidden_size, num_layers=num_layers,
            dropout=dropout, impl=impl, condition=condition, class_dim=class_dim,
        )
        if condition not in CONDITIONS:
            raise RnnlabError(
                f"condition must be one of {', '.join(CONDITIONS)}, got {condition!r}"
            )
        if num_classes < 0:
            raise RnnlabError(f"num_classes must be >= 0, got {num_classes}")
        if condition != "none" and num_classes > 0 and class_dim < 1:
            raise RnnlabError(
                f"class_dim must be >= 1 for condition={condition!r}, got {class_dim}"
            )
        # the effective mode: without classes there is nothing to condition on
        self.mode = condition if num_classes > 0 else "none"
        self.vocab_size, self.num_classes = vocab_size, num_classes
        self.num_layers, self.hidden_size = num_layers, hidden_size
        self.is_lstm = cell == "lstm"
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.class_embedding = (
            nn.Embedding(num_classes, class_dim) if self.mode != "none" else None
        )
        extra = class_dim if self.mode == "concat" else 0
        self.rnn = Recurrent(
            cell, embedding_dim + extra, hidden_size, num_layers, dropout,  # type: ignore[arg-type]
            impl=impl,  # type: ignore[arg-type]
        )
        if self.mode == "init":
            self.init_h = nn.Linear(class_dim, num_layers * hidden_size)
            self.init_c = nn.Linear(class_dim, num_layers * hidden_size) if self.is_lstm else None
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size)

    # -- conditioning ------------------------------------------------------------------
    def _class_vector(self, labels: Tensor | None) -> Tensor | None:
        """labels (B,) -> z (B, C); None for the unconditioned model (labels are ignored)."""
        if self.class_embedding is None:
            return None
        if labels is None:
            raise RnnlabError(
                f"this model is conditioned on a class (condition={self.mode!r}): give a "
                f"class id in [0, {self.num_classes}) for every row"
            )
        labels = torch.as_tensor(labels, dtype=torch.long)
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            raise RnnlabError(
                f"class ids must be in [0, {self.num_classes}), got {labels.tolist()[:8]}"
            )
        return self.class_embedding(labels)

    def _initial_state(self, z: Tensor | None) -> State | None:
        """The recurrent state before the first token: projected from z for "init", else
        None (zeros, as `Recurrent` starts)."""
        if self.mode != "init" or z is None:
            return None
        B = z.shape[0]

        def project(layer: nn.Linear) -> Tensor:
            # (B, L*H) -> (L, B, H): layer-major, as torch.nn's h_0
            h = torch.tanh(layer(z)).view(B, self.num_layers, self.hidden_size)
            return h.transpose(0, 1).contiguous()

        h0 = project(self.init_h)
        return (h0, project(self.init_c)) if self.init_c is not None else h0

    def _inputs(self, tokens: Tensor, z: Tensor | None) -> Tensor:
        """tokens (B, T) -> the recurrence's inputs (B, T, E[+C])."""
        emb = self.embedding(tokens)  # (B, T, E)
        if self.mode == "concat":
            assert z is not None
            emb = torch.cat([emb, z.unsqueeze(1).expand(-1, tokens.shape[1], -1)], dim=-1)
        return self.drop(emb)

    def _run(self, batch: CondBatch, state: State | None) -> tuple[Tensor, State]:
        z = self._class_vector(batch.labels)
        if state is None:  # a carried state (reset=False) already holds the class's start
            state = self._initial_state(z)
        out, state = self.rnn(self._inputs(batch.inputs, z), state, batch.lengths)
        return self.drop(out), state  # (B, T, H)

    # -- training and scoring ----------------------------------------------------------
    def forward(self, batch: CondBatch, state: State | None = None) -> Output:
        """Logits (B, T, V), mean loss over real targets, final recurrent state. Without
        `state` the recurrence starts from the class (init) or from zeros."""
        out, state = self._run(batch, state)
        logits = self.head(out)  # (B, T, V)
        wide = logits.to(torch.promote_types(logits.dtype, torch.float32))
        loss = None if batch.targets is None else masked_cross_entropy(wide, batch.targets)
        return Output(logits, loss, state)

    def loss(
        self, batch: CondBatch, state: State | None = None, head_dtype: torch.dtype | None = None
    ) -> tuple[Tensor, State]:
        """`forward(batch, state).loss` and the final state, with the output layer and the
        cross-entropy fused (`linear_cross_entropy`): no (B, T, V) logits are kept."""
        out, state = self._run(batch, state)
        h = out.reshape(-1, out.shape[-1])  # (B*T, H)
        return linear_cross_entropy(h, self.head.weight, self.head.bias,
                                    batch.targets.reshape(-1), head_dtype), state

    @torch.no_grad()
    def target_log_probs(
        self, batch: CondBatch, state: State | None = None
    ) -> tuple[Tensor, State]:
        """(log p(targets | class) (B, T), 0 where targets == IGNORE_INDEX; final state). The
        output layer runs over chunks of the hidden states (`chunked_target_log_probs`), so
        no (B, T, V) array is built."""
        out, state = self._run(batch, state)
        h = out.reshape(-1, out.shape[-1])  # (B*T, H)
        logp = chunked_target_log_probs(lambda s, e: self.head(h[s:e]), batch.targets,
                                        self.vocab_size)
        return logp, state

    # -- decoding ----------------------------------------------------------------------
    @torch.no_grad()
    def prefill(self, prompt: Tensor, condition: Tensor | None = None) -> tuple[Tensor, State]:
        """prompt (B, T), condition (B,) class ids -> logits for the next token (B, V), the
        decoding state. The unconditioned model ignores `condition`."""
        z = self._class_vector(condition)
        if z is not None and z.shape[0] != prompt.shape[0]:
            raise RnnlabError(
                f"one class per prompt row: got {z.shape[0]} classes for {prompt.shape[0]} rows"
            )
        out, state = self.rnn(self._inputs(prompt, z), self._initial_state(z), None)
        return self.head(out[:, -1]), self._pack(state, z)

    @torch.no_grad()
    def step(self, token: Tensor, state: State) -> tuple[Tensor, State]:
        """token (B,) -> logits (B, V), decoding state; one cell step per layer."""
        rec, z = self._unpack(state)
        x = self.embedding(token)  # (B, E)
        if z is not None:
            x = torch.cat([x, z], dim=-1)  # (B, E+C)
        h, rec = self.rnn.step(x, rec)
        return self.head(h), self._pack(rec, z)

    def reorder_state(self, state: State, index: Tensor) -> State:
        """The decoding state's rows `index` (K',) in that order (beam search)."""
        rec, z = self._unpack(state)
        if isinstance(rec, tuple):
            rec = tuple(s.index_select(1, index) for s in rec)  # (L, K', H) each
        else:
            rec = rec.index_select(1, index)
        return self._pack(rec, None if z is None else z.index_select(0, index))

    def _pack(self, rec: State, z: Tensor | None) -> State:
        if self.mode != "concat":
            return rec
        assert z is not None
        return (*rec, z) if isinstance(rec, tuple) else (rec, z)

    def _unpack(self, state: State) -> tuple[State, Tensor | None]:
        if self.mode != "concat":
            return state, None
        assert isinstance(state, tuple)
        *rec, z = state
        return (tuple(rec) if self.is_lstm else rec[0]), z

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
