"""Training speed of rnnlab's word-level LM step against a plain PyTorch baseline, in one process.

The baseline is written the way pytorch/examples `word_language_model` writes its loop:
time-major embedding -> dropout -> nn.LSTM -> dropout -> linear -> log_softmax, NLLLoss,
`repackage_hidden`, clip_grad_norm_, then a manual SGD update `p.data.add_(p.grad, -lr)`.
rnnlab's step is the trainer's own (`trainer.make_loss_fn` + `make_optimizer`, the same
detach / zero_grad / backward / clip / step) in each speed setting:

    fp32         the default path: logits (B, T, V) -> masked cross-entropy
    fp32+fused   output layer + cross-entropy fused (`models.lm.LinearCE`), exact
    bf16         CPU autocast of the forward (bfloat16 matrix products, fp32 weights and loss)
    bf16-head+fused  fused, with only the output layer's products in bfloat16 (fp32 LSTM)
    bf16+fused   both
    +compile     (with --compile) torch.compile of the bf16+fused forward; compile time shown

Every variant and the baseline run `--steps` steps per round, interleaved round after round in
the same process, so background load hits them alike; tokens/s is the median over rounds and
the ratio is taken per round (median shown). The float32 and bfloat16 matrix-multiply rates of
this CPU are measured in the same rounds (square GEMMs of 1024), and each step's useful FLOPs
(3x the forward's matrix products) are given as a fraction of those ceilings.

    python benchmarks/lm_throughput.py --shapes small,medium --repeats 5 --steps 10 \
        --threads 1 --write
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_section  # noqa: E402

from rnnlab.config import TrainConfig  # noqa: E402
from rnnlab.data.batching import BpttStream  # noqa: E402
from rnnlab.models.base import detach_state  # noqa: E402
from rnnlab.models.lm import RecurrentLM  # noqa: E402
from rnnlab.trainer import make_loss_fn, make_optimizer  # noqa: E402

PTB = ROOT.parent / "shared" / "data" / "ptb" / "ptb.train.txt"
V = 10_000
# Zaremba et al. 2014 shapes: (layers, hidden, batch, steps, dropout)
SHAPES = {"small": (2, 200, 20, 35, 0.0), "medium": (2, 650, 20, 35, 0.5)}


class PlainLM(nn.Module):
    """pytorch/examples word_language_model's RNNModel (LSTM), time-major."""

    def __init__(self, ntoken: int, ninp: int, nhid: int, nlayers: int, dropout: float) -> None:
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)

    def forward(self, x: torch.Tensor, hidden):  # x (T, B)
        emb = self.drop(self.encoder(x))  # (T, B, E)
        output, hidden = self.rnn(emb, hidden)
        decoded = self.decoder(self.drop(output)).view(-1, self.decoder.out_features)  # (T*B, V)
        return F.log_softmax(decoded, dim=1), hidden


def ptb_ids(n: int) -> torch.Tensor:
    """The first n tokens of PTB train (ids by first appearance), or random ids without it."""
    if not PTB.is_file():
        return torch.randint(0, V, (n,), generator=torch.Generator().manual_seed(0))
    stoi: dict[str, int] = {}
    ids: list[int] = []
    with open(PTB) as f:
        for line in f:
            for w in [*line.split(), "<eos>"]:
                ids.append(stoi.setdefault(w, len(stoi)))
            if len(ids) >= n:
                break
    return torch.tensor(ids[:n]) % V


def baseline_runner(shape: tuple, data: torch.Tensor) -> Callable[[int], None]:
    L, H, B, T, p = shape
    torch.manual_seed(0)
    model = PlainLM(V, H, H, L, p)
    model.train()
    criterion = nn.NLLLoss()
    lr, clip = 1.0, 5.0
    n = data.numel() // B
    src = data[: n * B].view(B, n).t().contiguous()  # (n, B): batchify, time-major
    pos, hidden = 0, None

    def run(steps: int) -> None:
        nonlocal pos, hidden
        for _ in range(steps):
            if pos + T + 1 > n:
                pos, hidden = 0, None
            x, y = src[pos : pos + T], src[pos + 1 : pos + T + 1].reshape(-1)
            pos += T
            if hidden is not None:
                hidden = tuple(h.detach() for h in hidden)  # repackage_hidden
            model.zero_grad()
            output, hidden = model(x, hidden)
            loss = criterion(output, y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            for q in model.parameters():
                q.data.add_(q.grad, alpha=-lr)
            loss.item()

    return run


def rnnlab_runner(shape: tuple, data: torch.Tensor, cfg: TrainConfig) -> Callable[[int], None]:
    L, H, B, T, p = shape
    torch.manual_seed(0)
    model = RecurrentLM(V, "lstm", H, H, L, dropout=p, init_range=0.1)
    model.train()
    opt = make_optimizer(model, cfg)
    loss_fn = make_loss_fn(model, cfg)
    stream = BpttStream(data.numpy(), B, T, "sequential")
    it, state = iter(stream.epoch(0)), None

    def run(steps: int) -> None:
        nonlocal it, state
        for _ in range(steps):
            batch = next(it, None)
            if batch is None or batch.inputs.shape[1] != T:
                it = iter(stream.epoch(0))
                batch = next(it)
            if batch.reset:
                state = None
            state = detach_state(state)  # exactly the trainer's step from here on
            loss, new_state = loss_fn(batch, state)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip or float("inf"))
            opt.step()
            state = new_state
            loss.item()

    return run


def gemm_rate(dtype: torch.dtype, n: int = 1024, reps: int = 10) -> float:
    """GFLOP/s of an n x n x n matrix product in `dtype`."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t) / 1e9


def step_flops(shape: tuple) -> float:
    """Matrix-product FLOPs of one training step: forward x 3 (backward ~ 2 x forward)."""
    L, H, B, T, _ = shape
    lstm = L * 2 * (4 * H * H + 4 * H * H)  # input and recurrent products per token
    head = 2 * H * V
    return 3.0 * B * T * (lstm + head)


def breakdown(shape: tuple, data: torch.Tensor, reps: int = 3) -> dict[str, float]:
    """ms of the baseline's output layer + softmax (forward + backward) and of its embedding
    + LSTM (forward + backward), the rest of a step being clip + update; same inputs."""
    L, H, B, T, p = shape
    torch.manual_seed(0)
    model = PlainLM(V, H, H, L, p)
    x = data[: B * T].view(T, B)
    y = data[1 : B * T + 1]
    h = torch.randn(T * B, H, requires_grad=True)

    def head() -> None:
        F.nll_loss(F.log_softmax(model.decoder(model.drop(h)), dim=1), y).backward()

    def rnn() -> None:
        out, _ = model.rnn(model.drop(model.encoder(x)))
        out.sum().backward()

    res = {}
    for name, f in (("head", head), ("rnn", rnn)):
        f()
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            f()
            times.append(time.perf_counter() - t)
        res[name] = 1000 * min(times)
    return res


VARIANTS: dict[str, dict] = {
    "rnnlab fp32": {},
    "rnnlab fp32+fused": {"fused_loss": True},
    "rnnlab bf16": {"precision": "bf16"},
    "rnnlab bf16-head+fused": {"precision": "bf16-head", "fused_loss": True},
    "rnnlab bf16+fused": {"precision": "bf16", "fused_loss": True},
}


def bench_shape(name: str, args: argparse.Namespace, data: torch.Tensor) -> tuple[str, list]:
    shape = SHAPES[name]
    L, H, B, T, p = shape
    variants = dict(VARIANTS)
    if args.compile:
        variants["rnnlab bf16+fused+compile"] = {"precision": "bf16", "fused_loss": True,
                                                 "compile": True}
    runners = {"baseline (pytorch/examples WLM)": baseline_runner(shape, data)}
    compile_s = None
    for label, kw in variants.items():
        cfg = TrainConfig(optimizer="sgd", lr=1.0, weight_decay=0.0, clip=5.0, batch_size=B,
                          seq_len=T, **kw)
        runners[label] = rnnlab_runner(shape, data, cfg)
        if kw.get("compile"):
            t = time.perf_counter()
            runners[label](2)  # compile happens on the first calls
            compile_s = time.perf_counter() - t
    for run in runners.values():
        run(2)  # warm-up
    times: dict[str, list[float]] = {k: [] for k in runners}
    rates: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for r in range(args.repeats):
        for label, run in runners.items():
            t = time.perf_counter()
            run(args.steps)
            times[label].append((time.perf_counter() - t) / args.steps)
        rates["fp32"].append(gemm_rate(torch.float32))
        rates["bf16"].append(gemm_rate(torch.bfloat16))
        print(f"[{name}] round {r + 1}/{args.repeats}: " + ", ".join(
            f"{k.split(' (')[0]} {1000 * v[-1]:.0f} ms" for k, v in times.items()), flush=True)
    fp32_rate, bf16_rate = (statistics.median(rates[k]) for k in ("fp32", "bf16"))
    base = times["baseline (pytorch/examples WLM)"]
    flops = step_flops(shape)
    rows = []
    for label, ts in times.items():
        step = statistics.median(ts)
        ratio = statistics.median(b / t for b, t in zip(base, ts, strict=True))
        gflops = flops / step / 1e9
        rows.append((label, 1000 * step, B * T / step, ratio, gflops / fp32_rate,
                     gflops / bf16_rate))
    bd = breakdown(shape, data)
    base_ms = 1000 * statistics.median(base)
    md = [f"**{name}**: {L} x {H} LSTM, V = {V:,}, batch {B}, {T} steps, dropout {p}; "
          f"matmul ceiling here: fp32 {fp32_rate:.0f} GFLOP/s, bf16 {bf16_rate:.0f} GFLOP/s "
          f"({bf16_rate / fp32_rate:.1f}x); {flops / 1e9:.2f} GFLOP of matrix products per step.",
          "",
          "| step | ms/step | tokens/s | vs baseline (median of per-round ratios) | "
          "of fp32 ceiling | of bf16 ceiling |",
          "|---|---:|---:|---:|---:|---:|"]
    for label, ms, tps, ratio, f32, b16 in rows:
        md.append(f"| {label} | {ms:.0f} | {tps:,.0f} | {ratio:.2f}x | {100 * f32:.0f}% | "
                  f"{100 * b16:.0f}% |")
    md += ["", f"Where the baseline's step goes: output layer + log-softmax + NLL (forward + "
           f"backward) {bd['head']:.0f} ms = {100 * bd['head'] / base_ms:.0f}% of the step; "
           f"embedding + LSTM (forward + backward) {bd['rnn']:.0f} ms = "
           f"{100 * bd['rnn'] / base_ms:.0f}%; clipping and the update the rest."]
    if compile_s is not None:
        md.append(f"torch.compile: first two steps (compilation) took {compile_s:.0f} s.")
    return "\n".join(md), rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", default="small,medium")
    ap.add_argument("--repeats", type=int, default=5, help="interleaved rounds")
    ap.add_argument("--steps", type=int, default=10, help="steps per variant per round")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--compile", action="store_true", help="also time torch.compile")
    ap.add_argument("--write", action="store_true", help="write the tables into BENCHMARKS.md")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = ptb_ids(200_000)
    load0 = os.getloadavg()[0]
    parts = []
    for name in args.shapes.split(","):
        md, _ = bench_shape(name, args, data)
        print(md, flush=True)
        parts.append(md)
    cmd = ("python benchmarks/lm_throughput.py --shapes " + args.shapes + f" --repeats "
           f"{args.repeats} --steps {args.steps} --threads {args.threads}"
           + (" --compile" if args.compile else "") + " --write")
    md = (f"Training tokens/s, rnnlab vs a plain PyTorch loop (pytorch/examples "
          f"word_language_model style), {args.threads} thread(s), interleaved in one process; "
          f"torch {torch.__version__}; load average {load0:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} at the end (2 cores).\n\n    {cmd}\n\n"
          + "\n\n".join(parts))
    if args.write:
        write_section("lm_throughput", md)


if __name__ == "__main__":
    main()
