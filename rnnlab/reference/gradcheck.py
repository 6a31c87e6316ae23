"""The NumPy BPTT reference (`numpy_bptt.backward`) checked two ways on a small Elman RNN:
against PyTorch autograd through rnnlab's own Elman cell (`Recurrent("rnn", impl="loop")`,
float64) and against central finite differences of `numpy_bptt.nll`. What `rnnlab
gradcheck` runs; tests/reference/test_numpy_bptt.py checks the same (and the truncated and
feedback cases) with its own copies of these loops.

Shapes: B batch, T time, V vocabulary (input ids and output classes), H hidden.

Error per parameter: max |a - b| / max(max |a|, max |b|), the largest entry error against
the gradient's own scale, so entries that are exactly 0 in both (ids never seen) or tiny
do not divide by ~0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnlab.reference import numpy_bptt as nb

BATCH = 3
WEIGHT_SCALE = 2.0  # weights of U(-2/sqrt(H), 2/sqrt(H)) put units in tanh's curved range
EPS = 1e-5  # the finite-difference step: error O(EPS^2) + rounding O(1e-16 / EPS)
TOLERANCE = {"autograd": 1e-10, "finite_differences": 1e-6}
TORCH_NAMES = {"U": "weight_ih", "W": "weight_hh", "b": "bias"}


def max_rel_err(a: np.ndarray, b: np.ndarray) -> float:
    scale = max(float(np.abs(a).max(initial=0.0)), float(np.abs(b).max(initial=0.0)), 1e-300)
    return float(np.abs(a - b).max(initial=0.0) / scale)


def problem(hidden_size: int, seq_len: int, vocab: int, seed: int
            ) -> tuple[nb.Params, np.ndarray, np.ndarray, np.ndarray]:
    """(params, ids x (B, T), targets (B, T), h0 (B, H)) of a seeded random problem."""
    rng = np.random.default_rng(seed)
    params = nb.init_params(vocab, hidden_size, vocab, seed=seed)
    for v in params.values():
        v *= WEIGHT_SCALE
    x = rng.integers(0, vocab, (BATCH, seq_len))
    y = rng.integers(0, vocab, (BATCH, seq_len))
    h0 = rng.normal(scale=0.5, size=(BATCH, hidden_size))
    return params, x, y, h0


def finite_differences(params: nb.Params, x: np.ndarray, y: np.ndarray, h0: np.ndarray,
                       eps: float = EPS) -> nb.Params:
    """dL/dθ by (L(θ + eps) - L(θ - eps)) / 2 eps, one entry at a time (2 forward passes
    per parameter entry)."""
    out = {}
    for name, p in params.items():
        fd = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            old = p[i]
            p[i] = old + eps
            up = nb.nll(nb.forward(params, x, h0), y)
            p[i] = old - eps
            down = nb.nll(nb.forward(params, x, h0), y)
            p[i] = old
            fd[i] = (up - down) / (2 * eps)
        out[name] = fd
    return out


def autograd(params: nb.Params, x: np.ndarray, y: np.ndarray, h0: np.ndarray
             ) -> tuple[float, nb.Params]:
    """(L, dL/dθ) by autograd through `Recurrent("rnn", impl="loop")` + a V/c head, float64,
    the same parameters copied in."""
    import torch
    import torch.nn.functional as F

    from rnnlab.models.recurrent import Recurrent

    V_, H = params["V"].shape
    rnn = Recurrent("rnn", params["U"].shape[1], H, impl="loop").double()
    cell = rnn.cells[0]
    with torch.no_grad():
        for name, tname in TORCH_NAMES.items():
            getattr(cell, tname).copy_(torch.from_numpy(params[name]))
    V = torch.tensor(params["V"], requires_grad=True)
    c = torch.tensor(params["c"], requires_grad=True)
    xt = F.one_hot(torch.from_numpy(x), params["U"].shape[1]).double()
    out, _ = rnn(xt, torch.from_numpy(h0).unsqueeze(0), None, None)
    logits = out @ V.T + c  # (B, T, V)
    loss = F.cross_entropy(logits.reshape(-1, V_), torch.from_numpy(y).reshape(-1),
                           reduction="sum")
    loss.backward()
    grads = {name: getattr(cell, tname).grad.numpy() for name, tname in TORCH_NAMES.items()}
    grads["V"], grads["c"] = V.grad.numpy(), c.grad.numpy()  # type: ignore[union-attr]
    return float(loss.detach()), grads


def gradcheck(hidden_size: int = 4, seq_len: int = 7, vocab: int = 6, seed: int = 0
              ) -> dict[str, Any]:
    """The reference's gradients against autograd and finite differences: {"sizes", "loss",
    "autograd_loss", "errors": {param: {"autograd", "finite_differences"}}, "tolerance",
    "passed"}."""
    params, x, y, h0 = problem(hidden_size, seq_len, vocab, seed)
    cache = nb.forward(params, x, h0)
    grads = nb.backward(params, cache, y).grads
    loss, torch_grads = autograd(params, x, y, h0)
    fd = finite_differences(params, x, y, h0)
    errors = {name: {"autograd": max_rel_err(grads[name], torch_grads[name]),
                     "finite_differences": max_rel_err(grads[name], fd[name])}
              for name in params}  # U, W, b, V, c
    passed = all(e[k] <= TOLERANCE[k] for e in errors.values() for k in TOLERANCE)
    return {"sizes": {"batch": BATCH, "seq_len": seq_len, "vocab": vocab,
                      "hidden_size": hidden_size, "seed": seed},
            "loss": nb.nll(cache, y), "autograd_loss": loss, "errors": errors,
            "tolerance": dict(TOLERANCE), "passed": passed}
