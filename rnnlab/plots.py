"""Plots of finished runs (matplotlib, imported lazily; never called from the trainer)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnnlab.errors import RnnlabError

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.figure import Figure


class _Figures:
    """pyplot's `subplots` and `close`, without pyplot: figures that belong to no backend and
    are saved to files. rnnlab never switches the process's backend (`matplotlib.use`), so a
    notebook that runs a command keeps showing its own figures."""

    @staticmethod
    def subplots(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float] | None = None,
                 dpi: float | None = None, **kw: Any) -> tuple[Figure, Any]:
        from matplotlib.figure import Figure

        fig = Figure(figsize=figsize, dpi=dpi)
        return fig, fig.subplots(nrows, ncols, **kw)

    @staticmethod
    def close(fig: Figure) -> None:
        """Nothing to free: no pyplot registry holds the figure."""


def figures() -> type[_Figures]:
    """Where rnnlab makes its figures (`figures().subplots(...)`, as pyplot's)."""
    return _Figures


def plot_history(metrics_jsonl: Path, png: Path) -> None:
    """Train and validation loss (nats/token) against steps."""
    plt = figures()

    rows = [json.loads(line) for line in Path(metrics_jsonl).read_text().splitlines() if line]
    if not rows:
        return
    steps = [r["step"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot(steps, [r["train_loss"] for r in rows], label="train")
    if "val_nll" in rows[0]:
        ax.plot(steps, [r["val_nll"] for r in rows], label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("NLL (nats/token)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    _save(fig, png)


def plot_forecast(
    values: np.ndarray, dates: list[str] | None, rows: list[dict[str, Any]], png: Path,
    title: str, level: float,
) -> None:
    """History (the last 5 horizons, at least 60 values), forecast and interval."""
    plt = figures()
    import numpy as np

    H, n = len(rows), len(values)
    k = min(n, max(5 * H, 60))
    x_hist = np.arange(n - k, n)
    x_fut = np.arange(n, n + H)
    fig, ax = plt.subplots(figsize=(7, 3), dpi=90)
    ax.plot(x_hist, values[-k:], color="black", lw=1, label="history")
    ax.plot(x_fut, [r["forecast"] for r in rows], color="C1", lw=1.5, label="forecast")
    ax.fill_between(x_fut, [r["lower"] for r in rows], [r["upper"] for r in rows],
                    color="C1", alpha=0.25, label=f"{int(level * 100)}% interval")
    if dates:  # label a few ticks with the file's own dates
        ticks = np.linspace(n - k, n - 1, 4).astype(int)
        ax.set_xticks(ticks, [dates[i] for i in ticks])
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    _save(fig, png)


def plot_confusion(cm: list[list[int]], labels: list[str], png: Path) -> None:
    """Row-normalized confusion matrix (true class per row), counts written in the cells."""
    plt = figures()
    import numpy as np

    a = np.asarray(cm, dtype=float)
    rows = a / np.maximum(a.sum(1, keepdims=True), 1)
    k = len(labels)
    size = max(4.0, 0.45 * k + 2)
    fig, ax = plt.subplots(figsize=(size, size), dpi=100)
    ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), labels, rotation=90, fontsize=8)
    ax.set_yticks(range(k), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(k):
        for j in range(k):
            if a[i, j]:
                ax.text(j, i, str(int(a[i, j])), ha="center", va="center", fontsize=6,
                        color="white" if rows[i, j] > 0.5 else "black")
    fig.tight_layout()
    _save(fig, png)


def plot_token_weights(rows: list[tuple[list[str], list[float], str]], png: Path) -> None:
    """One heat strip per text: each token's attention weight (a classifier's attention
    pooling), titled with the predicted class."""
    plt = figures()
    import numpy as np

    width = max(4.0, min(0.45 * max(len(t) for t, _, _ in rows) + 1.5, 30.0))
    fig, axes = plt.subplots(len(rows), 1, figsize=(width, 1.3 * len(rows) + 0.3), dpi=100,
                             squeeze=False)
    for ax, (tokens, weights, title) in zip(axes[:, 0], rows, strict=True):
        w = np.asarray(weights, dtype=float)[None, :]  # (1, T)
        ax.imshow(w, cmap="Reds", vmin=0, vmax=max(float(w.max()), 1e-12), aspect="auto")
        ax.set_xticks(range(len(tokens)), tokens, rotation=45, ha="right", fontsize=8)
        ax.set_yticks([])
        for j, v in enumerate(w[0]):
            ax.text(j, 0, f"{v:.2f}", ha="center", va="center", fontsize=6)
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    _save(fig, png)


def plot_attention(weights: list[list[float]], source: list[str], target: list[str],
                   png: Path, title: str = "") -> None:
    """Attention heatmap: one row per target token, one column per source token; row t is
    the distribution a_t over the source that produced target token t."""
    plt = figures()
    import numpy as np

    src = [s.replace("\uffed", "") for s in source]
    tgt = [t.replace("\uffed", "") for t in target] or ["(empty)"]
    # (T, S); an empty translation: one blank row
    a = np.asarray(weights, dtype=float).reshape(len(target), -1) if target else \
        np.zeros((1, len(src)))
    src = src[: a.shape[1]]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.5 * len(src) + 2), max(3.0, 0.4 * len(tgt) + 1.5)),
                           dpi=100)
    ax.imshow(a, cmap="Greys", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(src)), src, rotation=60, ha="right", fontsize=9)
    ax.set_yticks(range(len(tgt)), tgt, fontsize=9)
    ax.set_xlabel("source")
    ax.set_ylabel("translation")
    if title:
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    _save(fig, png)


def _save(fig: Figure, png: Path) -> None:
    """Write the figure (its folder made if missing, as every other output is)."""
    try:
        Path(png).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(png)
    except OSError as e:
        raise RnnlabError(f"cannot write the plot {str(png)!r} ({e.strerror or e}); choose a "
                          "path in a folder you can write to") from None
