"""What the ONNX export (export.py) writes for the two models whose batches are more than
(inputs, lengths): the tagger and the encoder-decoder. Each spec's check inputs are sentences
built from the run's own vocabularies and encoded the way the task encodes them.

Shapes: B batch, T words, U distinct forms of a batch, C characters of a form, K tags,
S source time, H decoder hidden, A attention size (= H), L decoder layers, V_t target
vocabulary.

    tagger   (words (B, T), chars (U, C), char_lengths (U,), forms (B, T), lengths (B,))
             -> logits (B, T, K): the per-word tag scores (a TagBatch's five tensors). With a
             CRF the transitions go in the metadata; Viterbi decoding is the caller's.
    seq2seq  two files. FILE.encoder.onnx: (src (B, S), src_lengths (B,)) -> (state_0 ..,
             memory (B, S, H), keys (B, S, A), mask (B, S) bool), and FILE.onnx, one decoder
             step: (token (B,), state_0 .., memory, keys, mask) -> (logits (B, V_t),
             new_state_0 ..). The state is hidden (L, B, H), then cell (L, B, H) for the LSTM,
             then h~ (B, H) with input feeding; with attention "none" the step reads no
             memory, keys or mask (the encoder still outputs the memory). To translate:
             encode, feed <bos>, then each chosen token, until <eos>.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from rnnlab.models.seq2seq import Seq2Seq
    from rnnlab.models.tagger import SequenceTagger

TAG_CHECK = ((5, 13), (1, 3))  # (sentences, longest) of the check batches
SRC_CHECK = ((3, 9), (1, 2))


def _sentences(vocab: list[str], B: int, T: int, rng: random.Random,
               unseen: bool) -> list[list[str]]:
    """B sentences of the vocabulary's own tokens, the first T long, the others shorter;
    with `unseen`, a word no vocabulary holds (it reads <unk> and its spelling)."""
    real = vocab[4:] or ["x"]  # after <pad> <unk> <bos> <eos>
    out = [[rng.choice(real) for _ in range(T if b == 0 else rng.randint(1, T))]
           for b in range(B)]
    if B > 1 and T > 1 and all(len(s) == T for s in out):
        out[-1] = out[-1][:-1]  # mixed lengths: the traced graph keeps the packed path
    if unseen:
        out[0][0] = "Qzxw" + out[0][0]
    return out


# -- tagger --------------------------------------------------------------------------------
class TaggerFunction(nn.Module):
    def __init__(self, model: SequenceTagger) -> None:
        super().__init__()
        self.model = model

    def forward(self, words: Tensor, chars: Tensor, char_lengths: Tensor, forms: Tensor,
                lengths: Tensor) -> Tensor:
        return self.model.onnx_forward(words, chars, char_lengths, forms, lengths)


TAG_INPUTS = ["words", "chars", "char_lengths", "forms", "lengths"]


def tagger(model: SequenceTagger, payload: dict[str, Any]) -> dict[str, Any]:
    from rnnlab.tasks.tag.data import Encoder

    enc = Encoder.from_dict(payload["tagging"])
    rng = random.Random(0)

    def batch(B: int, T: int) -> tuple[Tensor, ...]:
        sents = _sentences(enc.words.itos, B, T, rng, unseen=True)
        b = next(iter(enc.batches(sents, None, B).epoch(0)))
        return tuple(b[:5])

    meta: dict[str, Any] = {}
    if model.crf is not None:
        crf = model.crf
        meta["crf"] = {
            "transitions": crf.transitions.tolist(), "start": crf.start.tolist(),
            "end": crf.end.tolist(),
            "decoding": "left to the caller: the best path maximizes start[y_1] + sum_t "
                        "logits[t, y_t] + sum_t transitions[y_{t-1}, y_t] + end[y_T] "
                        "(Viterbi); transitions are [from, to]"}
    return {"kind": "sequence", "fn": TaggerFunction(model).eval(), "example": batch(3, 7),
            "inputs": TAG_INPUTS, "outputs": ["logits"],
            "axes": {"words": {0: "batch", 1: "time"}, "chars": {0: "forms", 1: "chars"},
                     "char_lengths": {0: "forms"}, "forms": {0: "batch", 1: "time"},
                     "lengths": {0: "batch"}, "logits": {0: "batch", 1: "time"}},
            "check": [batch(B, T) for B, T in TAG_CHECK], "meta": meta}


# -- encoder-decoder -------------------------------------------------------------------------
def _state_fields(model: Seq2Seq) -> list[str]:
    return ["hidden", *(["cell"] if model.cell == "lstm" else []),
            *(["feed"] if model.input_feeding else [])]


def _fixed_fields(model: Seq2Seq) -> list[str]:
    return ["memory", "keys", "mask"] if model.attention != "none" else []


def _encoder_outputs(model: Seq2Seq) -> list[str]:
    # without attention the memory is output all the same (the step does not read it): the
    # exporter fails on a packed RNN whose outputs go unused
    return _fixed_fields(model) or ["memory"]


class Seq2SeqEncoder(nn.Module):
    """(src, src_lengths) -> the decoder's first state, then memory, keys, mask."""

    def __init__(self, model: Seq2Seq) -> None:
        super().__init__()
        self.model = model

    def forward(self, src: Tensor, src_lengths: Tensor) -> tuple[Tensor, ...]:
        s = self.model.encode(src, src_lengths)
        m = self.model
        return tuple(getattr(s, f) for f in (*_state_fields(m), *_encoder_outputs(m)))


class Seq2SeqStep(nn.Module):
    """One decoder step, (token, state.., memory, keys, mask) -> (logits, state..)."""

    def __init__(self, model: Seq2Seq) -> None:
        super().__init__()
        self.model = model
        self.n_state = len(_state_fields(model))

    def forward(self, token: Tensor, *tensors: Tensor) -> tuple[Tensor, ...]:
        from rnnlab.models.seq2seq import Seq2SeqState

        m = self.model
        named = dict(zip((*_state_fields(m), *_fixed_fields(m)), tensors, strict=True))
        # without attention the step reads no memory (an unused field stays None)
        state = Seq2SeqState(
            named.get("memory"), named.get("keys"), named.get("mask"),  # type: ignore[arg-type]
            named["hidden"], named.get("cell"), named.get("feed"), None)
        logits, new = m.step(token, state)
        return (logits, *(getattr(new, f) for f in _state_fields(m)))


def seq2seq(model: Seq2Seq, payload: dict[str, Any], g: torch.Generator) -> dict[str, Any]:
    """The step spec with its encoder's spec under "encoder"; the check chains the step from
    the encoder's outputs on sentences of the source vocabulary's own tokens."""
    from rnnlab.data.tokenizers import BOS_ID, Tokenizer
    from rnnlab.tasks.translate.evaluation import encode_source

    tok = Tokenizer.from_dict(payload["src_tokenizer"])
    join = " " if tok.level == "word" else ""
    rng = random.Random(0)

    def sources(B: int, S: int) -> tuple[Tensor, Tensor]:
        ids = [encode_source(tok, join.join(s))
               for s in _sentences(tok.vocab.itos, B, S, rng, unseen=False)]
        lengths = torch.tensor([len(x) for x in ids])
        src = torch.zeros(B, int(lengths.max()), dtype=torch.long)
        for b, x in enumerate(ids):
            src[b, :len(x)] = torch.tensor(x)
        return src, lengths

    state_names = [f"state_{i}" for i in range(len(_state_fields(model)))]
    fixed = _fixed_fields(model)
    dims = [1 if f in ("hidden", "cell") else 0 for f in _state_fields(model)]
    enc_axes: dict[str, dict[int, str]] = {"src": {0: "batch", 1: "source"},
                                           "src_lengths": {0: "batch"}}
    step_axes: dict[str, dict[int, str]] = {"token": {0: "batch"}, "logits": {0: "batch"}}
    for name, d in zip(state_names, dims, strict=True):
        enc_axes[name] = step_axes[name] = step_axes[f"new_{name}"] = {d: "batch"}
    for f in _encoder_outputs(model):
        enc_axes[f] = {0: "batch", 1: "source"}
        if f in fixed:
            step_axes[f] = enc_axes[f]
    encoder: dict[str, Any] = {"fn": Seq2SeqEncoder(model).eval(), "example": sources(3, 7),
               "inputs": ["src", "src_lengths"],
               "outputs": [*state_names, *_encoder_outputs(model)],
               "axes": enc_axes, "check": [sources(B, S) for B, S in SRC_CHECK]}
    step_fn = Seq2SeqStep(model).eval()
    with torch.no_grad():  # the check: 12 steps the model samples itself after <bos>
        first = encoder["fn"](*encoder["check"][0])
        n = len(state_names)
        first = first[:n + len(fixed)]  # without attention the step reads no memory
        token = torch.full((first[0].shape[1],), BOS_ID, dtype=torch.long)
        tokens, state = [], list(first[:n])
        for _ in range(12):
            tokens.append(token)
            logits, *state = step_fn(token, *state, *first[n:])
            token = torch.multinomial(logits.softmax(-1), 1, generator=g)[:, 0]
    return {"kind": "step", "fn": step_fn, "example": (tokens[0], *first),
            "inputs": ["token", *state_names, *fixed],
            "outputs": ["logits", *[f"new_{s}" for s in state_names]], "axes": step_axes,
            "check": [(tokens[0], *first[:n])], "fixed": list(first[n:]), "chain": tokens,
            "state_dims": dims, "encoder": encoder,
            "meta": {"state_fields": _state_fields(model), "fixed_inputs": fixed,
                     "encoder_file": "FILE.encoder.onnx beside FILE.onnx"}}
