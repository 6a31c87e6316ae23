"""The NumPy BPTT reference against central finite differences and against autograd through
rnnlab's Elman model (float64), full and truncated. Dropping any term of the backward pass
(e.g. the W^T dL/da_{t+1} term that carries gradients through time) fails these tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rnnlab.errors import RnnlabError
from rnnlab.models.base import LMBatch
from rnnlab.models.lm import RecurrentLM
from rnnlab.models.recurrent import Recurrent
from rnnlab.reference import numpy_bptt as nb

B, T, I, H, K = 3, 7, 5, 4, 6
TORCH_NAMES = {"U": "weight_ih", "W": "weight_hh", "b": "bias", "R": "weight_fb"}


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / max(||a||, ||b||): scale-free, and meaningful for arrays of tiny entries."""
    scale = max(np.linalg.norm(a), np.linalg.norm(b), 1e-300)
    return float(np.linalg.norm(a - b) / scale)


def problem(feedback: bool, ids: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    # scale 1.0 weights put units in the non-linear range, so every term matters
    params = nb.init_params(I, H, K, K if feedback else 0, seed=seed)
    for v in params.values():
        v *= 2.0
    x = rng.integers(0, I, (B, T)) if ids else rng.normal(size=(B, T, I))
    y = rng.integers(0, K, (B, T))
    y_prev = rng.integers(0, K, (B, T)) if feedback else None
    h0 = rng.normal(scale=0.5, size=(B, H))
    return params, x, y, y_prev, h0


def loss_of(params, x, y, y_prev, h0) -> float:
    return nb.nll(nb.forward(params, x, h0, y_prev), y)


@pytest.mark.parametrize("feedback,ids", [(True, True), (False, False), (True, False)])
def test_gradients_equal_central_finite_differences(feedback: bool, ids: bool) -> None:
    params, x, y, y_prev, h0 = problem(feedback, ids)
    cache = nb.forward(params, x, h0, y_prev)
    g = nb.backward(params, cache, y)
    eps = 1e-5
    for name, p in params.items():
        fd = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            old = p[i]
            p[i] = old + eps
            up = loss_of(params, x, y, y_prev, h0)
            p[i] = old - eps
            down = loss_of(params, x, y, y_prev, h0)
            p[i] = old
            fd[i] = (up - down) / (2 * eps)
        assert rel_err(g.grads[name], fd) <= 1e-7, name
    fd_h0 = np.zeros_like(h0)
    for i in np.ndindex(h0.shape):
        hp, hm = h0.copy(), h0.copy()
        hp[i] += eps
        hm[i] -= eps
        up, down = loss_of(params, x, y, y_prev, hp), loss_of(params, x, y, y_prev, hm)
        fd_h0[i] = (up - down) / (2 * eps)
    assert rel_err(g.dh0, fd_h0) <= 1e-7


def torch_reference(params, x, y, y_prev, h0, window=(0, 0, T)):
    """Autograd through `Recurrent(impl="loop")` + a V/c head, float64. The state entering the
    window start is computed without a graph (detached), as truncated BPTT requires."""
    w0, l0, end = window
    Kf = params["R"].shape[1] if "R" in params else 0
    rnn = Recurrent("rnn", I, H, impl="loop", feedback_size=Kf).double()
    cell = rnn.cells[0]
    with torch.no_grad():
        for name, tname in TORCH_NAMES.items():
            if name in params:
                getattr(cell, tname).copy_(torch.from_numpy(params[name]))
    V = torch.tensor(params["V"], requires_grad=True)
    c = torch.tensor(params["c"], requires_grad=True)
    xt = F.one_hot(torch.from_numpy(x), I).double() if x.ndim == 2 else torch.from_numpy(x)
    fb = None if y_prev is None else torch.from_numpy(y_prev)
    state = torch.from_numpy(h0).unsqueeze(0)  # (1, B, H)
    if w0 > 0:
        with torch.no_grad():  # the detach point
            _, state = rnn(xt[:, :w0], state, None, None if fb is None else fb[:, :w0])
    rnn.record = True
    out, _ = rnn(xt[:, w0:end], state, None, None if fb is None else fb[:, w0:end])
    hs = rnn.recorded[0]
    for h in hs:
        h.retain_grad()
    logits = out[:, l0 - w0:] @ V.T + c  # (B, T', K)
    loss = F.cross_entropy(logits.reshape(-1, K), torch.from_numpy(y[:, l0:end]).reshape(-1),
                           reduction="sum")
    loss.backward()
    grads = {name: getattr(cell, tname).grad.numpy() for name, tname in TORCH_NAMES.items()
             if name in params}
    grads["V"], grads["c"] = V.grad.numpy(), c.grad.numpy()
    dh = torch.stack([h.grad for h in hs], dim=1).numpy()  # (B, T', H)
    return float(loss.detach()), grads, dh


@pytest.mark.parametrize("feedback,ids", [(True, True), (False, False)])
def test_gradients_equal_autograd_through_rnnlab_elman(feedback: bool, ids: bool) -> None:
    params, x, y, y_prev, h0 = problem(feedback, ids, seed=1)
    cache = nb.forward(params, x, h0, y_prev)
    g = nb.backward(params, cache, y)
    loss, grads, dh = torch_reference(params, x, y, y_prev, h0)
    assert abs(nb.nll(cache, y) - loss) <= 1e-10 * abs(loss)
    for name in params:
        assert rel_err(g.grads[name], grads[name]) <= 1e-10, name
    assert rel_err(g.dh, dh) <= 1e-10  # dL/dh_t at every step, not only the sums


def test_lm_with_identity_embedding_matches_reference() -> None:
    """RecurrentLM(cell="rnn", impl="loop", feedback=True) with Emb = identity (E == V) is the
    notes' model on one-hot inputs, with y_{t-1} := x_t."""
    V_ = 6
    params = nb.init_params(V_, H, V_, V_, seed=2)
    rng = np.random.default_rng(2)
    x, y = rng.integers(0, V_, (B, T)), rng.integers(0, V_, (B, T))
    lm = RecurrentLM(V_, "rnn", embedding_dim=V_, hidden_size=H, impl="loop",
                     feedback=True).double()
    cell = lm.rnn.cells[0]
    with torch.no_grad():
        lm.embedding.weight.copy_(torch.eye(V_))
        for name, tname in TORCH_NAMES.items():
            getattr(cell, tname).copy_(torch.from_numpy(params[name]))
        lm.head.weight.copy_(torch.from_numpy(params["V"]))
        lm.head.bias.copy_(torch.from_numpy(params["c"]))
    out = lm(LMBatch(torch.from_numpy(x), torch.from_numpy(y), None))
    (out.loss * B * T).backward()  # the LM averages; the reference sums
    loss, grads, _ = nb.bptt(params, x, y, None, x)
    assert abs(float(out.loss.detach()) * B * T - loss) <= 1e-10 * loss
    for name, tname in TORCH_NAMES.items():
        assert rel_err(grads[name], getattr(cell, tname).grad.numpy()) <= 1e-10, name
    assert rel_err(grads["V"], lm.head.weight.grad.numpy()) <= 1e-10
    assert rel_err(grads["c"], lm.head.bias.grad.numpy()) <= 1e-10


@pytest.mark.parametrize("k1,k2", [(3, 3), (3, 5), (2, 7), (4, 4)])
def test_truncated_bptt_equals_autograd_with_detached_state(k1: int, k2: int) -> None:
    params, x, y, y_prev, h0 = problem(True, True, seed=3)
    updates = nb.tbptt_gradients(params, x, y, k1, k2, h0, y_prev)
    windows = list(nb.tbptt_windows(T, k1, k2))
    assert [end for end, _, _ in updates] == [end for _, _, end in windows]
    for (_, loss, grads), window in zip(updates, windows, strict=True):
        ref_loss, ref, _ = torch_reference(params, x, y, y_prev, h0, window)
        assert abs(loss - ref_loss) <= 1e-10 * ref_loss
        for name in params:
            assert rel_err(grads[name], ref[name]) <= 1e-10, (window, name)
    # the last window, cut out of the full-sequence cache by backward's own arguments
    w0, l0, _ = windows[-1]
    cache = nb.forward(params, x, h0, y_prev)
    last = nb.backward(params, cache, y, loss_start=l0, window_start=w0).grads
    for name in params:
        assert rel_err(last[name], updates[-1][2][name]) <= 1e-12, name
    # the summed updates are full BPTT exactly when no window is cut (k2 >= T)
    full = nb.backward(params, cache, y).grads
    summed_w = sum(g["W"] for _, _, g in updates)
    if k2 >= T:
        assert rel_err(summed_w, full["W"]) <= 1e-12
    else:
        assert rel_err(summed_w, full["W"]) > 1e-3


def test_tbptt_windows_count_every_loss_once() -> None:
    for T_, k1, k2 in [(10, 3, 3), (10, 3, 7), (9, 3, 4), (5, 5, 5), (4, 7, 9)]:
        covered = [t for _, l0, end in nb.tbptt_windows(T_, k1, k2) for t in range(l0, end)]
        assert covered == list(range(T_))
        for w0, l0, end in nb.tbptt_windows(T_, k1, k2):
            assert w0 == max(0, end - k2) and w0 <= l0 < end
    with pytest.raises(RnnlabError, match="k1 <= k2"):
        list(nb.tbptt_windows(10, 4, 3))


def test_train_learns_a_periodic_sequence() -> None:
    """BPTT(4, 8) with Adam on a period-5 stream drives the loss near zero."""
    seq = np.tile(np.array([0, 1, 2, 1, 3]), 60)
    x, y = seq[None, :-1].repeat(2, 0), seq[None, 1:].repeat(2, 0)  # (2, N)
    params = nb.init_params(4, 16, 4, seed=0)
    losses = [loss for _, loss in nb.train(params, x, y, k1=4, k2=8, steps=150, lr=1e-2)]
    assert losses[0] > 1.0
    assert np.mean(losses[-10:]) < 0.05


def test_clip_global_norm() -> None:
    g = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]])}
    assert nb.clip_global_norm(g, 1.0) == pytest.approx(5.0)
    assert np.sqrt((g["a"] ** 2).sum() + (g["b"] ** 2).sum()) == pytest.approx(1.0)
