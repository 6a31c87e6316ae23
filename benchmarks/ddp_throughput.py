"""PTB small (configs/ptb_small.toml): training tokens/s of 1 process x 1 thread, 1 process x
2 threads and 2 processes x 1 thread (torchrun, DDP over gloo), each for the same number of
steps (the same tokens: the global batch is 20 x 20 whichever way it is split), with the
validation perplexity reached, run one after the other in one script.

    python benchmarks/ddp_throughput.py --steps 500 --write
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "ddp_throughput.json"
TOKENS_PER_STEP = 20 * 20  # batch_size x seq_len of the config
TORCHRUN = Path(sys.executable).with_name("torchrun")


def configs(steps: int) -> list[tuple[str, list[str]]]:
    train = ["-m", "rnnlab", "train", "--config", "configs/ptb_small.toml", "--max-steps",
             str(steps), "--eval-every", str(steps), "--eval-rows", "32", "--no-progress",
             "--samples", "0"]  # --eval-rows 32: the final test figures cost little
    return [
        ("1 process x 1 thread", [sys.executable, *train, "--threads", "1"]),
        ("1 process x 2 threads", [sys.executable, *train, "--threads", "2"]),
        ("2 processes x 1 thread (torchrun)", [str(TORCHRUN), "--standalone",
                                               "--nproc_per_node", "2", *train,
                                               "--threads", "1"]),
    ]


def run(steps: int) -> list[dict]:
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="ddp-bench-"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        for i, (name, argv) in enumerate(configs(steps)):
            out = tmp / f"run{i}"
            load = os.getloadavg()[0]
            subprocess.run([*argv, "--out", str(out)], cwd=ROOT, env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            last = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
            rows.append({"config": name, "steps": last["step"],
                         "tokens": last["step"] * TOKENS_PER_STEP, "seconds": last["time"],
                         "tokens_per_s": last["step"] * TOKENS_PER_STEP / last["time"],
                         "val_ppl": last["val_ppl"], "train_loss": last["train_loss"],
                         "load_before": round(load, 1), "load_after": round(os.getloadavg()[0], 1)})
            print(json.dumps(rows[-1]), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def render(rows: list[dict], steps: int) -> str:
    base = rows[0]["tokens_per_s"]
    lines = [
        f"`python benchmarks/ddp_throughput.py --steps {steps} --write` (each row: "
        "`rnnlab train --config configs/ptb_small.toml --max-steps "
        f"{steps} --eval-every {steps}` with the threads shown; the last row under "
        "`torchrun --standalone --nproc_per_node 2 -m rnnlab train ... --threads 1`). "
        f"Every row trains {rows[0]['tokens']:,} tokens (global batch 20 x 20); seconds are "
        "the run's training wall clock (`time` in metrics.jsonl), validation perplexity is on "
        "the whole PTB validation set after those tokens; load average: the machine's 1-minute "
        "load (2 cores, shared) before / after the row.", "",
        "| configuration | tokens | seconds | tokens/s | speed-up | val ppl | load average |",
        "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['config']} | {r['tokens']:,} | {r['seconds']:.1f} | "
                     f"{r['tokens_per_s']:,.0f} | {r['tokens_per_s'] / base:.2f}x | "
                     f"{r['val_ppl']:.2f} | {r['load_before']} / {r['load_after']} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    ap.add_argument("--render-only", action="store_true", help="re-render saved results")
    a = ap.parse_args()
    if a.render_only:
        saved = json.loads(RESULTS.read_text())
        rows, steps = saved["rows"], saved["steps"]
    else:
        rows, steps = run(a.steps), a.steps
        RESULTS.write_text(json.dumps({"steps": steps, "rows": rows}, indent=2) + "\n")
    text = render(rows, steps)
    print(text)
    if a.write:
        write_section("ddp_throughput", text, "Data-parallel training (torchrun): PTB small")


if __name__ == "__main__":
    main()
