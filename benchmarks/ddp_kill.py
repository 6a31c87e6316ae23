"""Fault and resume under torchrun, on The Time Machine's characters (LSTM-64, constant lr):

  kill    a 2-process run loses rank 1 to SIGKILL after its third evaluation: how long rank 0
          takes to stop and what it prints, then `--resume` with 2 processes continues from
          last.pt to the end
  counts  200 steps in one go with 1 process and with 2, against 100 steps with 2 processes
          resumed for 100 more with 1 (and the reverse): the validation NLL at step 200

    python benchmarks/ddp_kill.py --write      (Linux: reads /proc to find rank 1)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "ddp_kill.json"
TORCHRUN = [str(Path(sys.executable).with_name("torchrun")), "--standalone",
            "--nproc_per_node", "2"]
ONE = [sys.executable]
TRAIN = ["-m", "rnnlab", "train", "--data", "../shared/data/timemachine/timemachine.txt",
         "--model", "lstm", "--hidden-size", "64", "--schedule", "constant", "--eval-every",
         "25", "--threads", "1", "--no-progress", "--samples", "0"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _rank_pid(parent: int, rank: int) -> int | None:
    children = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True)
    for child in children.stdout.split():
        env = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        if f"RANK={rank}".encode() in env:
            return int(child)
    return None


def _evals(run: Path) -> list[dict]:
    f = run / "metrics.jsonl"
    return [json.loads(x) for x in f.read_text().splitlines()] if f.is_file() else []


def kill(tmp: Path) -> dict:
    run = tmp / "kill"
    cmd = [*TORCHRUN, *TRAIN, "--max-steps", "300", "--out", str(run)]
    p = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    while len(_evals(run)) < 3:
        time.sleep(0.2)
    pid = _rank_pid(p.pid, 1)
    os.kill(pid, signal.SIGKILL)
    t0 = time.perf_counter()
    log = p.communicate()[0]
    stopped = time.perf_counter() - t0
    error = next(line for line in log.splitlines() if line.startswith("error:"))
    at = _evals(run)[-1]["step"]
    r = subprocess.run([*TORCHRUN, *TRAIN, "--out", str(run), "--resume"], cwd=ROOT, env=ENV,
                       capture_output=True, text=True, check=True)
    evals = _evals(run)
    return {"killed_after_step": at, "seconds_to_stop": round(stopped, 2),
            "torchrun_exit": p.returncode, "error": error,
            "resumed_first_eval": next(e["step"] for e in evals if e["step"] > at),
            "final_step": evals[-1]["step"], "final_val_nll": evals[-1]["val_nll"],
            "resume_done": [x for x in r.stdout.splitlines() if x.startswith("done:")][0]}


def counts(tmp: Path) -> list[dict]:
    rows = []
    for name, first, second in (("1 process, 200 steps", ONE, None),
                                ("2 processes, 200 steps", TORCHRUN, None),
                                ("2 processes 100 steps, then 1 process 100", TORCHRUN, ONE),
                                ("1 process 100 steps, then 2 processes 100", ONE, TORCHRUN)):
        run = tmp / name.replace(" ", "_").replace(",", "")
        steps = "200" if second is None else "100"
        subprocess.run([*first, *TRAIN, "--max-steps", steps, "--out", str(run)], cwd=ROOT,
                       env=ENV, check=True, capture_output=True)
        if second is not None:
            subprocess.run([*second, *TRAIN, "--max-steps", "200", "--out", str(run),
                            "--resume"], cwd=ROOT, env=ENV, check=True, capture_output=True)
        last = _evals(run)[-1]
        rows.append({"run": name, "step": last["step"], "val_nll": last["val_nll"]})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def render(k: dict, rows: list[dict]) -> str:
    lines = [
        "`python benchmarks/ddp_kill.py --write`. Training: `torchrun --standalone "
        "--nproc_per_node 2 -m rnnlab train --data ../shared/data/timemachine/timemachine.txt "
        "--model lstm --hidden-size 64 --schedule constant --eval-every 25 --threads 1 "
        "--max-steps 300 --out RUN`; rank 1 gets SIGKILL after the third evaluation.", "",
        f"- killed after step {k['killed_after_step']}; rank 0 stopped "
        f"{k['seconds_to_stop']} s later, torchrun exited with status {k['torchrun_exit']}, "
        "rank 0 printed:", "", "  ```", f"  {k['error']}", "  ```", "",
        f"- `torchrun --standalone --nproc_per_node 2 -m rnnlab train --out RUN --resume`: "
        f"first evaluation at step {k['resumed_first_eval']}, ended at step "
        f"{k['final_step']} (val NLL {k['final_val_nll']:.4f}); `{k['resume_done']}`", "",
        "Resume across process counts (same command, `--max-steps 100` then `--resume "
        "--max-steps 200` with the other launcher):", "",
        "| run | step | val NLL |", "|---|---:|---:|"]
    lines += [f"| {r['run']} | {r['step']} | {r['val_nll']:.5f} |" for r in rows]
    lines += ["", "The four agree to float32 rounding amplified by 200 AdamW steps: the global "
              "batches, their order and the carried state are the same whichever way each "
              "batch is split over processes."]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--render-only", action="store_true")
    a = ap.parse_args()
    if a.render_only:
        saved = json.loads(RESULTS.read_text())
    else:
        with tempfile.TemporaryDirectory() as tmp:
            saved = {"kill": kill(Path(tmp)), "counts": counts(Path(tmp))}
        RESULTS.write_text(json.dumps(saved, indent=2) + "\n")
    text = render(saved["kill"], saved["counts"])
    print(text)
    if a.write:
        write_section("ddp_kill", text, "Data-parallel training: a killed rank, and resume")


if __name__ == "__main__":
    main()
