"""Batch-1 sampling speed of a character LSTM-256: carrying the state vs re-reading history.

All variants run in one process, interleaved, on the same weights (speed only: the weights
need not be trained). Reported as tokens/s and as a ratio to rnnlab's default path.
  rnnlab step (fused weights)  `generate`: prefill once, then one cell step per token, reading
                               the torch.nn.LSTM weights (the default, impl="fused")
  rnnlab step (loop cells)     the same with the hand-written cells (impl="loop")
  nn.LSTM call per token       the state carried, but torch.nn.LSTM invoked for one step
  re-read whole context        the model run over the whole sequence again for every token

    python benchmarks/sampling_speed.py --tokens 400 --repeats 5 --threads 1 --write
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_section  # noqa: E402

from rnnlab.data.tokenizers import BOS_ID  # noqa: E402
from rnnlab.decoding import DecodeConfig, generate, reread_sample  # noqa: E402
from rnnlab.models.lm import RecurrentLM  # noqa: E402

V, E, H = 70, 64, 256  # The Time Machine's character vocabulary


@torch.no_grad()
def nn_lstm_per_token(model: RecurrentLM, n: int, g: torch.Generator) -> None:
    token = torch.tensor([[BOS_ID]])
    state = None
    for _ in range(n):
        out, state = model.rnn.rnn(model.embedding(token), state)  # (1, 1, H)
        probs = model.head(out[:, -1]).softmax(-1)
        token = torch.multinomial(probs, 1, generator=g)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    fused = RecurrentLM(V, "lstm", E, H, impl="fused").eval()
    loop = RecurrentLM(V, "lstm", E, H, impl="loop").eval()
    n = args.tokens
    dc = DecodeConfig("sample", max_new_tokens=n, stop_at_eos=False)
    variants = {
        "rnnlab step (fused weights)": lambda g: generate(fused, [[BOS_ID]], dc, g),
        "rnnlab step (loop cells)": lambda g: generate(loop, [[BOS_ID]], dc, g),
        "nn.LSTM call per token": lambda g: nn_lstm_per_token(fused, n, g),
        "re-read whole context": lambda g: reread_sample(fused, [BOS_ID], n, g),
    }
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(args.repeats):  # interleaved, so machine load hits every variant alike
        for name, fn in variants.items():
            g = torch.Generator().manual_seed(0)
            t0 = time.perf_counter()
            fn(g)
            times[name].append(time.perf_counter() - t0)
    base = statistics.median(times["rnnlab step (fused weights)"])
    lines = [
        f"Batch-1 sampling of {n} tokens from a character LSTM (vocabulary {V}, embedding {E}, "
        f"hidden {H}), median of {args.repeats} interleaved repeats, {args.threads} torch "
        f"thread(s). `python benchmarks/sampling_speed.py --tokens {n} --repeats "
        f"{args.repeats} --threads {args.threads} --write`",
        "",
        "| variant | tokens/s | time vs rnnlab step |",
        "|---|---:|---:|",
    ]
    for name, ts in times.items():
        med = statistics.median(ts)
        lines.append(f"| {name} | {n / med:,.0f} | {med / base:.2f}x |")
    table = "\n".join(lines)
    print(table)
    if args.write:
        write_section("sampling_speed", table)


if __name__ == "__main__":
    main()
