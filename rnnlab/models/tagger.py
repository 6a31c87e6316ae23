"""`SequenceTagger`: one tag per word (the notes' aligned many-to-many case, no delay).

Shapes: B batch, T words, U distinct word forms of a batch, C characters of a form,
E word embedding, Ec character embedding, Hc character hidden, H hidden per direction,
K tags.

    e_t   = [ W_e w_t ; char(w_t) ]                          word embedding + spelling
    h_t   = [ fwd-RNN(e_1..e_t) ; bwd-RNN(e_T..e_t) ]        stacked bidirectional Recurrent
    s_t   = V h_t + c                                        (B, T, K) tag scores
    p(y_t | x) = softmax(s_t)                                (independent tags), or
    p(y | x)   = exp(sum_t s_t[y_t] + A[y_{t-1}, y_t]) / Z   (linear-chain CRF, --crf)

`char(w)` reads the characters of w (a BiLSTM's two final states, Ling et al. 2015 /
Plank et al. 2016, or a CNN with max pooling over time, Ma & Hovy 2016), so a word never
seen in training still gets a representation from its spelling. It runs once per distinct
form of a batch (`TagBatch.chars`), and forms are capped at `MAX_WORD_CHARS` characters.
Word dropout (Kiperwasser & Goldberg 2016, as bilty): in training a word of training
frequency f is replaced by `<unk>` with probability alpha / (alpha + f), so `<unk>`'s
embedding is learnt from rare words; its characters are kept.

Loss: mean cross-entropy per real word; with the CRF, the sequence NLL summed over the batch
divided by the number of real words (per word, so both losses have the same scale).
"""

from __future__ import annotations

from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.data.tokenizers import PAD_ID
from rnnlab.errors import RnnlabError
from rnnlab.losses import IGNORE_INDEX, masked_cross_entropy
from rnnlab.models.base import Output, State, TagBatch, drop_to_unk
from rnnlab.models.recurrent import Recurrent

CHAR_ENCODERS = ("none", "bilstm", "cnn")
# Longer words keep their first and last MAX_WORD_CHARS // 2 characters (prefixes carry
# capitalization, suffixes morphology): a batch's character tensor is at most U x 32.
MAX_WORD_CHARS = 32


def cap_word(chars: list[int]) -> list[int]:
    if len(chars) <= MAX_WORD_CHARS:
        return chars
    half = MAX_WORD_CHARS // 2
    return chars[:half] + chars[-half:]


class CharEncoder(nn.Module):
    """Characters of each form (U, C) -> one vector per form (U, output_size)."""

    def __init__(self, kind: str, num_chars: int, char_dim: int, char_hidden: int) -> None:
        super().__init__()
        self.kind = kind
        self.embedding = nn.Embedding(num_chars, char_dim, padding_idx=PAD_ID)
        if kind == "bilstm":
            self.rnn = Recurrent("lstm", char_dim, char_hidden, bidirectional=True)
            self.output_size = 2 * char_hidden
        else:  # cnn: width-3 filters, max over the real characters
            self.conv = nn.Conv1d(char_dim, char_hidden, kernel_size=3, padding=1)
            self.output_size = char_hidden

    def forward(self, chars: Tensor, lengths: Tensor, from_outputs: bool = False) -> Tensor:
        """`from_outputs`: read the BiLSTM's final states off its outputs (the forward half
        at each form's last character, the backward half at its first): the same numbers,
        for the ONNX export, whose exporter fails on a packed LSTM's unused outputs."""
        x = self.embedding(chars)  # (U, C, Ec)
        if self.kind == "bilstm":
            out, (h, _) = self.rnn(x, lengths=lengths)  # h (2, U, Hc): after each form's end
            if from_outputs:  # out (U, C, 2Hc)
                Hc = h.shape[-1]
                last = out[torch.arange(out.shape[0]), lengths - 1, :Hc]  # (U, Hc)
                return torch.cat([last, out[:, 0, Hc:]], dim=-1)
            return torch.cat([h[0], h[1]], dim=-1)  # (U, 2Hc)
        y = self.conv(x.transpose(1, 2))  # (U, F, C)
        real = torch.arange(chars.shape[1], device=chars.device)[None] < lengths[:, None]
        return y.masked_fill(~real[:, None, :], float("-inf")).amax(dim=2)  # (U, F)


class SequenceTagger(nn.Module):
    """A tagger for aligned sequences: each word's embedding beside its spelling (a
    character BiLSTM or CNN, `char_encoder`) -> bidirectional recurrent layers -> tag scores
    per word, decoded independently or by a linear-chain CRF (`crf`, Viterbi).
    forward(TagBatch) -> Output(logits (B, T, K), loss, None)."""

    word_freq: Tensor  # a buffer: training counts for word dropout

    def __init__(
        self,
        vocab_size: int,
        num_chars: int,
        num_tags: int,
        cell: str = "lstm",
        embedding_dim: int = 100,
        char_encoder: str = "bilstm",
        char_dim: int = 32,
        char_hidden: int = 64,
        hidden_size: int = 128,
        num_layers: int = 2,
        dropout: float = 0.33,
        word_dropout: float = 0.25,
        crf: bool = False,
        impl: str = "fused",
        word_freq: list[int] | None = None,
    ) -> None:
        super().__init__()
        if char_encoder not in CHAR_ENCODERS:
            raise RnnlabError(f"char_encoder must be one of {', '.join(CHAR_ENCODERS)}, got "
                              f"{char_encoder!r}")
        self.hparams: dict[str, Any] = dict(
            vocab_size=vocab_size, num_chars=num_chars, num_tags=num_tags, cell=cell,
            embedding_dim=embedding_dim, char_encoder=char_encoder, char_dim=char_dim,
            char_hidden=char_hidden, hidden_size=hidden_size, num_layers=num_layers,
            dropout=dropout, word_dropout=word_dropout, crf=crf, impl=impl)
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD_ID)
        self.chars = (CharEncoder(char_encoder, num_chars, char_dim, char_hidden)
                      if char_encoder != "none" else None)
        in_size = embedding_dim + (self.chars.output_size if self.chars is not None else 0)
        self.rnn = Recurrent(cell, in_size, hidden_size, num_layers, dropout,  # type: ignore
                             bidirectional=True, impl=impl)  # type: ignore[arg-type]
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(self.rnn.output_size, num_tags)
        self.crf = None
        if crf:
            from rnnlab.models.crf import LinearChainCRF

            self.crf = LinearChainCRF(num_tags)
        # training frequency of each word id (word dropout); saved with the weights
        freq = torch.zeros(vocab_size) if word_freq is None else torch.as_tensor(
            word_freq, dtype=torch.float32)
        self.register_buffer("word_freq", freq)

    def _drop_words(self, words: Tensor) -> Tensor:
        """Training only: word id -> <unk> with probability alpha / (alpha + frequency)."""
        return drop_to_unk(words, self.word_freq, self.hparams["word_dropout"], self.training)

    def scores(self, batch: TagBatch, onnx: bool = False) -> Tensor:
        """Tag scores s_t (B, T, K); zero rows on padded positions never reach a loss."""
        x = self.embedding(self._drop_words(batch.words))  # (B, T, E)
        if self.chars is not None:
            per_form = self.chars(batch.chars, batch.char_lengths, onnx)  # (U, Fc)
            x = torch.cat([x, per_form[batch.forms]], dim=-1)  # (B, T, E + Fc)
        h, _ = self.rnn(self.drop(x), lengths=batch.lengths)  # (B, T, 2H)
        return self.out(self.drop(h))  # (B, T, K)

    def onnx_forward(self, words: Tensor, chars: Tensor, char_lengths: Tensor, forms: Tensor,
                     lengths: Tensor) -> Tensor:
        """The tag scores (B, T, K) from a TagBatch's five tensors (the ONNX export's
        inputs); a CRF's Viterbi decoding over them is left to the caller."""
        return self.scores(TagBatch(words, chars, char_lengths, forms, lengths, None), onnx=True)

    @staticmethod
    def mask(batch: TagBatch) -> Tensor:
        T = batch.words.shape[1]
        return torch.arange(T, device=batch.words.device)[None] < batch.lengths[:, None]

    def forward(self, batch: TagBatch, state: State | None = None) -> Output:
        logits = self.scores(batch)  # (B, T, K)
        loss = None
        if batch.tags is not None:
            if self.crf is None:
                loss = masked_cross_entropy(logits, batch.tags)
            else:
                mask = self.mask(batch)
                tags = batch.tags.masked_fill(~mask, 0)  # the CRF reads a tag everywhere
                loss = self.crf.nll(logits, tags, mask).sum() / mask.sum()
        return Output(logits, loss, None)

    @torch.no_grad()
    def decode(self, batch: TagBatch) -> Tensor:
        """The predicted tags (B, T): argmax per word, or the CRF's Viterbi path;
        IGNORE_INDEX on padding."""
        logits = self.scores(batch)
        mask = self.mask(batch)
        best = logits.argmax(-1) if self.crf is None else self.crf.decode(logits, mask)
        return best.masked_fill(~mask, IGNORE_INDEX)

    @torch.no_grad()
    def nll(self, batch: TagBatch) -> tuple[float, int]:
        """(summed NLL of the real words' tags, number of real words): per-word
        cross-entropy, or the CRF's sequence NLL."""
        logits = self.scores(batch)
        mask = self.mask(batch)
        n = int(mask.sum())
        if self.crf is None:
            return float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                         cast(Tensor, batch.tags).reshape(-1),
                                         ignore_index=IGNORE_INDEX,
                                         reduction="sum")), n
        tags = cast(Tensor, batch.tags).masked_fill(~mask, 0)
        return float(self.crf.nll(logits, tags, mask).sum()), n
