"""Batch-1 generation speed of a character LSTM-256 (1 layer, E 64, The Time Machine's
characters), one run: ONNX Runtime running the exported step function, rnnlab's torch step
(`RecurrentLM.step`: the LSTM cell's recurrence on nn.LSTM's weights), and `nn.LSTM` called
once per token. Each carries the state and feeds back its greedy token; 1 thread each.

    python benchmarks/onnx_speed.py --tokens 3000 --write
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "onnx_speed.json"
TRAIN = ["train", "--data", "../shared/data/timemachine/timemachine.txt", "--model", "lstm",
         "--hidden-size", "256", "--embedding-dim", "64", "--max-steps", "200", "--eval-every",
         "200", "--threads", "1", "--no-progress", "--samples", "0"]


def measure(run: Path, onnx_file: Path, tokens: int) -> list[dict]:
    import numpy as np
    import onnxruntime as ort
    import torch

    from rnnlab.run import load

    torch.set_num_threads(1)
    model = load(run).model.eval()
    first = torch.tensor([5])
    rows = []

    def timed(name: str, step) -> None:
        token, state = first, None
        step(token, state)  # warm-up
        t0 = time.perf_counter()
        for _ in range(tokens):
            logits, state = step(token, state)
            token = logits.argmax(-1)
        s = time.perf_counter() - t0
        rows.append({"path": name, "tokens": tokens, "seconds": s, "tokens_per_s": tokens / s})
        print(json.dumps(rows[-1]), flush=True)

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(onnx_file), opts, providers=["CPUExecutionProvider"])
    H = model.hparams["hidden_size"]

    def onnx_step(token, state):
        if state is None:
            state = [np.zeros((1, 1, H), np.float32)] * 2
        out = sess.run(None, {"token": token.numpy() if hasattr(token, "numpy") else token,
                              "state_0": state[0], "state_1": state[1]})
        return out[0], out[1:]

    def onnx_loop(token, state):
        logits, state = onnx_step(token, state)
        return _NpLogits(logits), state

    lstm, emb, head = model.rnn.rnn, model.embedding, model.head

    @torch.no_grad()
    def nn_lstm_step(token, state):
        out, state = lstm(emb(token)[:, None], state)  # (1, 1, H)
        return head(out[:, 0]), state

    timed("ONNX Runtime, exported step function", onnx_loop)
    timed("rnnlab torch step (RecurrentLM.step)", model.step)
    timed("nn.LSTM called once per token", nn_lstm_step)
    return rows


class _NpLogits:
    """numpy logits with the `.argmax(-1)` the loop calls, giving an int64 (1,) token."""

    def __init__(self, a) -> None:
        self.a = a

    def argmax(self, dim: int):
        return self.a.argmax(dim).astype("int64")


def render(rows: list[dict], tokens: int) -> str:
    base = rows[1]["tokens_per_s"]
    lines = [f"`python benchmarks/onnx_speed.py --tokens {tokens} --write`: a character "
             "LSTM (E 64, H 256, 1 layer, V 73) trained for 200 steps on The Time Machine "
             "(`rnnlab train --data ../shared/data/timemachine/timemachine.txt --model lstm "
             "--hidden-size 256 --embedding-dim 64 --max-steps 200`), exported with `rnnlab "
             f"export RUN --format onnx --out FILE.onnx`; {tokens:,} greedy tokens at batch 1, "
             "the state carried, 1 thread each, in one process one after the other.", "",
             "| path | tokens/s | vs rnnlab torch step |", "|---|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['path']} | {r['tokens_per_s']:,.0f} | "
                     f"{r['tokens_per_s'] / base:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tokens", type=int, default=3000)
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--render-only", action="store_true")
    a = ap.parse_args()
    if a.render_only:
        saved = json.loads(RESULTS.read_text())
        rows, tokens = saved["rows"], saved["tokens"]
    else:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with tempfile.TemporaryDirectory() as tmp:
            run, f = Path(tmp) / "run", Path(tmp) / "lstm256.onnx"
            subprocess.run([sys.executable, "-m", "rnnlab", *TRAIN, "--out", str(run)],
                           cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
            subprocess.run([sys.executable, "-m", "rnnlab", "export", str(run), "--out", str(f)],
                           cwd=ROOT, env=env, check=True, stderr=subprocess.DEVNULL)
            rows, tokens = measure(run, f, a.tokens), a.tokens
        RESULTS.write_text(json.dumps({"tokens": tokens, "rows": rows}, indent=2) + "\n")
    text = render(rows, tokens)
    print(text)
    if a.write:
        write_section("onnx_speed", text, "ONNX export: batch-1 generation speed")


if __name__ == "__main__":
    main()
