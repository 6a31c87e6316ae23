"""Penn Treebank word-level results: the named runs, their tables, and the precision check.

    python benchmarks/ptb.py precision --steps 500        # per-step cost of each speed option
    python benchmarks/ptb.py table --write                # tables of the finished runs

The runs themselves are plain CLI commands (RUNS below; start them with nohup, one or two at a
time with 1 thread each); `table` reads each run folder (`metrics.jsonl`, `config.json`) and
re-evaluates its best checkpoint with `rnnlab evaluate RUN --json` (validation and test, read as
one stream with the state carried: every token after the first is scored).

`precision` compares each speed setting's loss and gradients with fp32's on the same weights
(see `precision`); the end-to-end cost is the full runs' test perplexity in the table.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_section  # noqa: E402

RNNLAB = [sys.executable, "-m", "rnnlab"]
SMALL = "configs/ptb_small.toml"
SHORT = ["--max-epochs", "1"]  # the L2R/R2L config: one epoch of the small model, lr 20
RUNS: dict[str, tuple[str, list[str]]] = {
    "ptb_small": ("Zaremba small (2 x 200, 13 epochs), bf16-head + fused", [
        "train", "--config", SMALL, "--out", "runs/ptb_small"]),
    "ptb_small_fp32": ("Zaremba small (2 x 200, 13 epochs), fp32, plain loss: the speed "
                       "options' end-to-end check", [
        "train", "--config", SMALL, "--precision", "fp32", "--no-fused-loss",
        "--out", "runs/ptb_small_fp32"]),
    "ptb_tied650": ("2 x 650 tied, dropout 0.5, AdamW + cosine, 60 CPU-minutes, bf16 + fused", [
        "train", "--config", "configs/ptb_tied650.toml", "--out", "runs/ptb_tied650"]),
    "ptb_small1_l2r": ("Zaremba small, 1 epoch, left to right", [
        "train", "--config", SMALL, *SHORT, "--out", "runs/ptb_small1_l2r"]),
    "ptb_small1_r2l": ("Zaremba small, 1 epoch, right to left", [
        "train", "--config", SMALL, *SHORT, "--direction", "r2l",
        "--out", "runs/ptb_small1_r2l"]),
}
SENTENCES = [
    "the company said it expects to report a loss",
    "the stock market fell sharply yesterday",
    "mr. <unk> is chairman of the board",
    "board the of chairman is <unk> mr.",
]


def rnnlab_json(*args: str) -> list[dict]:
    r = subprocess.run([*RNNLAB, *args, "--json"], cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"failed: rnnlab {' '.join(args)}\n{r.stderr[-1500:]}")
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def run_summary(name: str) -> dict | None:
    run = ROOT / "runs" / name
    if not (run / "best.pt").is_file():
        return None
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x]
    last = records[-1]
    test = rnnlab_json("evaluate", str(run), "--split", "test", "--threads", "1")[0]
    val = rnnlab_json("evaluate", str(run), "--split", "val", "--threads", "1")[0]
    return {"epochs": last["epoch"], "time": last["time"], "wall": last.get("wall"),
            "done": (run / "loss.png").is_file(),  # drawn once training has finished
            "val": val["ppl"], "test": test["ppl"], "tokens": test["tokens"],
            "best_val_logged": min(r.get("val_ppl", math.inf) for r in records)}


def table(write: bool) -> None:
    rows = ["| run | command | epochs | training time | val ppl | test ppl |",
            "|---|---|---:|---:|---:|---:|"]
    found = {}
    for name, (desc, args) in RUNS.items():
        s = run_summary(name)
        if s is None:
            continue
        found[name] = s
        # a --clock cpu run logs "wall" too, but only since its last resume: not shown
        t = f"{s['time'] / 60:.0f} min" + (" CPU" if s["wall"] else "")
        desc += "" if s["done"] else " (still training: best so far)"
        rows.append(f"| {desc} | `rnnlab {' '.join(args)}` | {s['epochs']:.2f} | {t} | "
                    f"{s['val']:.2f} | {s['test']:.2f} |")
    md = ["Test and validation perplexity of each run's best checkpoint, from "
          "`rnnlab evaluate runs/NAME --split test --json` (the whole split as one stream, "
          "state carried, batch 1). References: Zaremba et al. 2014 small 114.5 (TensorFlow's "
          "reproduction 115.9), KN5 141.2, Zaremba medium 82.7. A run stopped by the end of a "
          "session was continued with `--resume`, which reaches the same weights as an "
          "uninterrupted run (tests/test_run.py).", "", *rows]
    if "ptb_small" in found and "ptb_small_fp32" in found:
        fast, ref = found["ptb_small"]["test"], found["ptb_small_fp32"]["test"]
        md += ["", f"End-to-end cost of the speed options (bf16-head + fused loss vs fp32 + plain "
               f"loss, same seed, 13 epochs): test perplexity {fast:.2f} vs {ref:.2f}, "
               f"{100 * (fast / ref - 1):+.2f}% (target: within +1%)."]
    pair = [n for n in ("ptb_small1_l2r", "ptb_small1_r2l") if n in found]
    if len(pair) == 2:
        md += ["", "Left-to-right vs right-to-left (same config and budget; r2l reverses each "
               "line's words and keeps its `<eos>` last). Whole-sentence log-probabilities, "
               "log p(w1..wn <eos> | <eos>) for l2r and log p(wn..w1 <eos> | <eos>) for r2l, "
               "both proper distributions over sentences (tests/tasks/test_lm.py sums them "
               "to 1 on a tiny vocabulary):", "",
               "| sentence | l2r log p | r2l log p |", "|---|---:|---:|"]
        scores = {n: rnnlab_json("score", f"runs/{n}", *SENTENCES, "--threads", "1")
                  for n in pair}
        for i, text in enumerate(SENTENCES):
            md.append(f"| {text} | {scores[pair[0]][i]['logprob']:.2f} | "
                      f"{scores[pair[1]][i]['logprob']:.2f} |")
    prec = ROOT / "benchmarks" / "results" / "ptb_precision.md"
    if prec.is_file():
        md += ["", prec.read_text().rstrip()]
    text = "\n".join(md)
    print(text)
    if write:
        write_section("ptb", text)


def precision(steps: int, threads: int, batches: int) -> None:
    """Train the Zaremba small model `steps` steps in fp32, then, on the next `batches`
    training batches, compare each speed setting's loss and gradient with fp32's on the same
    weights and state. Deterministic, unlike short training runs, whose validation perplexity
    moves by several percent between two exactly equivalent paths (chaotic trajectories)."""
    import torch

    from rnnlab.config import load_toml
    from rnnlab.data.batching import lm_batches
    from rnnlab.data.readers import load_splits
    from rnnlab.data.tokenizers import encode_split
    from rnnlab.models import build_lm
    from rnnlab.runconfig import make_config
    from rnnlab.tasks.lm import fit_tokenizer, model_kwargs
    from rnnlab.trainer import Trainer, make_loss_fn

    torch.set_num_threads(threads)
    cfg, _ = make_config("lm", load_toml(ROOT / SMALL), source="ptb_small.toml")
    for key in ("data", "val_data", "test_data"):
        setattr(cfg.data, key, str(ROOT / getattr(cfg.data, key)))
    splits = load_splits(cfg.data)
    tok = fit_tokenizer(cfg, splits.train)
    train_b = lm_batches(encode_split(tok, "text", splits.train), "text", cfg.train, True)
    cfg.train.precision, cfg.train.fused_loss = "fp32", False
    cfg.train.max_steps, cfg.train.eval_every = steps, 10**9
    torch.manual_seed(cfg.train.seed)
    model = build_lm(cfg.model.model, len(tok), **model_kwargs(cfg))
    Trainer(cfg.train).fit(model, train_b)
    it = train_b.epoch(0, steps)  # type: ignore[union-attr]
    data = [next(it) for _ in range(batches)]  # the batches after the trained ones
    params = list(model.parameters())

    def grads(prec: str, fused: bool) -> tuple[list[float], list[torch.Tensor], float]:
        cfg.train.precision, cfg.train.fused_loss = prec, fused
        loss_fn = make_loss_fn(model, cfg.train)
        losses, flat, cpu = [], [], 0.0
        for b in data:
            t = time.process_time()
            loss, _ = loss_fn(b, None)
            g = torch.autograd.grad(loss, params)
            cpu += time.process_time() - t
            losses.append(loss.item())
            flat.append(torch.cat([x.reshape(-1) for x in g]))
        return losses, flat, cpu / len(data)

    settings = {"fp32 (reference)": ("fp32", False), "fp32 + fused": ("fp32", True),
                "bf16-head + fused": ("bf16-head", True), "bf16 (autocast)": ("bf16", False),
                "bf16 + fused": ("bf16", True)}
    grads("fp32", False)  # warm-up: first calls pay for allocation and kernel selection
    ref_loss, ref_g, _ = grads("fp32", False)
    pairs = zip(ref_g, ref_g[1:], strict=False)  # consecutive batches
    noise = statistics.mean(float((a - b).norm() / a.norm()) for a, b in pairs)
    rows = []
    for label, (prec, fused) in settings.items():
        losses, g, cpu = grads(prec, fused)
        dl = statistics.mean(abs(a - b) for a, b in zip(losses, ref_loss, strict=True))
        err = statistics.mean(float((a - b).norm() / b.norm())
                              for a, b in zip(g, ref_g, strict=True))
        cos = statistics.mean(  # in float64: 4.6M-term dot products
            float(torch.nn.functional.cosine_similarity(a.double(), b.double(), dim=0))
            for a, b in zip(g, ref_g, strict=True))
        rows.append((label, dl, 100 * (math.exp(dl) - 1), 100 * err, cos, 1000 * cpu,
                     (rows[0][5] / 1000 if rows else cpu) / cpu))  # vs the fp32 row's time
        print(rows[-1], flush=True)
    md = [f"Accuracy cost of each speed option, per step: the Zaremba small model after {steps} "
          f"fp32 steps; on the next {batches} training batches (20 x 20, zero initial state) each "
          "setting's loss and gradient against fp32's on the same weights; forward + backward "
          "CPU ms (process time, so other jobs on the box do not count).", "",
          f"    python benchmarks/ptb.py precision --steps {steps} --batches {batches} "
          f"--threads {threads}", "",
          "| setting | mean abs loss diff (nats) | = perplexity factor | gradient rel. error | "
          "gradient cosine | CPU ms fwd+bwd | speed-up |", "|---|---:|---:|---:|---:|---:|---:|"]
    for label, dl, pct, err, cos, ms, speed in rows:
        md.append(f"| {label} | {dl:.5f} | {pct:.3f}% | {err:.2f}% | {cos:.5f} | {ms:.0f} | "
                  f"{speed:.2f}x |")
    md += ["", f"For scale, the gradients of two consecutive batches differ by {100 * noise:.0f}% "
           "(relative norm): SGD's own noise."]
    text = "\n".join(md)
    print(text)
    out = ROOT / "benchmarks" / "results" / "ptb_precision.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("precision")
    p.add_argument("--steps", type=int, default=500, help="fp32 training steps first")
    p.add_argument("--batches", type=int, default=10, help="batches compared")
    p.add_argument("--threads", type=int, default=1)
    t = sub.add_parser("table")
    t.add_argument("--write", action="store_true")
    args = ap.parse_args()
    if args.cmd == "precision":
        precision(args.steps, args.threads, args.batches)
    else:
        table(args.write)


if __name__ == "__main__":
    main()
