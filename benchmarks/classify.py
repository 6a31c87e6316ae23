"""Classification and conditional generation on real labeled data, every run through the CLI.

Suites (each row one `rnnlab train` command; the baselines, majority class and multinomial
naive Bayes, are computed by the same run on the same split):
  names        names_by_language, deduplicated stratified split: accuracy and macro-F1
  sms          the held-out SMS spam collection, defaults only (never tuned on)
  mr           sentence polarity, 10-fold cross-validation
  conditional  names_by_language: NLL per character conditioned vs unconditioned, samples,
               and the share of samples the names classifier assigns to the intended language

    python benchmarks/classify.py --suite names --threads 1 --write
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import run_rnnlab as run  # noqa: E402
from report import write_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = "../shared/data"
# the recorded rows ran before `--defaults auto`: fixed keeps what each command meant
CLASSIFY = ["--task", "classify", "--defaults", "fixed"]
NAMES = [*CLASSIFY, "--data", f"{DATA}/names_by_language", "--format", "folder"]
BUDGET = ["--max-time", "120", "--clock", "cpu", "--max-steps", "100000"]
MR_DATA = [*CLASSIFY, "--data", f"{DATA}/sentiment_mr", "--format", "folder",
           "--glob", "rt-polarity.*", "--encoding", "cp1252", "--level", "word", "--min-freq",
           "2"]
MR_REG = ["--embedding-dim", "128", "--hidden-size", "128", "--dropout", "0.5",
          "--embedding-dropout", "0.5", "--word-dropout", "0.25", "--monitor", "error_rate",
          "--patience", "8"]
MR_WD = [*CLASSIFY, "--data", f"{DATA}/sentiment_mr", "--format", "folder", "--glob",
         "rt-polarity.*", "--encoding", "cp1252", "--level", "word", "--model", "gru",
         "--bidirectional", "--pool", "max", "--embedding-dim", "128", "--hidden-size", "128",
         "--dropout", "0.5", "--embedding-dropout", "0.5", "--word-dropout", "0.25",
         "--monitor", "error_rate", "--patience", "8", "--cv", "10", "--max-time", "240",
         "--clock", "cpu", "--max-steps", "100000"]
SUITES: dict[str, list[tuple[str, list[str]]]] = {
    "names": [
        ("GRU, last state", [*NAMES, "--model", "gru", "--pool", "last", *BUDGET]),
        ("bi-GRU, mean", [*NAMES, "--model", "gru", "--bidirectional", "--pool", "mean",
                          *BUDGET]),
        ("bi-LSTM, attention", [*NAMES, "--model", "lstm", "--bidirectional", "--pool",
                                "attention", *BUDGET]),
        ("bi-GRU, max, balanced weights", [*NAMES, "--model", "gru", "--bidirectional",
                                           "--pool", "max", "--class-weights", "balanced",
                                           *BUDGET]),
    ],
    "sms": [("defaults", [*CLASSIFY, "--data", f"{DATA}/heldout_labeled/"
                          "SMSSpamCollection", "--label-column", "0"])],
    "mr": [("bi-GRU, mean, words, 10-fold", [
        *CLASSIFY, "--data", f"{DATA}/sentiment_mr", "--format", "folder",
        "--glob", "rt-polarity.*", "--encoding", "cp1252", "--level", "word", "--min-freq",
        "2", "--model", "gru", "--bidirectional", "--pool", "mean", "--cv", "10",
        "--max-time", "60", "--clock", "cpu", "--max-steps", "100000"]),
           ("bi-GRU, max, words, E=H=128, dropout 0.5, 10-fold", [
        *CLASSIFY, "--data", f"{DATA}/sentiment_mr", "--format", "folder",
        "--glob", "rt-polarity.*", "--encoding", "cp1252", "--level", "word", "--min-freq",
        "2", "--model", "gru", "--bidirectional", "--pool", "max", "--embedding-dim", "128",
        "--hidden-size", "128", "--dropout", "0.5", "--cv", "10", "--max-time", "240",
        "--clock", "cpu", "--max-steps", "100000"]),
           ("bi-GRU, max, words, E=H=128, dropout 0.5, embedding dropout 0.5, 10-fold", [
        *CLASSIFY, "--data", f"{DATA}/sentiment_mr", "--format", "folder",
        "--glob", "rt-polarity.*", "--encoding", "cp1252", "--level", "word", "--min-freq",
        "2", "--model", "gru", "--bidirectional", "--pool", "max", "--embedding-dim", "128",
        "--hidden-size", "128", "--dropout", "0.5", "--embedding-dropout", "0.5", "--cv", "10",
        "--max-time", "240", "--clock", "cpu", "--max-steps", "100000"]),
           ("bi-GRU, max, words, E=H=128, dropout 0.5, embedding dropout 0.5, word dropout "
            "0.25, best by validation accuracy, 10-fold", [*MR_WD, "--min-freq", "2"])],
    # every cell x direction x pooling on the same folds at 45 CPU-s a fold (the 16 rows in
    # 2.3 CPU-hours), with the regularization of the MR rows above
    "mr-grid": [(f"{'bi-' if bi else ''}{cell.upper()}, {pool}", [
        *MR_DATA, "--model", cell, *(["--bidirectional"] if bi else []), "--pool", pool,
        *MR_REG, "--cv", "10", "--max-time", "45", "--clock", "cpu", "--max-steps", "100000"])
        for cell in ("gru", "lstm") for bi in (False, True)
        for pool in ("last", "mean", "max", "attention")],
    "conditional": [
        ("GRU, class concatenated to every input", [
            "--task", "conditional", "--data", f"{DATA}/names_by_language", "--format",
            "folder", "--condition", "concat", "--max-time", "180", "--clock", "cpu",
            "--max-steps", "100000"]),
        ("GRU, class as the initial state", [
            "--task", "conditional", "--data", f"{DATA}/names_by_language", "--format",
            "folder", "--condition", "init", "--max-time", "180", "--clock", "cpu",
            "--max-steps", "100000", "--no-unconditioned"]),
    ],
}
LANGUAGES = ("Spanish", "German", "Japanese", "Russian", "Irish")
RESULTS = ROOT / "benchmarks" / "results" / "classify.json"


def run_suite(suite: str, threads: int, rows: list[str] | None) -> dict:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out: dict = {}
    for i, (label, args) in enumerate(SUITES[suite]):
        if rows and str(i) not in rows:
            continue
        folder = f"runs/bench-{suite}-{stamp}/{i}"
        cmd = ["train", *args, "--threads", str(threads), "--no-progress", "--out", folder]
        t0 = time.perf_counter()
        run(cmd)
        entry = {"label": label, "command": "rnnlab " + " ".join(cmd),
                 "seconds": round(time.perf_counter() - t0, 1), "date": time.strftime("%Y-%m-%d")}
        run_dir = ROOT / folder
        if (run_dir / "cv.json").is_file():
            entry["cv"] = json.loads((run_dir / "cv.json").read_text())
        else:
            entry["final"] = json.loads((run_dir / "final.json").read_text())
        if suite == "conditional":
            entry["samples"] = {c: json.loads("[" + ",".join(run(
                ["generate", folder, "--condition", c, "--num", "10", "--json", "--seed", "1"]
            ).splitlines()) + "]") for c in LANGUAGES}
        out[str(i)] = entry
        print(f"{suite} {label}: {time.perf_counter() - t0:.0f} s", flush=True)
    return out


def cv_baselines(args: list[str], folds: int) -> dict:
    """The baselines alone (majority, naive Bayes, NBSVM with scikit-learn) on the folds of a
    --cv command's data, through the library calls a run makes (`tasks.labeled.splits`,
    `tasks.classify.baselines`): the same folds as the neural rows, no network trained."""
    from rnnlab.cli.flags import given_flags
    from rnnlab.cli.parser import build_parser
    from rnnlab.data.labeled import splits, vocabularies
    from rnnlab.runconfig import make_config
    from rnnlab.tasks import classify
    from rnnlab.tasks.base import Prepared

    ns = build_parser().parse_args(["train", *args])
    per_fold = []
    t0 = time.perf_counter()
    for k in range(folds):
        flags = given_flags(ns, "classify")
        flags.setdefault("data", {})["fold"] = k
        cfg, _ = make_config("classify", None, flags)
        parts, _ = splits(cfg.data)
        _, labels, _ = vocabularies(cfg.data, parts, None)
        prep = Prepared(None, None, {}, {}, {}, extra={"parts": parts, "labels": labels})
        per_fold.append({"baselines": classify.baselines(prep, cfg.data.level)})
    summary = {"folds": folds}
    for name in per_fold[0]["baselines"]:
        for key in ("accuracy", "macro_f1"):
            v = [f["baselines"][name][key] for f in per_fold]
            mean = sum(v) / len(v)
            std = (sum((x - mean) ** 2 for x in v) / (len(v) - 1)) ** 0.5
            summary[f"{name}_{key}"] = {"mean": mean, "std": std, "folds": v}
    summary["features"] = {n: m.get("features", "") for n, m in
                           per_fold[0]["baselines"].items()}
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    return summary


def classifier_agreement(results: dict, classifier_run: str | None) -> None:
    """The share of generated names a trained names classifier assigns to the intended class."""
    if not classifier_run:
        return
    for entry in results.get("conditional", {}).values():
        hits = total = 0
        for c, rows in entry.get("samples", {}).items():
            texts = [r["text"] for r in rows if r["text"]]
            if not texts:
                continue
            out = run(["predict", classifier_run, *texts, "--top-k", "1", "--json"])
            preds = [json.loads(line)["top"][0][0] for line in out.splitlines()]
            hits += sum(p == c for p in preds)
            total += len(preds)
        entry["classifier_agreement"] = hits / total if total else None
        entry["classifier_run"] = classifier_run


def _row(label: str, m: dict) -> str:
    return f"| {label} | {m['accuracy']:.4f} | {m['macro_f1']:.4f} |"


def render_split(entries: dict) -> str:
    """One table for runs on one split: each model's test figures, then the baselines (the
    same for every run, since they depend on the split alone)."""
    rows = list(entries.values())
    first = rows[0]["final"]
    lines = [f"Test part: {first['test']['examples']} examples, the same deduplicated "
             "stratified split (seed 1337, 10% validation, 10% test) for every row.", "",
             "| model | test accuracy | test macro-F1 | wall s | command |",
             "|---|---:|---:|---:|---|"]
    for e in rows:
        t = e["final"]["test"]
        lines.append(f"| {e['label']} | {t['accuracy']:.4f} | {t['macro_f1']:.4f} | "
                     f"{e['seconds']:.0f} | `{e['command']}` |")
    for name, m in first["baselines"].items():
        label = {"majority": "majority class", "naive_bayes": "multinomial naive Bayes ("
                 + m.get("features", "n-grams") + ")"}.get(name, name)
        lines.append(f"| {label} | {m['accuracy']:.4f} | {m['macro_f1']:.4f} | | (same runs) |")
    return "\n".join(lines) + f"\n\nDate: {rows[0]['date']}.\n"


def render_grid(entries: dict, base: dict | None) -> str:
    """One line per model of the mr-grid suite, the baselines of the same folds below."""
    rows = [e for k, e in entries.items() if k != "baselines"]
    if not rows:
        return ""
    lines = [f"Every row: `{rows[0]['command']}` with its cell, direction and pooling "
             f"({rows[0]['date']}).", "",
             "| model | 10-fold accuracy | macro-F1 | wall s |", "|---|---:|---:|---:|"]
    for e in rows:
        a, f = e["cv"]["model_accuracy"], e["cv"]["model_macro_f1"]
        lines.append(f"| {e['label']} | {a['mean']:.4f} ± {a['std']:.4f} | "
                     f"{f['mean']:.4f} ± {f['std']:.4f} | {e['seconds']:.0f} |")
    for name in ("nbsvm", "naive_bayes", "majority"):
        if base is not None and f"{name}_accuracy" in base:
            a, f = base[f"{name}_accuracy"], base[f"{name}_macro_f1"]
            lines.append(f"| {name} (same folds) | {a['mean']:.4f} ± {a['std']:.4f} | "
                         f"{f['mean']:.4f} ± {f['std']:.4f} | |")
    return "\n".join(lines) + "\n"


def render(suite: str, entries: dict, base: dict | None = None) -> str:
    if suite in ("names", "sms"):
        return render_split(entries)
    if suite == "mr-grid":
        return render_grid(entries, base)
    lines = []
    for key, e in entries.items():
        if key == "baselines":
            continue
        lines += [f"**{e['label']}** ({e['date']}, {e['seconds']:.0f} s wall): `{e['command']}`",
                  ""]
        if "cv" in e:
            cv = e["cv"]
            lines += [f"| {cv['folds']}-fold CV (test folds) | accuracy | macro-F1 |",
                      "|---|---:|---:|"]
            for name in ("model", "nbsvm", "naive_bayes", "majority"):
                if f"{name}_accuracy" not in cv:
                    continue
                a, f = cv[f"{name}_accuracy"], cv[f"{name}_macro_f1"]
                lines.append(f"| {name} | {a['mean']:.4f} ± {a['std']:.4f} | "
                             f"{f['mean']:.4f} ± {f['std']:.4f} |")
        elif suite == "conditional":
            f = e["final"]
            lines += ["| model | val NLL/char | test NLL/char |", "|---|---:|---:|"]
            for name in ("conditioned", "unconditioned"):
                if name in f:
                    lines.append(f"| {name} | {f[name]['val']['nll']:.4f} | "
                                 f"{f[name]['test']['nll']:.4f} |")
            if e.get("classifier_agreement") is not None:
                lines += ["", f"Samples the names classifier (`{e['classifier_run']}`) assigns "
                          f"to the intended language: {e['classifier_agreement']:.1%}"]
            lines += [""] + [f"- {c}: " + ", ".join(r["text"] + ("" if r["new"] else "*")
                                                      for r in rows)
                             for c, rows in e.get("samples", {}).items()]
            lines.append("(`*`: a name of the training set)")
        else:
            f = e["final"]
            lines += ["| test part | accuracy | macro-F1 |", "|---|---:|---:|",
                      _row("model", f["test"])]
            for name, m in f["baselines"].items():
                lines.append(_row(name, m))
        lines.append("")
    base = entries.get("baselines")
    if suite == "mr" and base is not None:
        lines += [f"**Baselines alone on the same {base['folds']} folds** (`python "
                  "benchmarks/classify.py --suite mr --baselines`, "
                  f"{base['seconds']:.0f} s):", "", "| baseline | accuracy | macro-F1 | "
                  "features |", "|---|---:|---:|---|"]
        for name in ("nbsvm", "naive_bayes", "majority"):
            if f"{name}_accuracy" in base:
                a, f = base[f"{name}_accuracy"], base[f"{name}_macro_f1"]
                lines.append(f"| {name} | {a['mean']:.4f} ± {a['std']:.4f} | {f['mean']:.4f} "
                             f"± {f['std']:.4f} | {base['features'].get(name, '')} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", choices=sorted(SUITES), required=True)
    ap.add_argument("--rows", help="comma-separated row numbers of the suite (default: all)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--classifier-run", help="conditional: a names classifier run to check "
                    "the samples with")
    ap.add_argument("--write", action="store_true", help="write the table into BENCHMARKS.md")
    ap.add_argument("--render-only", action="store_true")
    ap.add_argument("--baselines", action="store_true", help="mr: the baselines alone on the "
                    "10 folds (majority, naive Bayes, NBSVM with scikit-learn)")
    args = ap.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    if args.baselines:
        args.render_only = True
        mr = SUITES["mr"][0][1]
        cv = mr.index("--cv")
        results.setdefault("mr", {})["baselines"] = cv_baselines(
            [a for i, a in enumerate(mr) if i not in (cv, cv + 1) and a != "--task"
             and a != "classify"] + ["--cv", mr[cv + 1]], int(mr[cv + 1]))
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    if not args.render_only:
        fresh = run_suite(args.suite, args.threads, args.rows.split(",") if args.rows else None)
        # re-read: rows of one suite may run as parallel processes, each saving its own
        results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
        results.setdefault(args.suite, {}).update(fresh)
        if args.suite == "conditional":
            classifier_agreement(results, args.classifier_run)
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    table = render(args.suite, results.get(args.suite, {}),
                   results.get("mr", {}).get("baselines"))
    print(table)
    if args.write:
        write_section(f"classify_{args.suite}", table, heading={
            "names": "Classification: names_by_language (deduplicated, stratified)",
            "sms": "Classification: SMS spam (held out, defaults)",
            "mr": "Classification: sentence polarity (MR), cross-validation",
            "mr-grid": "Classification: MR, every cell, direction and pooling",
            "conditional": "Conditional generation: surnames by language"}[args.suite])


if __name__ == "__main__":
    main()
