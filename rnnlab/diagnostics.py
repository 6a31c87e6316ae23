"""Gradient-flow diagnostics for recurrent models: vanishing and exploding gradients made visible.

Shapes: B batch, T time, I input features, H hidden, L layers, D directions, G gates.

For the loss of the final step alone, L_T, BPTT sends the gradient back through the chain

    dL_T/dh_t = (dh_{t+1}/dh_t)^T dL_T/dh_{t+1},   Elman: dh_{t+1}/dh_t = diag(1 - h_{t+1}^2) W

so ||dL_T/dh_t|| behaves like a product of T - t Jacobians (Goodfellow et al. 2016, 8.2.5 and
10.7; Pascanu et al. 2013). When the spectral radius of W is below one, or the tanh units sit
in saturation (1 - h^2 ~ 0), the product shrinks geometrically and early inputs stop
influencing learning; above one it may grow instead. The gates of the GRU and LSTM add an
additive path (z ⊙ h_{t-1}, f ⊙ c_{t-1}) whose Jacobian can stay near the identity.

`gradient_flow(model, batch)` measures, for a `RecurrentLM`:

    hidden_grad_norm[k][t]  mean over the batch of ||dL_T/dh_t|| for layer/direction k
    input_grad_norm[t]      mean over the batch of ||dL_T/dx_t|| (x_t: the embedded input)
    saturation[k]           fraction of saturated units: |h| > 0.95 (Elman), gates outside
                            [0.05, 0.95] and |candidate| > 0.95 (GRU, LSTM), overall and per step
    spectral[k]             spectral radius max|eig| and norm sigma_max of each (H, H) block of
                            weight_hh (W for Elman; W_hr, W_hz, W_hn; W_hi, W_hf, W_hg, W_ho)

L_T is summed over the batch, so each example's gradient is its own (not divided by B).
`recurrent_gradient_flow` does the same for any `Recurrent` with a caller-given final loss.
The fused path keeps no per-step states, so a looped copy with the same weights is measured.
Everything returned is plain Python (JSON-ready). Plots import matplotlib lazily.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.errors import RnnlabError
from rnnlab.losses import IGNORE_INDEX
from rnnlab.models.base import LMBatch
from rnnlab.models.cells import Cell, ElmanCell, GRUCell, LSTMCell
from rnnlab.models.recurrent import Recurrent

SATURATION = 0.95  # |tanh| above this has derivative 1 - h^2 < 0.1
GATE_NAMES = {"rnn": ("h",), "gru": ("r", "z", "n"), "lstm": ("i", "f", "g", "o")}
BLOCK_NAMES = {"rnn": ("W",), "gru": ("W_hr", "W_hz", "W_hn"),
               "lstm": ("W_hi", "W_hf", "W_hg", "W_ho")}


# -- a looped copy of a fused stack -----------------------------------------------------------
def loop_copy(rnn: Recurrent) -> Recurrent:
    """A `Recurrent(impl="loop")` with the weights of `rnn` (same dtype and device).

    torch.nn.RNN has two biases; the Elman cell has the notes' single b = bias_ih + bias_hh."""
    if rnn.impl == "loop":
        return rnn
    p0 = next(rnn.parameters())
    copy = Recurrent(rnn.mode, rnn.input_size, rnn.hidden_size, rnn.num_layers, rnn.dropout,
                     rnn.num_directions == 2, impl="loop").to(device=p0.device, dtype=p0.dtype)
    fused = rnn.rnn
    with torch.no_grad():
        for layer in range(rnn.num_layers):
            for d in range(rnn.num_directions):
                suffix = f"l{layer}" + ("_reverse" if d == 1 else "")
                cell = cast(Cell, copy.cells[layer * rnn.num_directions + d])
                w_ih, w_hh, b_ih, b_hh = (
                    getattr(fused, f"{name}_{suffix}")
                    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
                )
                cell.weight_ih.copy_(w_ih)
                cell.weight_hh.copy_(w_hh)
                if rnn.mode == "rnn":
                    cast(ElmanCell, cell).bias.copy_(b_ih + b_hh)
                else:
                    cast(GRUCell | LSTMCell, cell).bias_ih.copy_(b_ih)
                    cast(GRUCell | LSTMCell, cell).bias_hh.copy_(b_hh)
    copy.train(rnn.training)
    return copy


# -- measurements -----------------------------------------------------------------------------
def spectral(rnn: Recurrent) -> list[dict[str, dict[str, float]]]:
    """Per layer/direction: {block: {"radius": max|eig|, "norm": sigma_max}} of weight_hh."""
    cells = loop_copy(rnn).cells
    result = []
    for cell in cells:
        w = cast(Cell, cell).weight_hh.detach().double().cpu()  # (G*H, H)
        blocks = w.chunk(len(BLOCK_NAMES[rnn.mode]), dim=0)  # G x (H, H)
        entry = {}
        for name, block in zip(BLOCK_NAMES[rnn.mode], blocks, strict=True):
            entry[name] = {
                "radius": float(torch.linalg.eigvals(block).abs().max()),
                "norm": float(torch.linalg.matrix_norm(block, ord=2)),
            }
        result.append(entry)
    return result


def _gates(
    mode: str, cell: Cell, xw: Tensor, h_prev: Tensor, h_t: Tensor
) -> dict[str, Tensor]:
    """The gate activations of one step, recomputed from the step's input and states."""
    if mode == "rnn":
        return {"h": h_t}
    gated = cast(GRUCell | LSTMCell, cell)
    hw = F.linear(h_prev, gated.weight_hh, gated.bias_hh if mode == "gru" else None)  # (B, G*H)
    if mode == "gru":
        x_r, x_z, x_n = xw.chunk(3, dim=-1)
        h_r, h_z, h_n = hw.chunk(3, dim=-1)
        r = torch.sigmoid(x_r + h_r)
        return {"r": r, "z": torch.sigmoid(x_z + h_z), "n": torch.tanh(x_n + r * h_n)}
    i, f, g, o = (xw + hw).chunk(4, dim=-1)
    return {"i": torch.sigmoid(i), "f": torch.sigmoid(f), "g": torch.tanh(g), "o": torch.sigmoid(o)}


def _saturated(name: str, a: Tensor) -> Tensor:
    """Fraction per example-step of saturated units; tanh-valued: |a| > 0.95, sigmoid: a outside
    [0.05, 0.95] (both have derivative below ~0.1 of its maximum there)."""
    if name in ("h", "n", "g"):
        return (a.abs() > SATURATION).double().mean(-1)
    return ((a < 1 - SATURATION) | (a > SATURATION)).double().mean(-1)


def recurrent_gradient_flow(
    rnn: Recurrent,
    x: Tensor,
    final_loss: Callable[[Tensor], Tensor],
    feedback: Tensor | None = None,
) -> dict[str, Any]:
    """Gradient flow of `final_loss(outputs (B, T, D*H)) -> scalar` through `rnn` on x (B, T, I).

    `final_loss` should sum per-example losses of the last step; the zero initial state is used.
    Returns the dict described in the module docstring (without `loss` fields of the LM)."""
    loop = loop_copy(rnn)
    was_training = loop.training
    loop.eval()  # no dropout: measure the network, not one dropout mask
    x = x.detach().clone().requires_grad_(True)
    B, T, _ = x.shape
    D = loop.num_directions
    loop.record = True
    try:
        with torch.enable_grad():
            out, _ = loop(x, None, None, feedback)
            traces = loop.recorded  # L*D lists of T tensors (B, H); reverse direction reversed
            loss = final_loss(out)
            hs = [h for trace in traces for h in trace]
            grads = torch.autograd.grad(loss, [x, *hs], allow_unused=True)
    finally:
        loop.record = False
        loop.recorded = []
        loop.train(was_training)

    def norms(g: Tensor | None, like: Tensor) -> Tensor:
        g = torch.zeros_like(like) if g is None else g
        return g.detach().double().norm(dim=-1).mean(0)  # mean over B of the per-example norm

    input_norm = norms(grads[0], x)  # (T,)
    hidden_norm, saturation = [], []
    layer_in = x.detach()
    for layer in range(loop.num_layers):
        outs = []
        for d in range(D):
            k = layer * D + d
            trace = traces[k]
            g_k = grads[1 + k * T: 1 + (k + 1) * T]
            curve = torch.stack([norms(g, h) for g, h in zip(g_k, trace, strict=True)])  # (T,)
            hs_k = torch.stack([h.detach() for h in trace], dim=1)  # (B, T, H) in step order
            cell = cast(Cell, loop.cells[k])
            with torch.no_grad():
                xw = cell.project(layer_in, feedback if layer == 0 else None)  # (B, T, G*H)
                if d == 1:
                    xw, curve_t = xw.flip(1), curve.flip(0)  # the reverse cell reads time backwards
                else:
                    curve_t = curve
                h_prev = torch.cat([torch.zeros_like(hs_k[:, :1]), hs_k[:, :-1]], dim=1)
                sat_steps: dict[str, list[Tensor]] = {name: [] for name in GATE_NAMES[loop.mode]}
                for t in range(T):
                    gates = _gates(loop.mode, cell, xw[:, t], h_prev[:, t], hs_k[:, t])
                    for name, a in gates.items():
                        sat_steps[name].append(_saturated(name, a).mean())  # mean over B
            per_step = {n: torch.stack(v) for n, v in sat_steps.items()}  # (T,) in step order
            if d == 1:
                per_step = {n: v.flip(0) for n, v in per_step.items()}
                hs_k = hs_k.flip(1)
            hidden_norm.append(curve_t.tolist())
            saturation.append({
                "overall": {n: float(v.mean()) for n, v in per_step.items()},
                "over_time": {n: v.tolist() for n, v in per_step.items()},
            })
            outs.append(hs_k)
        layer_in = torch.cat(outs, dim=-1)  # (B, T, D*H), eval mode: no dropout between layers
    return {
        "mode": loop.mode,
        "batch_size": B,
        "seq_len": T,
        "num_layers": loop.num_layers,
        "num_directions": D,
        "final_loss": float(loss.detach()) / B,
        "hidden_grad_norm": hidden_norm,
        "input_grad_norm": input_norm.tolist(),
        "saturation": saturation,
        "spectral": spectral(rnn),
    }


def gradient_flow(model: nn.Module, batch: LMBatch) -> dict[str, Any]:
    """Gradient flow of a `RecurrentLM` on a full-length batch (inputs (B, T), targets (B, T)).

    L_T is the cross-entropy of the last position, summed over the batch; x_t is the embedding
    e_t fed to the recurrent stack. Works for impl "fused" and "loop", every cell, with feedback.
    """
    for attr in ("embedding", "rnn", "head"):
        if not hasattr(model, attr):
            raise RnnlabError(
                f"gradient_flow needs a recurrent language model (embedding, rnn, head), got "
                f"{type(model).__name__}; for other heads call recurrent_gradient_flow"
            )
    if not isinstance(model.rnn, Recurrent):
        raise RnnlabError(f"model.rnn must be a Recurrent, got {type(model.rnn).__name__}")
    if batch.targets is None:
        raise RnnlabError("gradient_flow needs targets: the final loss L_T is measured")
    inputs, targets = batch.inputs, batch.targets
    if batch.lengths is not None and bool((batch.lengths < inputs.shape[1]).any()):
        # the loop records masked outputs, not states, on padded steps (see the report)
        raise RnnlabError(
            f"gradient_flow measures full-length sequences, got a padded batch with lengths "
            f"{batch.lengths.tolist()} < T={inputs.shape[1]}; pass a stream chunk or a batch "
            "of equal-length sequences (lengths=None)"
        )
    with torch.no_grad():
        emb = cast(nn.Module, model.embedding)(inputs)  # (B, T, E)
    feedback = inputs if getattr(model, "hparams", {}).get("feedback") else None

    def final_loss(out: Tensor) -> Tensor:
        head = (cast(Callable[[Tensor], Tensor], model.logits) if hasattr(model, "logits")
                else cast(nn.Module, model.head))
        logits = head(out[:, -1])  # (B, V)
        return F.cross_entropy(logits, targets[:, -1], ignore_index=IGNORE_INDEX,
                               reduction="sum")

    was_training = model.training
    model.eval()
    try:
        result = recurrent_gradient_flow(model.rnn, emb, final_loss, feedback)
    finally:
        model.train(was_training)
    return result


def grad_norms(parameters: Iterable[tuple[str, nn.Parameter]]) -> dict[str, float]:
    """L2 norms of the current .grad of each named parameter, plus "total" (the norm that
    `clip_grad_norm_` clips). Call after backward(), e.g. `grad_norms(model.named_parameters())`."""
    out: dict[str, float] = {}
    total = 0.0
    for name, p in parameters:
        if p.grad is None:
            continue
        n = float(p.grad.detach().double().norm())
        out[name] = n
        total += n * n
    out["total"] = total ** 0.5
    return out


# -- output ----------------------------------------------------------------------------------
def _pyplot() -> Any:
    from rnnlab.plots import figures  # files only; the caller's backend is left alone

    return figures()


def _label(result: dict[str, Any], k: int) -> str:
    layer, d = divmod(k, result["num_directions"])
    return f"layer {layer}" + (" reverse" if d == 1 else "")


def plot_gradient_flow(result: dict[str, Any], path: str | Path, title: str | None = None) -> Path:
    """Three panels: ||dL_T/dh_t|| and ||dL_T/dx_t|| over t (log scale), saturation over t."""
    plt = _pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    steps = range(1, result["seq_len"] + 1)
    for k, curve in enumerate(result["hidden_grad_norm"]):
        axes[0].semilogy(steps, [max(v, 1e-300) for v in curve], label=_label(result, k))
    axes[0].set_title(r"$\|\partial L_T / \partial h_t\|$")
    axes[1].semilogy(steps, [max(v, 1e-300) for v in result["input_grad_norm"]])
    axes[1].set_title(r"$\|\partial L_T / \partial x_t\|$")
    for k, sat in enumerate(result["saturation"]):
        for name, curve in sat["over_time"].items():
            axes[2].plot(steps, curve, label=f"{_label(result, k)} {name}")
    axes[2].set_title("saturated fraction")
    axes[2].set_ylim(0, 1)
    for ax in axes:
        ax.set_xlabel("t")
    axes[0].legend(fontsize=7)
    axes[2].legend(fontsize=7)
    radii = ", ".join(f"{n} {v['radius']:.2f}" for n, v in result["spectral"][0].items())
    fig.suptitle(title or f"{result['mode']}: L_T = {result['final_loss']:.3f}; "
                 f"spectral radius (layer 0): {radii}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    plt.close(fig)
    return path


def plot_curves(
    curves: dict[str, list[float]], path: str | Path, title: str, ylabel: str = "",
    logy: bool = True, styles: dict[str, dict[str, Any]] | None = None,
    xlabel: str = "t", xstep: float = 1.0,
) -> Path:
    """Overlay named curves on one axis (e.g. ||dL_T/dh_t|| over t of several models); point i
    is drawn at x = (i + 1) * xstep; `styles` maps a curve name to matplotlib line keywords."""
    plt = _pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    floor = None
    if logy:
        # exact zeros (a float32 tanh saturated to +-1 has derivative 0) and values 30 decades
        # below the top would squash every other curve: draw them on a floor line instead
        top = max((v for c in curves.values() for v in c if math.isfinite(v)), default=1.0)
        floor = top * 1e-30
    for name, curve in curves.items():
        ys = [max(v, floor) for v in curve] if floor else curve
        xs = [(i + 1) * xstep for i in range(len(curve))]
        ax.plot(xs, ys, label=name, **(styles or {}).get(name, {}))
    if logy:
        ax.set_yscale("log")
        low = cast(float, floor)  # set above under logy
        if any(v < low for c in curves.values() for v in c):
            ax.axhline(low, color="gray", lw=0.5)
            ax.text(xstep, low * 3, "below 1e-30 of the top, or exactly 0", fontsize=6)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    plt.close(fig)
    return path


def write_report(result: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write gradient_flow.json and gradient_flow.png into out_dir; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "gradient_flow.json"
    json_path.write_text(json.dumps(result, indent=1))
    return {"json": json_path, "png": plot_gradient_flow(result, out / "gradient_flow.png")}


def diagnose_stream(
    model: nn.Module, ids: list[int], out_dir: str | Path, seq_len: int, batch_size: int,
    checkpoint: str,
) -> dict[str, Any]:
    """`gradient_flow` on the first `batch_size` x `seq_len` (+1) tokens of a stream of ids,
    reshaped (B, T); writes gradient_flow.json and .png into `out_dir`."""
    import numpy as np

    if seq_len < 2 or batch_size < 1:
        raise RnnlabError(
            f"--seq-len must be >= 2 and --batch-size >= 1, got {seq_len} and {batch_size}"
        )
    need = batch_size * seq_len + 1
    if len(ids) < need:
        raise RnnlabError(
            f"diagnosis needs {need} tokens (--batch-size {batch_size} x --seq-len {seq_len} "
            f"+ 1), the data has {len(ids)}; lower --seq-len or --batch-size"
        )
    a = np.asarray(ids[:need], dtype=np.int64)
    x = torch.from_numpy(a[:-1].reshape(batch_size, seq_len))  # (B, T)
    y = torch.from_numpy(a[1:].reshape(batch_size, seq_len))
    result = gradient_flow(model, LMBatch(x, y, None, True))
    result["checkpoint"] = checkpoint
    return {"result": result, "paths": write_report(result, out_dir)}
