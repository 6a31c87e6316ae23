"""NGramLM beside KenLM (lmplz/query) and NLTK (nltk.lm.KneserNeyInterpolated) on PTB, and the
n-gram NLL on names.txt. Prints markdown tables; --write puts them into BENCHMARKS.md between
<!-- ngram:start --> and <!-- ngram:end -->.

    OMP_NUM_THREADS=1 python benchmarks/ngram.py                 # orders 2-5, all columns
    python benchmarks/ngram.py --orders 5 --nltk-time-limit 20 --write
    python benchmarks/ngram.py --text-only --write   # `rnnlab train --format text` vs lmplz

The --format text check trains through the CLI (each line of the text a sentence), exports
the run with NGramLM.to_arpa, and compares rnnlab's test figures with lmplz/query on the same
training and test lines, and KenLM's query of rnnlab's ARPA file.

KenLM is found through --kenlm-bin, $KENLM_BIN, $PATH or /tmp/kenlm/build/bin (see
benchmarks/kenlm_setup.sh); NLTK through `pip install nltk`. Either missing prints `n/a`.
lmplz refuses <unk> in its input, so for KenLM PTB's literal <unk> becomes an ordinary word
(UNKPLACEHOLDER), which is how NGramLM treats it anyway.

Every build runs in a fresh child process: times are cold (first call), "max RSS" is the
child's peak resident memory (os.wait4), which for rnnlab includes the Python + torch runtime;
"heap" is the tracemalloc peak of NumPy/Python allocations during fit_counts alone.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_section  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
PLACEHOLDER = "UNKPLACEHOLDER"


def read_lines(path: Path) -> list[str]:
    lines = path.read_text().split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def run_measured(cmd: list[str], stdin: Path | None = None) -> tuple[str, float, float]:
    """Run cmd -> (stdout, wall seconds, max RSS in MB of that child alone)."""
    t0 = time.perf_counter()
    with open(stdin or os.devnull) as fin:
        proc = subprocess.Popen(cmd, stdin=fin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out = proc.stdout.read().decode()
        proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{cmd[0]} failed with status {status}")
    return out, wall, usage.ru_maxrss / 1024


# ----------------------------------------------------------------------- rnnlab
def child(order: int, smoothing: str, data: Path) -> None:
    """One cold build in this process; prints a JSON line of measurements."""
    import tracemalloc

    import numpy as np
    import torch

    torch.set_num_threads(1)
    from rnnlab.data.tokenizers import BOS_ID, EOS_ID, Tokenizer
    from rnnlab.models.base import LMBatch
    from rnnlab.models.ngram import NGramLM

    t0 = time.perf_counter()
    train = read_lines(data / "ptb.train.txt")
    tok = Tokenizer.fit(train, "word")
    ids = [tok.encode(line) for line in train]
    t1 = time.perf_counter()
    model = NGramLM(len(tok), order, smoothing)
    model.fit_counts(ids)
    t2 = time.perf_counter()
    tracemalloc.start()
    NGramLM(len(tok), order, smoothing).fit_counts(ids)
    heap = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    res = {"read_s": t1 - t0, "fit_s": t2 - t1, "heap_mb": heap, "ngrams": model.num_ngrams()}
    evals = {
        s: [tok.encode(x) for x in read_lines(data / f"ptb.{s}.txt")] for s in ("valid", "test")
    }
    t = time.perf_counter()
    for split, seqs in evals.items():
        res[f"ppl_{split}"] = model.perplexity(seqs)
    n_tok = sum(len(s) + 1 for seqs in evals.values() for s in seqs)
    res["score_tok_s"] = n_tok / (time.perf_counter() - t)
    # forward(): the full (B, T, V) distribution, as a caller asking for logits gets it
    # (evaluate scores the targets alone; generation reads one position at a time).
    seqs, n_tok, t = evals["valid"][:400], 0, time.perf_counter()
    for i in range(0, len(seqs), 20):
        chunk = seqs[i : i + 20]
        T = max(len(s) for s in chunk) + 1
        inp = torch.zeros(len(chunk), T, dtype=torch.long)
        tgt = torch.full((len(chunk), T), -100)
        for b, s in enumerate(chunk):
            inp[b, : len(s) + 1] = torch.tensor([BOS_ID, *s])
            tgt[b, : len(s) + 1] = torch.tensor([*s, EOS_ID])
        model(LMBatch(inp, tgt, None))
        n_tok += sum(len(s) + 1 for s in chunk)
    res["forward_tok_s"] = n_tok / (time.perf_counter() - t)
    res["discounts"] = np.round(model.discounts.numpy(), 4).tolist()
    print(json.dumps(res))


def rnnlab_row(order: int, smoothing: str, data: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", str(order), "--smoothing", smoothing]
    out, _, rss = run_measured([*cmd, "--data", str(data)])
    res = json.loads(out.strip().splitlines()[-1])
    res["rss_mb"] = rss
    return res


# ------------------------------------------------------------------------ KenLM
def find_kenlm(arg: str | None) -> Path | None:
    for d in (arg, os.environ.get("KENLM_BIN"), "/tmp/kenlm/build/bin"):
        if d and (Path(d) / "lmplz").is_file() and (Path(d) / "query").is_file():
            return Path(d)
    found = shutil.which("lmplz")
    return Path(found).parent if found and shutil.which("query") else None


def kenlm_rows(bin_dir: Path, orders: list[int], data: Path, tmp: Path) -> dict[int, dict]:
    for split in ("train", "valid", "test"):
        text = (data / f"ptb.{split}.txt").read_text().replace("<unk>", PLACEHOLDER)
        (tmp / f"{split}.txt").write_text(text)
    rows = {}
    for n in orders:
        arpa = tmp / f"o{n}.arpa"
        cmd = [str(bin_dir / "lmplz"), "-o", str(n), "-S", "1G", "-T", str(tmp)]
        _, wall, rss = run_measured([*cmd, "--text", str(tmp / "train.txt"), "--arpa", str(arpa)])
        row = {"fit_s": wall, "rss_mb": rss}
        for split in ("valid", "test"):
            query = [str(bin_dir / "query"), "-v", "summary", str(arpa)]
            out, _, _ = run_measured(query, stdin=tmp / f"{split}.txt")
            line = next(x for x in out.splitlines() if x.startswith("Perplexity including"))
            row[f"ppl_{split}"] = float(line.split("\t")[1].split()[0])
        rows[n] = row
        arpa.unlink()
    return rows


# ------------------------------------------------------------------------- NLTK
def nltk_row(order: int, data: Path, limit: float) -> dict | None:
    """Fit and score with nltk.lm until `limit` seconds each, then extrapolate linearly."""
    try:
        from nltk.lm import KneserNeyInterpolated
        from nltk.lm.preprocessing import padded_everygram_pipeline
    except ImportError:
        return None
    train = [line.split() for line in read_lines(data / "ptb.train.txt")]
    total = sum(len(s) + 1 for s in train)
    lm, done, seen, t0 = KneserNeyInterpolated(order), 0, 0, time.perf_counter()
    while done < len(train) and time.perf_counter() - t0 < limit:
        part = train[done : done + 2000]
        grams, words = padded_everygram_pipeline(order, part)
        # what lm.fit does, in chunks: fit() would read the vocabulary of the first chunk only
        lm.vocab.update(words)
        lm.counts.update(grams)
        done += len(part)
        seen += sum(len(s) + 1 for s in part)
    fit_s = (time.perf_counter() - t0) * total / seen
    valid = [line.split() for line in read_lines(data / "ptb.valid.txt")]
    logp, n, t0 = 0.0, 0, time.perf_counter()
    for sent in valid:
        toks = ["<s>"] * (order - 1) + sent + ["</s>"]
        for i in range(order - 1, len(toks)):
            logp += lm.logscore(toks[i], toks[i - order + 1 : i])
            n += 1
        if time.perf_counter() - t0 > limit:
            break
    rate = n / (time.perf_counter() - t0)
    partial_ppl = 2 ** (-logp / n) if math.isfinite(logp) else math.inf
    return {
        "fit_s": fit_s,
        "fit_frac": seen / total,
        "score_tok_s": rate,
        "scored": n,
        "partial_ppl": partial_ppl,
    }


# ------------------------------------------------------------------------ names
def names_table(orders: list[int]) -> str:
    from rnnlab.data.tokenizers import Tokenizer
    from rnnlab.models.ngram import NGramLM

    try:
        from rnnlab.data.readers import split_lines

        train, val, test = split_lines(read_lines(DATA / "names" / "names.txt"), 1337, 1000, 1000)
    except ImportError:
        lines = read_lines(DATA / "names" / "names.txt")
        random.Random(1337).shuffle(lines)
        test, val, train = lines[:1000], lines[1000:2000], lines[2000:]
    tok = Tokenizer.fit(train, "char")
    enc = [[tok.encode(x) for x in part] for part in (train, val, test)]
    smoothings = ("add-k", "kn", "mkn")
    out = [
        "| order | " + " | ".join(f"{s} val | {s} test" for s in smoothings) + " |",
        "|---:|" + "---:|" * (2 * len(smoothings)),
    ]
    import warnings

    for n in orders:
        cells = []
        for s in smoothings:
            model = NGramLM(len(tok), n, s, k=1.0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit_counts(enc[0])
            cells += [f"{model.nll(enc[1]):.4f}", f"{model.nll(enc[2]):.4f}"]
        out.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(out)


# ------------------------------------------------------------- --format text
def text_parity(text: Path, level: str, order: int, bin_dir: Path | None, tmp: Path) -> dict:
    """`rnnlab train --format text --model ngram` on `text` (each line a sentence) against
    lmplz/query on the same training lines, scored on the run's own test lines."""
    import numpy as np

    from rnnlab.data.readers import load_splits, text_lines
    from rnnlab.models.arpa import arpa_word
    from rnnlab.run import load
    from rnnlab.tasks.lm import evaluate
    from rnnlab.tasks.lm.sentences import encode_sentences, split_sentences

    run = tmp / f"{level}{order}"
    cmd = ["train", "--data", str(text), "--format", "text", "--level", level, "--model",
           "ngram", "--order", str(order), "--out", str(run), "--threads", "1", "--clock",
           "cpu", "--samples", "0", "--no-progress"]
    subprocess.run([sys.executable, "-m", "rnnlab", *cmd], check=True, capture_output=True)
    loaded = load(run)
    tok, model = loaded.payload["tokenizer"], loaded.model
    from rnnlab.data.tokenizers import Tokenizer

    tok = Tokenizer.from_dict(tok)
    splits = load_splits(loaded.cfg.data)
    ours = evaluate(loaded, {"split": "test"})
    test = split_sentences(encode_sentences(tok, str(splits.test)))
    ours_sent = model.sentence_log10([s.tolist() for s in test])
    shown = " ".join(cmd).replace(str(run), "RUN").replace(str(text), os.path.relpath(text, ROOT))
    row = {"command": f"rnnlab {shown}",
           "level": level, "order": order, "ppl": ours["ppl"], "nll": ours["nll"],
           "tokens": ours["tokens"], "sentences": len(test), "ngrams": None, "kenlm": None}
    model.to_arpa(str(tmp / "ours.arpa"), tok.vocab.itos)
    row["ngrams"] = arpa_counts(tmp / "ours.arpa")
    if bin_dir is None:
        return row

    def spell(part: str) -> str:  # what lmplz reads: words as they are, characters spaced
        lines = text_lines(part)
        if level == "char":
            lines = [" ".join(arpa_word(c) for c in line) for line in lines]
        return "".join(line + "\n" for line in lines)

    (tmp / "train.txt").write_text(spell(str(splits.train)))
    (tmp / "test.txt").write_text(spell(str(splits.test)))
    ken_arpa = tmp / "kenlm.arpa"
    subprocess.run([str(bin_dir / "lmplz"), "-o", str(order), "-S", "1G", "-T", str(tmp),
                    "--text", str(tmp / "train.txt"), "--arpa", str(ken_arpa)],
                   check=True, capture_output=True)

    def query(arpa: Path) -> tuple[float, np.ndarray]:
        out, _, _ = run_measured([str(bin_dir / "query"), "-v", "sentence", str(arpa)],
                                 stdin=tmp / "test.txt")
        totals = [float(x.split()[1]) for x in out.splitlines() if x.startswith("Total:")]
        sent = np.array(totals)
        return float(10 ** (-sent.sum() / ours["tokens"])), sent

    ken_ppl, ken_sent = query(ken_arpa)
    ours_by_kenlm, _ = query(tmp / "ours.arpa")
    row["kenlm"] = {"ppl": ken_ppl, "ngrams": arpa_counts(ken_arpa),
                    "max_abs_log10_sentence": float(np.abs(ours_sent - ken_sent).max()),
                    "query_of_our_arpa_ppl": ours_by_kenlm,
                    "command": f"lmplz -o {order} -S 1G -T $TMP --text train.txt --arpa "
                               f"o{order}.arpa; query -v sentence o{order}.arpa < test.txt"}
    return row


def arpa_counts(path: Path) -> list[int]:
    with open(path) as f:
        return [int(line.split("=")[1]) for line in f if line.startswith("ngram ")]


def text_table(texts: list[Path], levels: list[str], orders: list[int], bin_dir: Path | None
               ) -> str:
    lines = [
        "`--format text` (each line a sentence, an empty line the sentence `<s> </s>`), "
        "rnnlab's default contiguous split (test = the last 5%), modified "
        "Kneser-Ney. rnnlab ppl = exp(nll) of `rnnlab evaluate RUN --split test`; KenLM = "
        "`lmplz` on the run's training lines, `query` on its test lines (characters spaced, "
        "a space spelled `<U+0020>`); KenLM on rnnlab's ARPA = `query` of `NGramLM.to_arpa`. "
        "At character level `</s>` stands for the newline, so nats per token are nats per "
        "character; character-level 5-gram figures measured before this rule read the text as "
        "one stream with the newline as a character (context across line ends).",
        "",
        "| text | level | order | test tokens | rnnlab nll | rnnlab ppl | KenLM ppl | KenLM on "
        "rnnlab's ARPA | max abs diff log10 P(sentence) | n-grams per order (rnnlab = KenLM) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    commands = []
    for text, level, n in itertools.product(texts, levels, orders):
        with tempfile.TemporaryDirectory() as tmp:
            r = text_parity(text, level, n, bin_dir, Path(tmp))
        k = r["kenlm"] or {}
        same = "n/a" if not k else ("yes" if k["ngrams"] == r["ngrams"] else
                                    f"no: {k['ngrams']}")
        lines.append(
            f"| {text.name} | {level} | {n} | {r['tokens']:,} | {r['nll']:.4f} | {r['ppl']:.4f} "
            f"| "
            f"{fmt(k.get('ppl'), '.4f')} | {fmt(k.get('query_of_our_arpa_ppl'), '.4f')} | "
            f"{fmt(k.get('max_abs_log10_sentence'), '.1e')} | {r['ngrams']} ({same}) |")
        commands.append(f"- `{r['command']}`" + (f"; `{k['command']}`" if k else ""))
    return "\n".join([*lines, "", *commands])


# ------------------------------------------------------------------------- main
def fmt(x: float | None, spec: str = ".2f") -> str:
    return "n/a" if x is None else format(x, spec)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--orders", type=int, nargs="+", default=[2, 3, 4, 5])
    ap.add_argument("--smoothing", default="mkn")
    ap.add_argument("--data", type=Path, default=DATA / "ptb")
    ap.add_argument("--kenlm-bin", default=None)
    ap.add_argument("--nltk-time-limit", type=float, default=20.0, help="seconds per phase")
    ap.add_argument("--no-nltk", action="store_true")
    ap.add_argument("--names-orders", type=int, nargs="*", default=[2, 3, 4, 5, 6])
    ap.add_argument("--text", type=Path, nargs="+",
                    default=[DATA / "timemachine" / "timemachine.txt"],
                    help="texts for the --format text parity check")
    ap.add_argument("--text-levels", nargs="*", default=["word", "char"])
    ap.add_argument("--text-orders", type=int, nargs="*", default=[3, 5])
    ap.add_argument("--text-only", action="store_true",
                    help="only the --format text check (its own section with --write)")
    ap.add_argument("--write", action="store_true", help="fill the section of BENCHMARKS.md")
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        return child(args.child, args.smoothing, args.data)

    kenlm_bin = find_kenlm(args.kenlm_bin)
    if args.text_only:
        table = text_table(args.text, args.text_levels, args.text_orders, kenlm_bin)
        print(table)
        if args.write:
            command = " ".join(["python", "benchmarks/ngram.py", *sys.argv[1:]])
            write_section("ngram-text", f"Command: `{command}` (KenLM built by "
                          "`benchmarks/kenlm_setup.sh`), 1 thread.\n\n" + table,
                          "n-gram models on --format text (each line a sentence) vs KenLM")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        kenlm = kenlm_rows(kenlm_bin, args.orders, args.data, Path(tmp)) if kenlm_bin else {}
    lines = [
        f"PTB, interpolated modified Kneser-Ney ({args.smoothing} for rnnlab); perplexity = "
        "10^(-sum log10 p / tokens), </s> counted, <s> not. Build = cold, from text.",
        "",
        "| order | tool | build s | max RSS MB | heap MB | score tok/s | forward tok/s "
        "| valid ppl | test ppl | vs KenLM valid / test |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    details = []
    for n in args.orders:
        ours = rnnlab_row(n, args.smoothing, args.data)
        ken = kenlm.get(n)
        diff = "n/a"
        if ken:
            dv = 100 * (ours["ppl_valid"] / ken["ppl_valid"] - 1)
            dt = 100 * (ours["ppl_test"] / ken["ppl_test"] - 1)
            diff = f"{dv:+.3f}% / {dt:+.3f}%"
        lines.append(
            f"| {n} | rnnlab | {ours['read_s'] + ours['fit_s']:.2f} (fit {ours['fit_s']:.2f}) "
            f"| {ours['rss_mb']:.0f} | {ours['heap_mb']:.0f} | {ours['score_tok_s']:,.0f} "
            f"| {ours['forward_tok_s']:,.0f} | {ours['ppl_valid']:.3f} | {ours['ppl_test']:.3f} "
            f"| {diff} |"
        )
        lines.append(
            f"| {n} | KenLM lmplz | {fmt(ken and ken['fit_s'])} | "
            f"{fmt(ken and ken['rss_mb'], '.0f')} | n/a | n/a | n/a | "
            f"{fmt(ken and ken['ppl_valid'], '.3f')} | {fmt(ken and ken['ppl_test'], '.3f')} | |"
        )
        nl = None if args.no_nltk else nltk_row(n, args.data, args.nltk_time_limit)
        lines.append(
            f"| {n} | nltk.lm KN | {fmt(nl and nl['fit_s'])}"
            f"{'*' if nl else ''} | n/a | n/a | {fmt(nl and nl['score_tok_s'], ',.0f')} | n/a "
            f"| {fmt(nl and nl['partial_ppl'], '.1f')}{'**' if nl else ''} | n/a | |"
        )
        details.append(
            f"- order {n}: n-grams per order {ours['ngrams']}; discounts D1..D3+ "
            f"per order {[d[1:] for d in ours['discounts']]}"
        )
        if ken:
            details.append(
                f"  KenLM: `lmplz -o {n} -S 1G -T $TMP --text train.txt --arpa o{n}.arpa`; "
                f"`query -v summary o{n}.arpa < valid.txt` (and test.txt)"
            )
        if nl:
            details.append(
                f"  NLTK: counted {100 * nl['fit_frac']:.0f}% of train in the time limit, "
                f"scored {nl['scored']} valid tokens"
            )
    lines += [
        "",
        "\\* NLTK fit stopped at the time limit and extrapolated linearly in tokens; "
        "nltk.lm computes probabilities lazily at query time, so its fit is counting only.",
        "\\*\\* NLTK perplexity of the valid tokens scored within the time limit, "
        "with the partially fitted model (not comparable).",
        "",
        *details,
    ]
    if args.names_orders:
        lines += [
            "",
            "names.txt (split_lines seed 1337: test 1000, val 1000, train the rest), "
            "NLL in nats per character, </s> included:",
            "",
            names_table(args.names_orders),
        ]
    table = "\n".join(lines)
    print(table)
    if args.write:
        write_section("ngram", "## N-gram models\n\n" + table,
                      "n-gram language models: rnnlab vs KenLM vs nltk.lm")


if __name__ == "__main__":
    main()
