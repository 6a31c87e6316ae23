"""rnnlab's plots write files without touching the caller's matplotlib backend (a notebook
that runs a command keeps showing its own figures)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

from rnnlab.diagnostics import plot_curves
from rnnlab.plots import plot_history


def test_plots_leave_the_backend_alone(tmp_path: Path) -> None:
    before = matplotlib.get_backend()
    matplotlib.use("pdf")  # any backend other than the Agg the plots once switched to
    try:
        metrics = tmp_path / "metrics.jsonl"
        metrics.write_text("\n".join(json.dumps({"step": s, "train_loss": 3.0 - s / 10,
                                                 "val_nll": 3.1 - s / 10}) for s in (1, 2)))
        plot_history(metrics, tmp_path / "a" / "loss.png")
        plot_curves({"gru": [1.0, 0.5, 0.25]}, tmp_path / "flow.png", "flow")
        assert matplotlib.get_backend() == "pdf"
        for png in (tmp_path / "a" / "loss.png", tmp_path / "flow.png"):
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        matplotlib.use(before)
