"""ONNX export of a trained run's model (torch.onnx), checked against PyTorch with ONNX Runtime,
and sampling from an exported step function.

Shapes: B batch (dynamic in every export), T time (dynamic where the model reads a sequence),
V vocabulary, K classes, S forecast steps, L layers, H hidden.

What is exported depends on the model's interface, not on its task:
    step      a generative model (`prefill`/`step`: language models, conditional decoders):
              `(token (B,), state...) -> (logits (B, V), state...)`, the state flattened to
              tensors named state_0 ..; the encoder-decoder's step also reads the encoder's
              outputs, and its encoder goes to a second file FILE.encoder.onnx
              (export_specs.py)
    sequence  a classifier (`forward(batch)` of inputs and lengths, or the model's own
              `onnx_forward(inputs, lengths)`): `(inputs (B, T), lengths (B,)) -> logits`
              ((B, K), or (B, T, V) with a dynamic T); the tagger reads a TagBatch's five
              tensors (`onnx_forward(words, chars, char_lengths, forms, lengths)`) ->
              (B, T, K) tag scores (export_specs.py)
    forecast  a forecaster: `(inputs (B, T)) -> forecast (B, S)` (the next S values)
Count models (n-grams) have tables, not a graph: they are refused with the reason.

The file carries what a user needs beside the graph, as JSON in the model's metadata_props
under "rnnlab": task, kind, model class and hparams, the tokenizer (and labels), state names
and how the state starts. `onnx` and `onnxruntime` are an optional extra (`pip install
rnnlab[export]`), imported only here.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import Tensor, nn

from rnnlab.errors import RnnlabError
from rnnlab.models.forecaster import ForecastCombination

if TYPE_CHECKING:
    import numpy as np
    import onnxruntime

    from rnnlab.models.base import Decoder
    from rnnlab.models.forecaster import Forecaster
    from rnnlab.models.recurrent import Recurrent
    from rnnlab.models.seq2seq import Seq2Seq
    from rnnlab.models.tagger import SequenceTagger

TOLERANCE = 1e-5
FORMATS = ("onnx",)
OPSET = 17


def _onnx() -> tuple[ModuleType, ModuleType]:
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise RnnlabError("ONNX export needs the optional packages onnx and onnxruntime: "
                          "pip install 'rnnlab[export]'") from None
    return onnx, onnxruntime


# -- the exported functions ------------------------------------------------------------
class StepFunction(nn.Module):
    """`step(token, state)` with the state as separate tensors (ONNX has no tuples)."""

    def __init__(self, model: nn.Module, tuple_state: bool) -> None:
        super().__init__()
        self.model, self.tuple_state = model, tuple_state

    def forward(self, token: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        model = cast("Decoder", self.model)
        logits, new = model.step(token, tuple(state) if self.tuple_state else state[0])
        return (logits, *(new if isinstance(new, tuple) else (new,)))


class SequenceFunction(nn.Module):
    """`forward` of a classifier or tagger on (inputs, lengths): the logits alone. A model
    whose batch is not a ClassBatch says how to read the two (`onnx_forward(inputs,
    lengths) -> logits`)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: Tensor, lengths: Tensor) -> Tensor:
        from rnnlab.models.base import ClassBatch

        own = getattr(self.model, "onnx_forward", None)
        if own is not None:
            return own(inputs, lengths)
        return self.model(ClassBatch(inputs, lengths, None, True)).logits


class ForecastFunction(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: Tensor) -> Tensor:
        from rnnlab.models.base import SeriesBatch

        return self.model(SeriesBatch(inputs, None)).logits[..., 0]  # (B, S)


def _batch_dim(t: Tensor) -> int:
    return 1 if t.dim() == 3 else 0  # recurrent states (L, B, H); the rest (B, ...)


def fused_copy(model: nn.Module) -> nn.Module:
    """A model with the hand-written loop (`impl="loop"`) rebuilt on torch.nn's fused layers,
    same weights: a traced loop is unrolled to the example's length, a fused layer exports
    as one ONNX RNN/GRU/LSTM node of any length. The cells use torch.nn's names and gate
    order; the Elman cell's one bias becomes bias_ih (bias_hh = 0)."""
    rnn = getattr(model, "rnn", None)
    if getattr(rnn, "impl", "fused") != "loop":
        return model
    rnn = cast("Recurrent", rnn)
    if rnn.feedback_size:
        raise RnnlabError("a model with output-to-hidden feedback (--feedback) has no fused "
                          "torch.nn equivalent to export; retrain without --feedback")
    twin = type(model)(**{**cast(dict[str, Any], model.hparams), "impl": "fused"})
    D, state = rnn.num_directions, {}
    for key, value in model.state_dict().items():
        m = re.fullmatch(r"rnn\.cells\.(\d+)\.(\w+)", key)
        if m is None:
            state[key] = value
            continue
        layer, d = divmod(int(m[1]), D)
        suffix = f"_l{layer}" + ("_reverse" if d else "")
        name = "bias_ih" if m[2] == "bias" else m[2]
        state[f"rnn.rnn.{name}{suffix}"] = value
        if m[2] == "bias":
            state[f"rnn.rnn.bias_hh{suffix}"] = torch.zeros_like(value)
    twin.load_state_dict(state)
    return twin.eval()


# -- what to export and the inputs it is checked on ----------------------------------------
def _kind(model: nn.Module) -> str:
    if isinstance(model, ForecastCombination):  # auto kept classical models or a mean
        raise RnnlabError(
            f"{type(model).__name__}: this forecasting run kept classical models or a mean of "
            "several models (auto.json), which compute in NumPy and statsmodels, not one "
            "network: there is no graph to export; use the run with rnnlab directly, or train "
            "a named model (--model mlp, gru, ...) to export it")
    if hasattr(model, "fit_counts") or not any(True for _ in model.parameters()):
        raise RnnlabError(
            f"{type(model).__name__} is a count model: its probabilities are tables in the "
            "checkpoint, not a network, so there is no graph to export; use the run with "
            "rnnlab directly (or export a recurrent model)")
    if hasattr(model, "step") and hasattr(model, "prefill"):
        return "step"
    if hasattr(model, "forecast"):
        return "forecast"
    return "sequence"


def _real_tokens(model: nn.Module, B: int, steps: int, condition: Tensor | None,
                 g: torch.Generator) -> tuple[list[Tensor], list[Any]]:
    """(token, state) pairs along B trajectories the model samples itself from <bos>: the
    inputs a step function meets when generating."""
    from rnnlab.data.tokenizers import BOS_ID

    prompt = torch.full((B, 1), BOS_ID, dtype=torch.long)
    dec = cast("Decoder", model)
    logits, state = (dec.prefill(prompt) if condition is None
                     else dec.prefill(prompt, condition))
    pairs = []
    for _ in range(steps):
        token = torch.multinomial(torch.softmax(logits.float(), -1), 1, generator=g)[:, 0]
        pairs.append((token, state))
        logits, state = dec.step(token, state)
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _spec(model: nn.Module, payload: dict[str, Any]) -> dict[str, Any]:
    """The function to export, its example inputs, names, dynamic axes and check inputs."""
    from rnnlab.export import specs as export_specs

    g = torch.Generator().manual_seed(0)
    kind = _kind(model)
    name = type(model).__name__
    if name == "SequenceTagger":
        return export_specs.tagger(cast("SequenceTagger", model), payload)
    if name == "Seq2Seq":
        return export_specs.seq2seq(cast("Seq2Seq", model), payload, g)
    if kind == "step":
        labels = payload.get("labels")
        cond = None
        if labels is not None and getattr(model, "mode", "none") != "none":
            cond = torch.arange(3) % len(labels["labels"] if isinstance(labels, dict)
                                         else labels)
        tokens, states = _real_tokens(model, 3, 12, cond, g)
        tuple_state = isinstance(states[0], tuple)
        flat = [list(s) if tuple_state else [s] for s in states]
        n = len(flat[0])
        names = [f"state_{i}" for i in range(n)]
        axes = {"token": {0: "batch"}, "logits": {0: "batch"}}
        for i, t in enumerate(flat[0]):
            axes[names[i]] = axes[f"new_{names[i]}"] = {_batch_dim(t): "batch"}
        return {"kind": kind, "fn": StepFunction(model, tuple_state).eval(),
                "example": (tokens[0], *flat[0]), "inputs": ["token", *names],
                "outputs": ["logits", *[f"new_{s}" for s in names]], "axes": axes,
                "check": [(tokens[0], *flat[0])], "chain": tokens,
                "state_dims": [_batch_dim(t) for t in flat[0]]}
    if kind == "forecast":
        fc = cast("Forecaster", model)
        C = fc.context
        walk = torch.randn(4, C + 8, generator=g).cumsum(1) * 0.3  # scaled units
        return {"kind": kind, "fn": ForecastFunction(model).eval(), "example": (walk[:2, :C],),
                "inputs": ["inputs"], "outputs": ["forecast"],
                "axes": {"inputs": {0: "batch", 1: "time"}, "forecast": {0: "batch"}},
                "check": [(walk[:, :C],), (walk[:3, :],)] if fc.recurrent else
                [(walk[:, :C],)]}
    V = cast(nn.Embedding, model.embedding).num_embeddings

    def seqs(B: int, T: int) -> tuple[Tensor, Tensor]:
        lengths = torch.randint(1, T + 1, (B,), generator=g)
        lengths[0] = T
        x = torch.randint(4, max(5, V), (B, T), generator=g)  # ids of real tokens (>= 4)
        return x.masked_fill(torch.arange(T) >= lengths[:, None], 0), lengths

    fn, example = SequenceFunction(model).eval(), seqs(3, 7)
    with torch.no_grad():  # a tagger's logits (B, T, V) have a dynamic length too
        per_step = fn(*example).dim() == 3
    return {"kind": kind, "fn": fn, "example": example,
            "inputs": ["inputs", "lengths"], "outputs": ["logits"],
            "axes": {"inputs": {0: "batch", 1: "time"}, "lengths": {0: "batch"},
                     "logits": {0: "batch", 1: "time"} if per_step else {0: "batch"}},
            "check": [seqs(5, 13), seqs(1, 3)]}


# -- export and check --------------------------------------------------------------------
def export(run: str | Path, out: str | Path, fmt: str = "onnx") -> dict[str, Any]:
    """Export the best model of `run` to `out` and check it with ONNX Runtime; returns
    {"path", "kind", "inputs", "outputs", "max_abs_diff", "tolerance", "checked"}."""
    if fmt not in FORMATS:
        raise RnnlabError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    onnx, _ = _onnx()
    from rnnlab.data.tokenizers import unk_untrained
    from rnnlab.run import load

    loaded = load(run)
    model = fused_copy(loaded.model.eval())
    spec = _spec(model, loaded.payload)
    out = Path(out)
    if out.suffix != ".onnx":
        raise RnnlabError(f"--out {str(out)!r}: name the file FILE.onnx")
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"task": loaded.task, "kind": spec["kind"], "model_class": type(model).__name__,
            "hparams": model.hparams, "inputs": spec["inputs"], "outputs": spec["outputs"],
            **{k: loaded.payload[k] for k in PAYLOAD_KEYS if k in loaded.payload},
            **spec.get("meta", {})}
    if spec["kind"] == "step":
        meta["state_batch_dims"] = spec["state_dims"]
        meta["initial_state"] = _initial_state(model)
        meta["bos"] = getattr(loaded.cfg.data, "format", "lines") != "text"
        meta["block_unk"] = unk_untrained(loaded.cfg.data)  # as rnnlab's own samplers
    _write(onnx, spec, out, meta)
    result = {"path": str(out), "kind": spec["kind"], "inputs": spec["inputs"],
              "outputs": spec["outputs"]}
    if "encoder" in spec:  # the encoder-decoder's second file
        enc = spec["encoder"]
        enc_path = encoder_path(out)
        _write(onnx, {**enc, "kind": "encoder"}, enc_path,
               {**meta, "kind": "encoder", "inputs": enc["inputs"], "outputs": enc["outputs"],
                "step_file": out.name})
        result["encoder_path"] = str(enc_path)
    diff = check(out, spec)
    return {**result, "max_abs_diff": diff, "tolerance": TOLERANCE, "checked": _checked(spec)}


# what of a run's payload a user needs beside the graph (vocabularies, labels)
PAYLOAD_KEYS = ("tokenizer", "labels", "tagging", "src_tokenizer", "tgt_tokenizer")


def encoder_path(out: Path) -> Path:
    """FILE.onnx -> FILE.encoder.onnx, where an encoder-decoder's encoder goes."""
    return out.with_name(out.name[:-len(".onnx")] + ".encoder.onnx")


def _write(onnx: ModuleType, spec: dict[str, Any], out: Path, meta: dict[str, Any]) -> None:
    with warnings.catch_warnings():  # the TorchScript exporter warns about batch_first etc.
        warnings.simplefilter("ignore")
        torch.onnx.export(spec["fn"], spec["example"], str(out), dynamo=False,
                          input_names=spec["inputs"], output_names=spec["outputs"],
                          dynamic_axes=spec["axes"], opset_version=OPSET)
    proto = onnx.load(str(out))
    entry = proto.metadata_props.add()
    entry.key, entry.value = "rnnlab", json.dumps(meta)
    onnx.save(proto, str(out))


def _initial_state(model: nn.Module) -> str | None:
    """How a generation starts without a prompt's state: "zeros" (recurrent LMs), "bos"
    (window LMs: the context filled with <bos>), None (a conditional model's class state)."""
    name = type(model).__name__
    return {"RecurrentLM": "zeros", "WindowLM": "bos"}.get(name)


def _checked(spec: dict[str, Any]) -> str:
    if "encoder" in spec:
        src = spec["encoder"]["check"][0][0]
        return (f"{len(spec['chain'])} steps of {src.shape[0]} source sentences of the "
                "run's vocabulary, each side from its own encoder, the state carried by "
                "each side")
    if spec["kind"] == "step":
        return (f"{len(spec['chain'])} steps of 3 sequences the model samples from <bos>, "
                "the state carried by each side")
    shapes = ", ".join("x".join(str(d) for d in c[0].shape) for c in spec["check"])
    return f"inputs of shape {shapes} (batch and length other than the export's example)"


def _session(path: Path) -> onnxruntime.InferenceSession:
    _, ort = _onnx()
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _diff(got: list[np.ndarray], ref: Tensor | tuple[Tensor, ...] | list[Tensor]) -> float:
    """max |onnx - torch| / (1 + |torch|): absolute for values within +-1, relative beyond,
    where float32 rounding grows with the value (log-probabilities of rare words near -20,
    summed in another order, differ by ~1e-5)."""
    ref = ref if isinstance(ref, tuple | list) else (ref,)
    out = 0.0
    for o, r in zip(got, ref, strict=True):
        if o.size:
            r64 = r.numpy().astype(float)
            out = max(out, float((abs(o.astype(float) - r64) / (1 + abs(r64))).max()))
    return out


def check(path: Path, spec: dict[str, Any]) -> float:
    """Max |ONNX Runtime - PyTorch| / (1 + |PyTorch|) over every output on the spec's check
    inputs; raises if above TOLERANCE. A step function is chained: each side feeds its own
    state back. An encoder-decoder is run from the source on each side: its encoder file's
    outputs start the ONNX chain, PyTorch's the PyTorch one."""
    sess = _session(path)
    worst = 0.0
    with torch.no_grad():
        if spec["kind"] == "step":
            torch_in = list(spec["check"][0])
            onnx_state = [t.numpy() for t in torch_in[1:]]
            fixed = spec.get("fixed", [])
            onnx_fixed = [t.numpy() for t in fixed]
            if "encoder" in spec:
                enc = spec["encoder"]
                worst = _check_sequence(_session(encoder_path(path)), enc)
                got = _session(encoder_path(path)).run(None, {
                    n: t.numpy() for n, t in zip(enc["inputs"], enc["check"][0], strict=True)})
                n_state = len(onnx_state)
                onnx_state, onnx_fixed = got[:n_state], got[n_state:n_state + len(fixed)]
            for token in spec["chain"]:
                ref = spec["fn"](token, *torch_in[1:], *fixed)
                got = sess.run(None, {"token": token.numpy(), **dict(zip(
                    spec["inputs"][1:], [*onnx_state, *onnx_fixed], strict=True))})
                worst = max(worst, _diff(got, ref))
                torch_in, onnx_state = [token, *ref[1:]], got[1:]
        else:
            worst = _check_sequence(sess, spec)
    if not worst <= TOLERANCE:
        raise RnnlabError(f"the ONNX export of {path} differs from PyTorch by {worst:.2e} "
                          f"(> {TOLERANCE:g}); the file was written but should not be used")
    return worst


def _check_sequence(sess: onnxruntime.InferenceSession, spec: dict[str, Any]) -> float:
    worst = 0.0
    with torch.no_grad():
        for inputs in spec["check"]:
            got = sess.run(None, {n: t.numpy() for n, t in
                                  zip(spec["inputs"], inputs, strict=True)})
            worst = max(worst, _diff(got, spec["fn"](*inputs)))
    return worst
