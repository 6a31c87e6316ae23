"""Part-of-speech tagging on UD English EWT (gold tokenization), every row one `rnnlab train`.

Rows: the HMM (counted; its run also computes the most-frequent-tag baseline on the same
test part), bi-LSTM over words, + a character BiLSTM, + a CRF, each UPOS row within the
issue's 20 CPU-minutes (`--max-time 1200 --clock cpu`, one thread), and two XPOS rows of the
character models (240 and 720 CPU seconds). Cross-domain: the
EWT-trained runs evaluated, untuned, on PUD test and ParTUT test
(`rnnlab evaluate RUN --data FILE --json`).

    python benchmarks/tag.py --write                 # train every row, evaluate, write
    python benchmarks/tag.py --reuse --write         # rows whose run folder is finished
    python benchmarks/tag.py --render-only --write

Throughput: training words/s = epochs x training words / training CPU seconds (metrics.jsonl);
the HMM's counting is timed in this process (`fit_counts`, CPU seconds). Tagging words/s:
CPU seconds of tagging the test part inside the run's `finish`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import run_rnnlab as rnnlab  # noqa: E402
from report import write_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EWT = "../shared/data/ud_english_ewt"
HELDOUT = "../shared/data/heldout_ud"
SPLITS = ["--data", f"{EWT}/en_ewt-ud-train.conllu", "--val-data",
          f"{EWT}/en_ewt-ud-dev.conllu", "--test-data", f"{EWT}/en_ewt-ud-test.conllu"]
CPU = ["--clock", "cpu", "--threads", "1", "--no-progress"]
ROWS: list[tuple[str, str, list[str]]] = [
    ("hmm", "HMM (order 2, suffix model for unknown words)",
     ["--model", "hmm", "--max-time", "720"]),
    ("bilstm_word", "bi-LSTM, words only", ["--model", "lstm", "--char-encoder", "none",
                                            "--max-time", "1200"]),
    ("bilstm_char", "bi-LSTM + char BiLSTM", ["--model", "lstm", "--max-time", "1200"]),
    ("bilstm_char_crf", "bi-LSTM + char BiLSTM + CRF", ["--model", "lstm", "--crf",
                                                        "--max-time", "1200"]),
    ("bilstm_char_xpos", "bi-LSTM + char BiLSTM, XPOS", ["--model", "lstm", "--tag-column",
                                                         "xpos", "--max-time", "240"]),
    ("bilstm_char_crf_xpos", "bi-LSTM + char BiLSTM + CRF, XPOS",
     ["--model", "lstm", "--crf", "--tag-column", "xpos", "--max-time", "720"]),
]
# how the recorded runs of these rows were made, where it differs from their command above
NOTES = {k: (f"started with --max-time {t}, stopped after epoch 2 (about 100 CPU s) to free "
             f"the shared machine and continued with `rnnlab train --resume --out "
             f"runs/bench-tag/{k} --max-time 240 --threads 1 --no-progress`")
         for k, t in (("bilstm_char_xpos", 360),)}
CROSS = {"PUD test": f"{HELDOUT}/en_pud-ud-test.conllu",
         "ParTUT test": f"{HELDOUT}/en_partut-ud-test.conllu"}
RESULTS = ROOT / "benchmarks" / "results" / "tag.json"
FOLDER = "runs/bench-tag"


def train_command(key: str, args: list[str]) -> list[str]:
    # --defaults fixed: the recorded rows ran to their epoch limit, before the budget rule
    return ["train", "--task", "tag", "--defaults", "fixed", *SPLITS, *args, *CPU, "--out",
            f"{FOLDER}/{key}"]


def hmm_fit_seconds() -> float:
    """CPU seconds of `HMMTagger.fit_counts` on the EWT training file (one thread)."""
    import torch

    sys.path.insert(0, str(ROOT))
    from rnnlab.models.hmm import HMMTagger
    from rnnlab.runconfig import make_config
    from rnnlab.tasks.tag import Encoder, read

    torch.set_num_threads(1)
    cfg, _ = make_config("tag", None, {"data": {"data": str(ROOT / SPLITS[1])}})
    train = read(cfg, cfg.data.data, "--data")
    enc = Encoder.fit(train)
    model = HMMTagger(len(enc.tags))
    t0 = time.process_time()
    model.fit_counts([(w, enc.tags.encode(t)) for w, t in train])
    return time.process_time() - t0


def collect(key: str, args: list[str]) -> dict:
    run = ROOT / FOLDER / key
    final = json.loads((run / "final.json").read_text())
    entry: dict = {"command": "rnnlab " + " ".join(train_command(key, args)),
                   "final": {p: {k: v for k, v in final[p].items() if k != "confusion"}
                             for p in ("val", "test")},
                   "baselines": final.get("baselines", {}), "train_tokens": final["train_tokens"]}
    metrics = run / "metrics.jsonl"
    if metrics.is_file():
        records = [json.loads(line) for line in metrics.read_text().splitlines()]
        last = records[-1]
        best = min(records, key=lambda r: r["val_error_rate"])
        entry.update(train_seconds=last["time"], epochs=last["epoch"],
                     best_epoch=best["epoch"],
                     train_tokens_per_s=last["epoch"] * final["train_tokens"] / last["time"])
    else:  # the counted HMM
        s = hmm_fit_seconds()
        entry.update(train_seconds=round(s, 2), epochs=1, best_epoch=1,
                     train_tokens_per_s=final["train_tokens"] / s)
    if "xpos" not in key:
        entry["cross"] = {}
        for name, path in CROSS.items():
            cmd = ["evaluate", f"{FOLDER}/{key}", "--data", path, "--json", "--threads", "1"]
            m = json.loads(rnnlab(cmd))
            m.pop("per_tag")
            entry["cross"][name] = {**m, "command": "rnnlab " + " ".join(cmd)}
    if key in NOTES:
        entry["note"] = NOTES[key]
    entry["date"] = time.strftime("%Y-%m-%d")
    return entry


def pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}"


def render(results: dict) -> str:
    ok = [k for k, _, _ in ROWS if k in results]
    lines = ["UD English EWT 2.16, gold tokenization, test part (25,094 words; unknown = not "
             "in the training file's words). One CPU thread; each neural row trained within "
             "its `--max-time` CPU seconds: the three UPOS rows 1200 (the issue's 20 "
             "CPU-minutes), the XPOS rows 240 and 720 (the machine was shared), best epoch "
             "by dev accuracy. Words/s are per CPU second.",
             "", "| tagger | tags | all | known | unknown | training CPU s (epochs) | "
             "training words/s | tagging words/s |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    labels = {k: label for k, label, _ in ROWS}
    for key in ok:
        e = results[key]
        if key == "hmm":
            for tags, b in (("UPOS", e["baselines"]["most_frequent_test"]),):
                lines.append(f"| most frequent tag per word (unknown: most frequent tag) | "
                             f"{tags} | {pct(b['accuracy'])} | {pct(b['known_accuracy'])} | "
                             f"{pct(b['unknown_accuracy'])} | (counted) | | |")
        t = e["final"]["test"]
        tags = "XPOS" if "xpos" in key else "UPOS"
        ep = "counted" if key == "hmm" else f"{e['epochs']:.0f}, best {e['best_epoch']:.0f}"
        lines.append(f"| {labels[key]} | {tags} | {pct(t['accuracy'])} | "
                     f"{pct(t['known_accuracy'])} | {pct(t['unknown_accuracy'])} | "
                     f"{e['train_seconds']:.1f} ({ep}) | {e['train_tokens_per_s']:,.0f} | "
                     f"{t['tokens_per_second']:,.0f} |")
        if key == "bilstm_char_xpos":
            b = e["baselines"]["most_frequent_test"]
            lines.append(f"| most frequent tag per word | XPOS | {pct(b['accuracy'])} | "
                         f"{pct(b['known_accuracy'])} | {pct(b['unknown_accuracy'])} | "
                         "(counted) | | |")
    lines += ["", "References on EWT with gold tokens and no pretrained embeddings: bilty "
              "(Plank et al. 2016, BiLSTM word + char) 94.60 on UD 1.3; UDPipe 1.2 about "
              "94.4-94.5 on UD 2.x. With pretrained embeddings: Stanza about 95.4, UDPipe 2 "
              "97.5. TnT (a second-order HMM) reaches 96.7 on newswire (WSJ).", "",
              "Cross-domain, untuned (the EWT-trained runs above, UPOS; unknown = not in the "
              "EWT training words):", "", "| tagger | data | words | all | known | unknown |",
              "|---|---|---:|---:|---:|---:|"]
    for key in ok:
        for name, m in results[key].get("cross", {}).items():
            lines.append(f"| {labels[key]} | {name} | {m['tokens']:,} | {pct(m['accuracy'])} "
                         f"| {pct(m['known_accuracy'])} | {pct(m['unknown_accuracy'])} |")
    lines += ["", "Commands (run from the repository root):", ""]
    for key in ok:
        note = results[key].get("note")
        lines.append(f"- {labels[key]}: `{results[key]['command']}`"
                     + (f" (the recorded run was {note})" if note else ""))
    lines.append("- cross-domain: `rnnlab evaluate runs/bench-tag/KEY --data "
                 f"{HELDOUT}/en_pud-ud-test.conllu --json` (and en_partut-ud-test.conllu)")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", help="comma-separated row keys (default: all): " +
                    ", ".join(k for k, _, _ in ROWS))
    ap.add_argument("--reuse", action="store_true",
                    help="collect finished run folders instead of training them again")
    ap.add_argument("--write", action="store_true", help="write the section of BENCHMARKS.md")
    ap.add_argument("--render-only", action="store_true")
    args = ap.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    if not args.render_only:
        keep = args.rows.split(",") if args.rows else None
        for key, _, row_args in ROWS:
            if keep and key not in keep:
                continue
            done = (ROOT / FOLDER / key / "final.json").is_file()
            if args.reuse and not done:
                print(f"{key}: no finished run in {FOLDER}/{key}; skipped", flush=True)
                continue
            if not args.reuse:
                rnnlab(train_command(key, row_args))
            results[key] = collect(key, row_args)
            print(f"{key}: test accuracy {pct(results[key]['final']['test']['accuracy'])}",
                  flush=True)
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    table = render(results)
    print(table)
    if args.write:
        write_section("tag_ewt", table, heading="Tagging: UD English EWT part-of-speech")


if __name__ == "__main__":
    main()
