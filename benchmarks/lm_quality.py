"""Language-model quality on the real datasets, every model trained through the real CLI.

Suites (each model from its named config, `configs/<suite>_<model>.toml`, one seeded split
shared by all models, one wall-clock budget per model, one model at a time):
  names        names.txt: test NLL in nats per character, `<eos>` counted
  timemachine  The Time Machine, character stream: validation perplexity, plus a sample

    python benchmarks/lm_quality.py --suite names --max-time 300 --threads 1 --write
    python benchmarks/lm_quality.py --suite timemachine --max-steps 1000 --threads 1 --write

Results accumulate in `benchmarks/results/<suite>.json` (one entry per model, so models can
be re-run one at a time) and the table is rendered from all of them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SUITES = {
    "names": {"bigram": "count bigram (add-1)", "ngram": "5-gram, modified Kneser-Ney",
              "mlp": "MLP (Bengio 2003), context 6",
              "rnn": "Elman RNN 512", "gru": "GRU 512", "lstm": "LSTM 512"},
    "timemachine": {"rnn": "Elman RNN 512", "gru": "GRU 512", "lstm": "LSTM 512"},
}
INTRO = {
    "names": "Test NLL on names.txt in nats per character, `<eos>` counted ({tokens} test "
             "tokens). Split: `random.Random(1337)` shuffle, 1000 test, 1000 validation, "
             "30,033 train names.",
    "timemachine": "The Time Machine as one character stream (every character a token, "
                   "newlines included), contiguous split 90% train / 5% validation / 5% "
                   "test; TBPTT chunks of 64 characters, sequential partition. Validation "
                   "perplexity per character ({tokens} validation tokens) with the same budget "
                   "for each model.",
}


def run(cmd: list[str]) -> str:
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stderr[-2000:]}")
    return r.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", choices=sorted(SUITES), default="names")
    ap.add_argument("--models", help="comma-separated subset (default: the whole suite)")
    ap.add_argument("--max-time", type=float, default=300.0, help="seconds of training each")
    ap.add_argument("--max-steps", type=int,
                    help="budget in optimizer steps instead of seconds (fair on a loaded machine)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--write", action="store_true", help="write the table into BENCHMARKS.md")
    args = ap.parse_args()
    models = args.models.split(",") if args.models else list(SUITES[args.suite])
    results_path = ROOT / "benchmarks" / "results" / f"{args.suite}.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    stamp = time.strftime("%Y%m%d-%H%M%S")
    py = [sys.executable, "-m", "rnnlab"]
    for name in models:
        out = f"runs/bench-{args.suite}-{stamp}/{name}"
        cmd = ["rnnlab", "train", "--config", f"configs/{args.suite}_{name}.toml", "--out", out,
               "--threads", str(args.threads), "--no-progress", "--samples", "0"]
        if name not in ("bigram", "ngram"):
            cmd += (["--max-steps", str(args.max_steps), "--max-time", "0"] if args.max_steps
                    else ["--max-time", f"{args.max_time:g}"])
        t0 = time.perf_counter()
        run(py + cmd[1:])
        seconds = time.perf_counter() - t0
        ev = {s: json.loads(run(py + ["evaluate", out, "--split", s, "--json"]))
              for s in ("val", "test")}
        metrics = ROOT / out / "metrics.jsonl"
        steps = json.loads(metrics.read_text().splitlines()[-1])["step"] if metrics.exists() else 0
        entry = {"val_nll": ev["val"]["nll"], "val_ppl": ev["val"]["ppl"],
                 "test_nll": ev["test"]["nll"], "test_ppl": ev["test"]["ppl"],
                 "val_tokens": ev["val"]["tokens"], "test_tokens": ev["test"]["tokens"],
                 "steps": steps, "seconds": round(seconds, 1), "command": " ".join(cmd),
                 "date": time.strftime("%Y-%m-%d")}
        if args.suite == "timemachine":
            entry["sample"] = run(py + ["generate", out, "--prompt", "The Time Traveller",
                                        "--num", "1", "--max-new-tokens", "200", "--seed", "1",
                                        "--temperature", "0.8"]).strip()
        results[name] = entry
        print(f"{name:8s} val nll {entry['val_nll']:.4f} ppl {entry['val_ppl']:.3f} "
              f"test nll {entry['test_nll']:.4f} ({steps} steps, {seconds:.0f} s)", flush=True)
        results_path.parent.mkdir(exist_ok=True)
        results_path.write_text(json.dumps(results, indent=2) + "\n")
    table = render(args.suite, results)
    print(table)
    if args.write:
        write_section(args.suite, table)


def render(suite: str, results: dict) -> str:
    first = next(iter(results.values()))
    tokens = first["test_tokens"] if suite == "names" else first["val_tokens"]
    lines = [INTRO[suite].format(tokens=tokens) + " Each neural model trains for the budget "
             "in its command on a shared 2-core machine; rows from `python "
             f"benchmarks/lm_quality.py --suite {suite} --models NAME ... --write`.", ""]
    # (header, key, format) of each suite's metric columns; steps, time, command, date follow
    metrics = ([("val NLL", "val_nll", ".4f"), ("test NLL", "test_nll", ".4f")]
               if suite == "names" else
               [("val ppl", "val_ppl", ".3f"), ("val NLL", "val_nll", ".4f"),
                ("test ppl", "test_ppl", ".3f")])
    lines += ["| model | " + " | ".join(h for h, _, _ in metrics)
              + " | steps | wall s | command | date |",
              "|---|" + "---:|" * (len(metrics) + 2) + "---|---|"]
    for name, label in SUITES[suite].items():
        if name in results:
            r = results[name]
            cells = [format(r[key], fmt) for _, key, fmt in metrics]
            lines.append(f"| {label} | {' | '.join(cells)} | {r['steps']} | "
                         f"{r['seconds']:.0f} | `{r['command']}` | {r['date']} |")
    if suite != "names":
        lines.append("")
        for name, label in SUITES[suite].items():
            if name in results and "sample" in results[name]:
                lines += [f"{label}, `rnnlab generate RUN --prompt \"The Time Traveller\" "
                          "--temperature 0.8 --seed 1`:", "", "```",
                          results[name]["sample"], "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
