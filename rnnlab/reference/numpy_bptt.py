"""The reference: the notes' Elman RNN in NumPy, with backpropagation through time by hand.

Shapes: B batch, T time, I input features (or I input ids, read as one-hot), H hidden,
K output classes, F feedback classes (ids of y_{t-1}, read as one-hot).

Forward (Elman 1990; Goodfellow et al. 2016, eq. 10.8-10.11), for t = 1..T:

    a_t = W h_{t-1} + U x_t + b  [+ R y_{t-1}]      (B, H)   h_0 given (zero by default)
    h_t = tanh(a_t)
    o_t = V h_t + c                                 (B, K)
    p_t = softmax(o_t)
    L   = sum_t L_t = - sum_t log p_t[y_t]          summed over t and over the batch

With R the hidden layer also sees the previous output y_{t-1} (teacher forcing: the previous
target, given as ids). Backward (Goodfellow et al. 2016, 10.2.2), for t = T..1:

    dL/do_t = p_t - onehot(y_t)                                           (B, K)
    dL/dh_t = V^T dL/do_t + W^T dL/da_{t+1}       (no second term at t = T) (B, H)
    dL/da_t = (1 - h_t^2) ⊙ dL/dh_t
    dV = sum_t dL/do_t h_t^T        dc = sum_t dL/do_t
    dW = sum_t dL/da_t h_{t-1}^T    dU = sum_t dL/da_t x_t^T    db = sum_t dL/da_t
    dR = sum_t dL/da_t y_{t-1}^T    dL/dh_0 = W^T dL/da_1

The W^T term is the "through time" part: it carries the losses of later steps back to earlier
states, and repeated products of diag(1 - h^2) W make it vanish or explode (Goodfellow 10.7).

Truncated BPTT(k1, k2) (Williams & Peng 1990): every k1 steps, the losses of those k1 steps are
backpropagated k2 >= k1 steps into the past and no further; the recursion for dL/dh_t is cut at
the window start, as autograd would be with the state detached there. BPTT(k, k) is the
chunked TBPTT of `rnnlab.trainer`. `tbptt_gradients` computes every update's gradient for
fixed parameters (the reference for tests); `train` interleaves them with optimizer steps.

Run `python -m rnnlab.numpy_bptt --data FILE --steps N --plot PNG` to train a character-level
model on a text file with this module alone (NumPy; matplotlib for the plot).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple, cast

import numpy as np

from rnnlab.errors import RnnlabError

Params = dict[str, np.ndarray]  # U (H, I), W (H, H), b (H,), V (K, H), c (K,), [R (H, F)]


def init_params(
    input_size: int,
    hidden_size: int,
    output_size: int,
    feedback_size: int = 0,
    seed: int = 0,
    dtype: type = np.float64,
) -> Params:
    """U(-1/sqrt(H), 1/sqrt(H)) for every weight, as `rnnlab.models.cells.ElmanCell`."""
    rng = np.random.default_rng(seed)
    bound = 1.0 / math.sqrt(hidden_size)
    shapes = {
        "U": (hidden_size, input_size), "W": (hidden_size, hidden_size), "b": (hidden_size,),
        "V": (output_size, hidden_size), "c": (output_size,),
    }
    if feedback_size:
        shapes["R"] = (hidden_size, feedback_size)
    return {k: rng.uniform(-bound, bound, s).astype(dtype) for k, s in shapes.items()}


class Cache(NamedTuple):
    """What the backward pass needs from the forward pass."""

    x: np.ndarray  # (B, T) ids or (B, T, I) features
    y_prev: np.ndarray | None  # (B, T) ids of y_{t-1}, or None without R
    h: np.ndarray  # (B, T + 1, H): h[:, 0] = h_0, h[:, t] = h_t
    p: np.ndarray  # (B, T, K) softmax(o_t)


def _input_term(params: Params, x: np.ndarray, y_prev: np.ndarray | None) -> np.ndarray:
    """U x_t + b (+ R y_{t-1}) for every step at once: (B, T, H)."""
    U = params["U"]
    # ids select columns of U, which is U times a one-hot vector without building it
    xw = U.T[x] if x.ndim == 2 else x @ U.T
    xw = xw + params["b"]
    if "R" in params:
        if y_prev is None:
            raise RnnlabError("these parameters have R (feedback), got y_prev=None; pass the "
                              "ids of y_{t-1} (B, T), or build the parameters without R")
        xw = xw + params["R"].T[y_prev]
    return xw


def softmax(o: np.ndarray) -> np.ndarray:
    e = np.exp(o - o.max(axis=-1, keepdims=True))  # shifted: exp never overflows
    return e / e.sum(axis=-1, keepdims=True)


def forward(
    params: Params, x: np.ndarray, h0: np.ndarray | None = None, y_prev: np.ndarray | None = None
) -> Cache:
    """x (B, T) ids or (B, T, I) -> Cache with h (B, T+1, H) and p (B, T, K)."""
    W = params["W"]
    xw = _input_term(params, x, y_prev)  # (B, T, H)
    B, T, H = xw.shape
    h = np.empty((B, T + 1, H), dtype=W.dtype)
    h[:, 0] = 0.0 if h0 is None else h0
    for t in range(T):
        h[:, t + 1] = np.tanh(h[:, t] @ W.T + xw[:, t])
    o = h[:, 1:] @ params["V"].T + params["c"]  # (B, T, K)
    return Cache(x, y_prev, h, softmax(o))


def nll(cache: Cache, targets: np.ndarray, loss_start: int = 0) -> float:
    """L = - sum over batch and steps t >= loss_start of log p_t[y_t] (nats)."""
    p = cache.p[:, loss_start:]
    picked = np.take_along_axis(p, targets[:, loss_start:, None], axis=-1)  # (B, T', 1)
    return float(-np.log(picked).sum())


class Gradients(NamedTuple):
    grads: Params  # dL/dθ for every parameter, same shapes
    dh: np.ndarray  # (B, T, H): dL/dh_t for t = 1..T (zero before the window)
    dh0: np.ndarray  # (B, H): dL/dh_{window start} (dL/dh_0 for the full sequence)


def backward(
    params: Params,
    cache: Cache,
    targets: np.ndarray,
    loss_start: int = 0,
    window_start: int = 0,
) -> Gradients:
    """Hand-derived BPTT (equations in the module docstring) of L = sum_{t >= loss_start} L_t.

    The recursion runs from T down to `window_start` and stops: the state h_{window_start}
    is treated as a constant (truncation). Full BPTT: both 0. Steps are 0-based here."""
    W, V = params["W"], params["V"]
    h, p = cache.h, cache.p
    B, T, K = p.shape
    do = p.copy()  # dL/do_t = p_t - onehot(y_t)
    rows, steps = np.meshgrid(np.arange(B), np.arange(T), indexing="ij")
    do[rows, steps, targets] -= 1.0
    do[:, :loss_start] = 0.0  # losses before loss_start are not part of L
    dh_out = do @ V  # (B, T, H): V^T dL/do_t for every step
    da = np.zeros_like(h[:, 1:])  # (B, T, H)
    dh = np.zeros_like(da)
    da_next = np.zeros((B, h.shape[2]), dtype=h.dtype)
    for t in range(T - 1, window_start - 1, -1):
        dh[:, t] = dh_out[:, t] + da_next @ W  # the W^T dL/da_{t+1} term carries time
        da[:, t] = (1.0 - h[:, t + 1] ** 2) * dh[:, t]  # tanh'(a) = 1 - tanh(a)^2
        da_next = da[:, t]
    dh0 = da_next @ W
    H = da.shape[2]
    da2 = da.reshape(B * T, H)  # (B*T, H): sums over batch and time become one matmul
    grads: Params = {
        "W": da2.T @ h[:, :-1].reshape(B * T, H),
        "b": da2.sum(0),
        "V": do.reshape(B * T, K).T @ h[:, 1:].reshape(B * T, H),
        "c": do.reshape(B * T, K).sum(0),
    }
    x = cache.x
    if x.ndim == 2:  # ids: dU[:, j] = sum of dL/da_t over the steps where x_t = j
        dUT = np.zeros_like(params["U"].T)  # (I, H)
        np.add.at(dUT, x.reshape(-1), da2)
        grads["U"] = dUT.T
    else:
        grads["U"] = da2.T @ x.reshape(B * T, -1)
    if "R" in params:
        dRT = np.zeros_like(params["R"].T)  # (F, H)
        # R exists only with feedback, whose forward pass kept y_prev
        np.add.at(dRT, cast(np.ndarray, cache.y_prev).reshape(-1), da2)
        grads["R"] = dRT.T
    return Gradients(grads, dh, dh0)


def bptt(
    params: Params,
    x: np.ndarray,
    targets: np.ndarray,
    h0: np.ndarray | None = None,
    y_prev: np.ndarray | None = None,
) -> tuple[float, Params, np.ndarray]:
    """Full BPTT over the whole sequence: (L summed over batch and time, grads, h_T)."""
    cache = forward(params, x, h0, y_prev)
    return nll(cache, targets), backward(params, cache, targets).grads, cache.h[:, -1]


def tbptt_windows(T: int, k1: int, k2: int) -> Iterator[tuple[int, int, int]]:
    """(window_start, loss_start, end) of each update of BPTT(k1, k2) over T steps: the losses
    of steps [loss_start, end) backpropagated down to window_start = max(0, end - k2)."""
    if not 1 <= k1 <= k2:
        raise RnnlabError(f"truncated BPTT needs 1 <= k1 <= k2, got k1={k1}, k2={k2}; "
                          "backpropagate (k2) at least as many steps as lie between updates (k1)")
    for loss_start in range(0, T, k1):
        end = min(loss_start + k1, T)  # a last, shorter block when k1 does not divide T
        yield max(0, end - k2), loss_start, end


def tbptt_gradients(
    params: Params,
    x: np.ndarray,
    targets: np.ndarray,
    k1: int,
    k2: int,
    h0: np.ndarray | None = None,
    y_prev: np.ndarray | None = None,
) -> list[tuple[int, float, Params]]:
    """BPTT(k1, k2) with the parameters held fixed: one forward pass, then for each update
    (end step, loss of its k1 steps, gradient truncated k2 steps back)."""
    cache = forward(params, x, h0, y_prev)
    out = []
    for w0, l0, end in tbptt_windows(x.shape[1], k1, k2):
        window = Cache(cache.x[:, w0:end], None if y_prev is None else y_prev[:, w0:end],
                       cache.h[:, w0:end + 1], cache.p[:, w0:end])
        g = backward(params, window, targets[:, w0:end], loss_start=l0 - w0)
        out.append((end, nll(window, targets[:, w0:end], l0 - w0), g.grads))
    return out


# -- a small optimizer -------------------------------------------------------------------------
def clip_global_norm(grads: Params, max_norm: float) -> float:
    """Scale all gradients in place so their joint L2 norm is at most max_norm (Pascanu et al.
    2013): bounds a step taken on an exploding gradient. Returns the norm before clipping."""
    norm = math.sqrt(sum(float((g * g).sum()) for g in grads.values()))
    if norm > max_norm:
        for g in grads.values():
            g *= max_norm / (norm + 1e-12)
    return norm


class Adam:
    """Kingma & Ba 2015: m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2, θ -= lr m^ / (sqrt(v^)+eps)
    with bias-corrected m^, v^. Updates the parameter arrays in place."""

    def __init__(self, params: Params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.t = 0

    def step(self, grads: Params) -> None:
        self.t += 1
        b1, b2 = self.betas
        scale = self.lr * math.sqrt(1 - b2 ** self.t) / (1 - b1 ** self.t)
        for k, g in grads.items():
            self.m[k] = b1 * self.m[k] + (1 - b1) * g
            self.v[k] = b2 * self.v[k] + (1 - b2) * g * g
            self.params[k] -= scale * self.m[k] / (np.sqrt(self.v[k]) + self.eps)


def train(
    params: Params,
    x: np.ndarray,
    targets: np.ndarray,
    k1: int,
    k2: int,
    steps: int,
    lr: float = 3e-3,
    clip: float | None = 5.0,
    y_prev: np.ndarray | None = None,
) -> Iterator[tuple[int, float]]:
    """Train on parallel streams x, targets (B, N) with BPTT(k1, k2), cycling through N.

    Each update re-runs the forward pass of its k2-step window from the state saved at the
    window start (with the current weights), so only that state is kept between updates.
    Yields (step, mean loss per target in nats) after every update."""
    opt = Adam(params, lr)
    N = x.shape[1]
    B, H = x.shape[0], params["W"].shape[0]
    states = {0: np.zeros((B, H), dtype=params["W"].dtype)}  # position -> state h at it
    end = 0
    for step in range(1, steps + 1):
        if end + k1 > N:  # wrap around: start the streams again from a zero state
            end, states = 0, {0: np.zeros((B, H), dtype=params["W"].dtype)}
        end += k1
        w0 = max(0, end - k2)
        sl = slice(w0, end)
        yp = None if y_prev is None else y_prev[:, sl]
        cache = forward(params, x[:, sl], states[w0], yp)
        l0 = end - k1 - w0
        g = backward(params, cache, targets[:, sl], loss_start=l0)
        loss = nll(cache, targets[:, sl], l0) / (B * k1)
        # keep the states the next windows start from (computed with the weights of this step)
        keep_from = end + k1 - k2  # the next window starts here (or later)
        states = {w0 + i: h for i, h in enumerate(cache.h.swapaxes(0, 1)) if w0 + i >= keep_from}
        if clip is not None:
            clip_global_norm(g.grads, clip)
        opt.step(g.grads)
        yield step, loss


# -- Time Machine demo -----------------------------------------------------------------------
def _streams(ids: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """One long id sequence -> B parallel streams (B, N) of inputs and next-id targets."""
    n = (len(ids) - 1) // batch_size
    x = ids[: n * batch_size].reshape(batch_size, n)  # (B, N)
    y = ids[1: n * batch_size + 1].reshape(batch_size, n)
    return x, y


def evaluate(params: Params, x: np.ndarray, y: np.ndarray, chunk: int = 256,
             feedback: bool = False) -> float:
    """Mean NLL per character (nats), carrying the state across chunks."""
    h, total = None, 0.0
    for s in range(0, x.shape[1], chunk):
        xs, ys = x[:, s:s + chunk], y[:, s:s + chunk]
        cache = forward(params, xs, h, xs if feedback else None)
        total += nll(cache, ys)
        h = cache.h[:, -1]
    return total / y.size


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Train the NumPy Elman RNN as a character LM.")
    ap.add_argument("--data", required=True, help="a text file, e.g. timemachine.txt")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--hidden-size", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--k1", type=int, default=32, help="steps between updates")
    ap.add_argument("--k2", type=int, default=32, help="steps of backpropagation (>= k1)")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--clip", type=float, default=5.0)
    ap.add_argument("--feedback", action="store_true", help="add R y_{t-1} with y_{t-1} = x_t")
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plot", default=None, help="write the loss curve to this PNG")
    args = ap.parse_args(argv)

    text = Path(args.data).read_text(encoding="utf-8")
    chars = sorted(set(text))
    index = {ch: i for i, ch in enumerate(chars)}
    ids = np.array([index[ch] for ch in text], dtype=np.int64)
    split = int(0.9 * len(ids))  # last 10% held out
    x_tr, y_tr = _streams(ids[:split], args.batch_size)
    x_va, y_va = _streams(ids[split:], 8)
    K = len(chars)
    unigram = np.bincount(ids[:split], minlength=K) / split
    unigram_nll = float(-np.log(np.maximum(unigram[ids[split:]], 1e-12)).mean())
    print(f"{len(ids)} characters, vocabulary {K}; uniform {math.log(K):.3f} nats, "
          f"unigram on held-out {unigram_nll:.3f} nats/char")

    params = init_params(K, args.hidden_size, K, K if args.feedback else 0, seed=args.seed)
    fb = x_tr if args.feedback else None
    curve, val_curve, recent = [], [], []
    t0 = time.perf_counter()
    val = evaluate(params, x_va, y_va, feedback=args.feedback)
    val_curve.append((0, val))
    print(f"step 0 held-out {val:.3f} nats/char")
    for step, loss in train(params, x_tr, y_tr, args.k1, args.k2, args.steps, args.lr,
                            args.clip, fb):
        curve.append((step, loss))
        recent.append(loss)
        if step % args.eval_every == 0 or step == args.steps:
            val = evaluate(params, x_va, y_va, feedback=args.feedback)
            val_curve.append((step, val))
            train_loss, recent = float(np.mean(recent)), []  # mean since the last report
            print(f"step {step} train {train_loss:.3f} held-out {val:.3f} nats/char "
                  f"({val / math.log(2):.3f} bits) {time.perf_counter() - t0:.0f}s", flush=True)
    if args.plot:
        from rnnlab.plots import figures

        plt = figures()

        fig, ax = plt.subplots(figsize=(6, 3.4))
        ax.plot([s for s, _ in curve], [v for _, v in curve], lw=0.5, alpha=0.5, label="train")
        ax.plot([s for s, _ in val_curve], [v for _, v in val_curve], "o-", label="held-out")
        ax.axhline(unigram_nll, ls="--", c="gray", label="unigram")
        ax.set_xlabel(f"update (BPTT({args.k1},{args.k2}), batch {args.batch_size})")
        ax.set_ylabel("nats per character")
        ax.set_title(f"NumPy Elman RNN, H={args.hidden_size}, The Time Machine (chars)", fontsize=9)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=72)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
