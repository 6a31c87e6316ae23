"""Sampling from an exported step function (`rnnlab export`) with ONNX Runtime alone: no
torch, no checkpoint. The file's metadata ("rnnlab") carries the tokenizer and how the state
starts; the state is carried token by token, as `rnnlab.decoding` does in PyTorch.

Shapes: N samples (the batch), V vocabulary.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rnnlab.errors import RnnlabError


def open_step(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """(ONNX Runtime session, the export's metadata) of a step-function export."""
    from rnnlab.export.onnx import _onnx

    _, ort = _onnx()
    p = Path(path)
    if not p.is_file():
        raise RnnlabError(f"{str(p)!r} does not exist; export a run with `rnnlab export RUN "
                          "--format onnx --out FILE.onnx`")
    try:
        sess = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own types for foreign files
        raise RnnlabError(f"{str(p)!r} is not a readable ONNX file ({type(e).__name__})") from None
    meta = sess.get_modelmeta().custom_metadata_map.get("rnnlab")
    if meta is None:
        raise RnnlabError(f"{str(p)!r} was not written by `rnnlab export` (no rnnlab metadata)")
    meta = json.loads(meta)
    if meta["kind"] != "step":
        raise RnnlabError(f"{str(p)!r} exports a {meta['task']} model's {meta['kind']} function, "
                          "not a step function; generation needs a language model's export")
    if meta.get("initial_state") is None:
        raise RnnlabError(f"{str(p)!r}: a {meta['model_class']} starts from its class's state, "
                          "which the file does not hold; generate from the run folder instead")
    return sess, meta


def generate_onnx(path: str | Path, prompt: str = "", num: int = 10,
                  max_new_tokens: int = 100, temperature: float = 1.0,
                  top_k: int | None = None, seed: int = 0, greedy: bool = False) -> list[str]:
    """`num` continuations of `prompt`, sampled (or greedy) from the exported step function.
    A line model starts after <bos>; a stream model needs a prompt."""
    import numpy as np

    from rnnlab.data.tokenizers import BOS_ID, EOS_ID, PAD_ID, UNK_ID, Tokenizer

    sess, meta = open_step(path)
    tok = Tokenizer.from_dict(meta["tokenizer"])
    ids = tok.encode(prompt) if prompt else []
    if meta.get("bos", True):  # a line model reads <bos> first
        ids = [BOS_ID, *ids]
    elif not ids:
        raise RnnlabError("this model was trained on a text stream and has no start token: "
                          "give a --prompt")
    fill = 0.0 if meta["initial_state"] == "zeros" else BOS_ID
    states = []
    for inp, dim in zip(sess.get_inputs()[1:], meta["state_batch_dims"], strict=True):
        shape = [num if i == dim else int(d) for i, d in enumerate(inp.shape)]
        dtype = np.int64 if "int64" in inp.type else np.float32
        states.append(np.full(shape, fill, dtype=dtype))
    names = [i.name for i in sess.get_inputs()]
    rng = np.random.default_rng(seed)
    out: list[list[int]] = [[] for _ in range(num)]
    done = np.zeros(num, dtype=bool)
    token = np.full(num, ids[0], dtype=np.int64)
    for t in range(len(ids) - 1 + max_new_tokens):
        logits, *states = sess.run(None, dict(zip(names, [token, *states], strict=True)))
        if t + 1 < len(ids):  # still reading the prompt
            token = np.full(num, ids[t + 1], dtype=np.int64)
            continue
        z = logits.astype(np.float64) / max(temperature, 1e-8)  # (N, V)
        z[:, PAD_ID] = z[:, BOS_ID] = -np.inf  # never emitted
        if meta.get("block_unk"):  # as rnnlab's own sampler: <unk> was never trained
            z[:, UNK_ID] = -np.inf
        if top_k:
            kth = np.sort(z, axis=1)[:, -top_k][:, None]
            z = np.where(z < kth, -np.inf, z)
        if greedy:
            token = z.argmax(1)
        else:
            p = np.exp(z - z.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            token = np.array([rng.choice(len(row), p=row) for row in p], dtype=np.int64)
        for i in np.flatnonzero(~done):
            if token[i] == EOS_ID:
                done[i] = True
            else:
                out[i].append(int(token[i]))
        if done.all():
            break
    sep = " " if tok.level == "word" and prompt else ""
    return [prompt + sep + tok.decode(row) for row in out]
