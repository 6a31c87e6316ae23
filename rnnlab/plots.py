"""Plots of finished runs (matplotlib, imported lazily; never called from the trainer)."""

from __future__ import annotations

import json
from pathlib import Path


def plot_history(metrics_jsonl: Path, png: Path) -> None:
    """Train and validation loss (nats/token) against steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    fig.savefig(png)
    plt.close(fig)
