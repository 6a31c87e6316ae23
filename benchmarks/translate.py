"""Translation on Tatoeba: attention vs none, greedy vs beam, by source length, decoding speed,
and the held-out English-Swedish pairs with the same settings. Every figure through the CLI.

Phases (each run one at a time; CPU-second budgets, so a shared machine does not change them):
  train     `rnnlab train --config configs/translate_eng_fra.toml` per row (ROWS)
  eval      `rnnlab evaluate RUN --json` greedy and beam 5 on each run's grouped test part
  speed     sentences/s, greedy and beam 5, batched vs one sentence at a time (first N test
            pairs of the best run)
  heatmaps  `rnnlab translate RUN SENTENCE --attention-png docs/attention_K.png`

    python benchmarks/translate.py --phase train --threads 1
    python benchmarks/translate.py --phase eval
    python benchmarks/translate.py --render-only --write
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import shlex
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import run_rnnlab as rnnlab  # noqa: E402
from report import write_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ["--config", "configs/translate_eng_fra.toml"]
SWE = "../shared/data/heldout_pairs/swe.txt"
# key -> (label, flags beside the config, CPU seconds)
ROWS: dict[str, tuple[str, list[str], int]] = {
    "eng-fra-additive": ("eng->fra, additive attention", [], 3600),
    "eng-fra-multiplicative": ("eng->fra, multiplicative attention",
                               ["--attention", "multiplicative"], 3600),
    "eng-fra-none": ("eng->fra, no attention", ["--attention", "none", "--no-input-feeding"],
                     3600),
    "eng-fra-additive-ls": ("eng->fra, additive, label smoothing 0.1",
                            ["--label-smoothing", "0.1"], 3600),
    "eng-fra-additive-ls-d3": ("eng->fra, additive, label smoothing 0.1, dropout 0.3",
                               ["--label-smoothing", "0.1", "--dropout", "0.3"], 3600),
    "eng-fra-additive-tied": ("eng->fra, additive, tied target embedding",
                              ["--tie-embeddings"], 3600),
    "eng-fra-additive-bpe": ("eng->fra, additive, BPE 8k pieces a side",
                             ["--subword", "bpe"], 3600),
    "eng-fra-additive-bpe4k": ("eng->fra, additive, BPE 4k pieces a side",
                               ["--subword", "bpe", "--subword-vocab", "4000"], 3600),
    "eng-fra-additive-nofeed": ("eng->fra, additive, no input feeding (fused decoder)",
                                ["--no-input-feeding"], 3600),
    "eng-fra-additive-bpe-nofeed": ("eng->fra, additive, BPE 8k, no input feeding",
                                    ["--no-input-feeding", "--subword", "bpe"], 3600),
    "fra-eng-additive": ("fra->eng, additive attention", ["--reverse"], 3600),
    "swe-defaults": ("eng->swe (held out), the same config", ["--data", SWE], 240),
    "swe-bpe-nofeed": ("eng->swe (held out), BPE 8k, no input feeding",
                       ["--data", SWE, "--no-input-feeding", "--subword", "bpe"], 240),
}
RUNS = "runs/bench-translate"
RESULTS = ROOT / "benchmarks" / "results" / "translate.json"
HEATMAP_SENTENCES = 2


def load() -> dict:
    return json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}


def save(results: dict) -> None:
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


@contextlib.contextmanager
def updating() -> Iterator[dict]:
    """Load, change and save the results under a lock: two phases may run side by side (one
    per core), and one must not overwrite what the other just saved."""
    RESULTS.parent.mkdir(exist_ok=True)
    with open(RESULTS.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        results = load()
        yield results
        save(results)


def train_command(key: str, threads: int, out: str) -> list[str]:
    _, flags, budget = ROWS[key]
    return ["train", *CONFIG, *flags, "--threads", str(threads), "--clock", "cpu",
            "--max-time", str(budget), "--final-beams", "0", "--no-progress", "--out", out]


def train(keys: list[str], threads: int) -> None:
    for key in keys:
        out = f"{RUNS}/{key}"
        t0 = time.perf_counter()
        log = rnnlab(train_command(key, threads, out))
        (ROOT / out / "train.log").write_text(log)
        record(key, threads, out, round(time.perf_counter() - t0, 1))
        print(f"trained {key} in {time.perf_counter() - t0:.0f} s", flush=True)


def record(key: str, threads: int, out: str, wall: float | None) -> None:
    """Save a row's finished run (trained here, or by its command by hand: --phase adopt
    --from RUN, which must be that row's run: its resolved config is checked)."""
    label, _, budget = ROWS[key]
    cfg = json.loads((ROOT / out / "config.json").read_text())
    if cfg.get("train", {}).get("max_time") != budget:
        raise SystemExit(f"{out}: max_time {cfg.get('train', {}).get('max_time')} is not the "
                         f"row's budget {budget}")
    run = {"label": label, "command": "rnnlab " + " ".join(train_command(key, threads, out)),
           "cpu_budget": budget, "wall_seconds": wall, "date": time.strftime("%Y-%m-%d"),
           "split": json.loads((ROOT / out / "split.json").read_text()),
           "final": json.loads((ROOT / out / "final.json").read_text()),
           "last_eval": json.loads(
               (ROOT / out / "metrics.jsonl").read_text().splitlines()[-1])}
    with updating() as results:
        results.setdefault("runs", {})[key] = run


def evaluate(keys: list[str], threads: int) -> None:
    for key in keys:
        out = load()["runs"][key]["command"].rsplit("--out ", 1)[1]
        for name, flags in (("greedy", ["--strategy", "greedy"]),
                            ("beam5", ["--strategy", "beam_search", "--num-beams", "5"])):
            cmd = ["evaluate", out, *flags, "--threads", str(threads), "--json"]
            m = json.loads(rnnlab(cmd))
            m["command"] = "rnnlab " + " ".join(cmd)
            with updating() as results:
                results["runs"][key].setdefault("eval", {})[name] = m
            print(f"{key} {name}: BLEU {m['bleu']:.2f} chrF {m['chrf']:.2f}", flush=True)


def speed(key: str, limit: int, threads: int) -> None:
    out = f"{RUNS}/{key}"
    rows = {}
    for name, flags in (("greedy", ["--strategy", "greedy"]),
                        ("beam5", ["--strategy", "beam_search", "--num-beams", "5"])):
        for batch in (64, 1):
            cmd = ["evaluate", out, *flags, "--limit", str(limit), "--batch-size", str(batch),
                   "--threads", str(threads), "--json"]
            m = json.loads(rnnlab(cmd))
            rows[f"{name}-b{batch}"] = {"command": "rnnlab " + " ".join(cmd),
                                        **{k: m[k] for k in (
                                            "bleu", "decoded_sentences", "sentences_per_second",
                                            "seconds_per_sentence", "cpu_seconds_per_sentence")}}
            print(f"speed {name} batch {batch}: {m['sentences_per_second']:.1f} sentences/s",
                  flush=True)
    with updating() as results:
        results["speed"] = {"run": key, "limit": limit, "rows": rows}


def heatmaps(key: str) -> None:
    """Two test sentences of the run's split (the first of 6-10 and of 11-15 words)."""
    out = f"{RUNS}/{key}"
    tsv = (ROOT / out / "test_translations.tsv").read_text().splitlines()[1:]
    sources = [line.split("\t")[0] for line in tsv]
    picks = [next(s for s in sources if lo <= len(s.split()) <= hi) for lo, hi in
             ((6, 10), (11, 15))][:HEATMAP_SENTENCES]
    entries = []
    for k, s in enumerate(picks, 1):
        png = f"docs/attention_{k}.png"
        cmd = ["translate", out, s, "--attention-png", png, "--json"]
        r = json.loads(rnnlab(cmd).splitlines()[0])
        entries.append({"png": png, "source": s, "translation": r["translation"],
                        "command": "rnnlab " + shlex.join(cmd)})
    with updating() as results:
        results["heatmaps"] = entries


# -- the BENCHMARKS.md section ---------------------------------------------------------------
def _f(m: dict | None, key: str) -> str:
    return f"{m[key]:.1f}" if m else "n/a"


def targets(runs: dict) -> list[str]:
    """The issue's targets, checked on the eng->fra rows trained with the additive row's
    CPU budget (a row of another budget is named, not compared)."""
    def bleu(key: str, name: str) -> float | None:
        return runs.get(key, {}).get("eval", {}).get(name, {}).get("bleu")

    add, none = bleu("eng-fra-additive", "beam5"), bleu("eng-fra-none", "beam5")
    if add is None or none is None:
        return []
    budget = runs["eng-fra-additive"]["cpu_budget"]
    same = [k for k in ROWS if k.startswith("eng-fra") and k in runs
            and runs[k]["cpu_budget"] == budget]
    other = [k for k in ROWS if k.startswith("eng-fra") and k in runs and k not in same]
    best = max(b for k in same for n in ("greedy", "beam5") if (b := bleu(k, n)) is not None)
    beam_ok = [k for k in same if (bleu(k, "beam5") or 0) >= (bleu(k, "greedy") or 0)]
    gap = (bleu("eng-fra-additive", "greedy") or 0) - (bleu("eng-fra-none", "greedy") or 0)
    mult = bleu("eng-fra-multiplicative", "beam5")
    mult_gap = (f" and multiplicative by {mult - none:.1f}"
                if mult is not None and "eng-fra-multiplicative" in same else "")
    not_rerun = (f" Not trained at {budget / 60:.0f} CPU-minutes: "
                 + ", ".join(f"{k} ({runs[k]['cpu_budget'] / 60:.0f})" for k in other) + "."
                 if other else "")
    return ["", f"Targets at {budget / 60:.0f} CPU-minutes: additive attention beats no "
            f"attention by {add - none:.1f} BLEU with beam 5 ({gap:.1f} greedy){mult_gap} "
            f"(target >= 5); beam 5 >= greedy for {len(beam_ok)} of {len(same)} eng->fra "
            f"models ({', '.join(beam_ok) or 'none'}); the best eng->fra BLEU is {best:.1f} "
            f"(target >= 40: {'met' if best >= 40 else 'missed'}).{not_rerun}"]


def render(results: dict) -> str:
    got = results.get("runs", {})
    runs = {k: got[k] for k in ROWS if k in got}
    lines = ["Grouped split of `fra.txt` by English sentence (seed 1337; 2% validation, 2% test "
             "of the distinct sources): no test source is in training. Each model trained on "
             "one thread for the CPU minutes of its row (`--threads 1 --clock cpu --max-time "
             "S`, so a shared machine changes the wall time, not the figure); Swedish on its "
             "own grouped split of `swe.txt`. BLEU and chrF: "
             "sacreBLEU on the test part, hypotheses detokenized, references as read "
             "(normalized).", "",
             "| run | CPU min | steps | epochs | val NLL | test BLEU greedy | BLEU beam 5 | "
             "chrF greedy | chrF beam 5 | ms/sent. greedy | ms/sent. beam 5 |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in runs.values():
        g, b = r.get("eval", {}).get("greedy"), r.get("eval", {}).get("beam5")
        ms = [f"{m['seconds_per_sentence'] * 1000:.1f}" if m else "n/a" for m in (g, b)]
        lines.append(
            f"| {r['label']} | {r['cpu_budget'] / 60:.0f} | {r['last_eval']['step']} | "
            f"{r['last_eval']['epoch']:.2f} | {r['final']['val']['nll']:.3f} | "
            f"{_f(g, 'bleu')} | {_f(b, 'bleu')} | {_f(g, 'chrf')} | {_f(b, 'chrf')} | "
            f"{ms[0]} | {ms[1]} |")
    lines += targets(runs)
    sig = next((r["eval"]["greedy"]["signature"] for r in runs.values() if "eval" in r), None)
    if sig:
        lines += ["", f"sacreBLEU signature: `{sig}`"]
    lines += ["", "Commands:", ""]
    for r in runs.values():
        lines.append(f"- {r['label']}: `{r['command']}`")
        for name, m in r.get("eval", {}).items():
            lines.append(f"  - {name}: `{m['command']}`")
    lines += ["", "**BLEU by source length** (words of the source; test part; sentences in "
              "parentheses):", "",
              "| run | " + " | ".join(w for w in ("1-5", "6-10", "11-15", "16+")) + " |",
              "|---|---:|---:|---:|---:|"]
    for r in runs.values():
        for name in ("greedy", "beam5"):
            m = r.get("eval", {}).get(name)
            if not m:
                continue
            by = {b["words"]: b for b in m["buckets"]}
            lines.append(f"| {r['label']}, {name} | " + " | ".join(
                f"{by[w]['bleu']:.1f} ({by[w]['sentences']})" if w in by else "n/a"
                for w in ("1-5", "6-10", "11-15", "16+")) + " |")
    sp = results.get("speed")
    if sp:
        lines += ["", f"**Decoding speed** ({sp['run']}: {sp['limit']} test pairs spread evenly "
                  "over the test part, one thread, wall clock on the shared machine; batch 1 "
                  "decodes one sentence at a time):", "",
                  "| strategy | batch | sentences/s | CPU ms/sentence | BLEU |",
                  "|---|---:|---:|---:|---:|"]
        for k, m in sp["rows"].items():
            name, batch = k.rsplit("-b", 1)
            lines.append(f"| {name} | {batch} | {m['sentences_per_second']:.1f} | "
                         f"{m['cpu_seconds_per_sentence'] * 1000:.1f} | {m['bleu']:.1f} |")
        lines += [""] + [f"- `{m['command']}`" for m in sp["rows"].values()]
    for h in results.get("heatmaps", []):
        lines += ["", f"![attention]({h['png']}) `{h['source']}` -> `{h['translation']}`: "
                  f"`{h['command']}`"]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--phase", choices=("train", "adopt", "eval", "speed", "heatmaps"))
    ap.add_argument("--from", dest="run_dir", help="adopt: the run folder of the one --rows key")
    ap.add_argument("--rows", help="comma-separated keys of ROWS (default: all)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--speed-run", default="eng-fra-additive")
    ap.add_argument("--speed-limit", type=int, default=300)
    ap.add_argument("--render-only", action="store_true")
    ap.add_argument("--write", action="store_true", help="write the section into BENCHMARKS.md")
    args = ap.parse_args()
    keys = args.rows.split(",") if args.rows else list(ROWS)
    if not args.render_only:
        if args.phase == "train":
            train(keys, args.threads)
        elif args.phase == "adopt":
            if len(keys) != 1 or not args.run_dir:
                raise SystemExit("--phase adopt needs one --rows key and --from RUN")
            record(keys[0], args.threads, args.run_dir, None)
        elif args.phase == "eval":
            evaluate(keys, args.threads)
        elif args.phase == "speed":
            speed(args.speed_run, args.speed_limit, args.threads)
        elif args.phase == "heatmaps":
            heatmaps(args.speed_run)
    table = render(load())
    print(table)
    if args.write:
        write_section("translate", table, heading="Translation: Tatoeba English-French")


if __name__ == "__main__":
    main()
