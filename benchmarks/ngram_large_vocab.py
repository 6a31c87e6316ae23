"""A 5-gram modified Kneser-Ney at a 38k-word vocabulary: rnnlab beside KenLM (lmplz/query) on
the French side of Tatoeba (shared/data/tatoeba_eng_fra/fra.txt, column 2), and the memory
formula of `rnnlab.models.ngram` checked against measured peaks. --write puts the tables
into BENCHMARKS.md between <!-- ngram-large-vocab:start --> and <!-- ngram-large-vocab:end -->.

    python benchmarks/ngram_large_vocab.py --write      # KenLM as in benchmarks/ngram.py

Data: every line's French sentence, split on whitespace as rnnlab's word tokenizer does
(str.split, which also splits at U+00A0 / U+202F / U+2009) and rejoined with single spaces,
so that lmplz (which splits at ASCII whitespace only) reads the same tokens; first 90% of the
lines train, last 10% test (the file is ordered by English length, so test holds the longest
sentences). Test words unseen in training are <unk> for both tools, and both give <unk> the
interpolated uniform mass, so "perplexity including OOVs" is the comparable figure.

Every measurement runs in a fresh child process; "max RSS" is that child's peak resident
memory (os.wait4), the Python + torch runtime included (the `runtime` row is that alone);
"heap" is the tracemalloc peak of NumPy/Python allocations inside the call named.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
from ngram import find_kenlm, run_measured  # noqa: E402
from report import write_section  # noqa: E402

FRA = ROOT.parent / "shared" / "data" / "tatoeba_eng_fra" / "fra.txt"


def prepare(out: Path) -> dict:
    lines = FRA.read_text(encoding="utf-8").split("\n")[:-1]
    french = [" ".join(line.split("\t")[1].split()) for line in lines]
    n_train = len(french) * 9 // 10
    (out / "train.txt").write_text("\n".join(french[:n_train]) + "\n", encoding="utf-8")
    (out / "test.txt").write_text("\n".join(french[n_train:]) + "\n", encoding="utf-8")
    (out / "score.txt").write_text("\n".join(french[n_train:][:200]) + "\n", encoding="utf-8")
    train_words = [w for s in french[:n_train] for w in s.split()]
    return {"lines": [n_train, len(french) - n_train], "train_tokens": len(train_words),
            "test_tokens": sum(len(s.split()) for s in french[n_train:]),
            "types": len(set(train_words))}


def read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")[:-1]


# ----------------------------------------------------------------------- children
def child(mode: str, order: int, tmp: Path) -> None:
    """One measurement in this process; prints a JSON line."""
    import torch

    torch.set_num_threads(1)
    import tracemalloc

    from rnnlab.data.batching import PaddedBatches
    from rnnlab.data.tokenizers import Tokenizer
    from rnnlab.metrics import evaluate
    from rnnlab.models.ngram import NGramLM

    if mode == "runtime":
        print(json.dumps({}))
        return
    if mode in ("fit", "fit-heap"):
        if mode == "fit-heap":
            tracemalloc.start()
        t0 = time.perf_counter()
        train = read_lines(tmp / "train.txt")
        tok = Tokenizer.fit(train, "word")
        ids = [tok.encode(line) for line in train]
        t1 = time.perf_counter()
        model = NGramLM(len(tok), order, "mkn")
        if mode == "fit-heap":
            data_mb = tracemalloc.get_traced_memory()[0] / 1e6  # lines, vocabulary, ids
            tracemalloc.reset_peak()
        model.fit_counts(ids)
        t2 = time.perf_counter()
        res = {"read_s": t1 - t0, "fit_s": t2 - t1, "ngrams": model.num_ngrams(),
               "vocab": len(tok)}
        if mode == "fit-heap":
            res["heap_mb"] = tracemalloc.get_traced_memory()[1] / 1e6 - data_mb
            res["data_mb"] = data_mb
            tracemalloc.stop()
            lens = np.array([len(s) for s in ids])
            res["L"] = int((lens + order).sum())
            res["T"] = [int(np.maximum(0, lens + 1 - max(0, n - 2)).sum())
                        for n in range(1, order + 1)]
        else:
            torch.save({"hparams": model.hparams, "state": model.state_dict(),
                        "tok": tok.to_dict()}, tmp / "model.pt")
        print(json.dumps(res))
        return
    if mode == "to-arpa":  # export the saved model
        saved = torch.load(tmp / "model.pt", weights_only=False)
        model = NGramLM(**saved["hparams"])
        model.load_state_dict(saved["state"])
        tok = Tokenizer.from_dict(saved["tok"])
        t0 = time.perf_counter()
        model.to_arpa(str(tmp / "rnnlab.arpa"), tok.vocab.itos)
        print(json.dumps({"s": time.perf_counter() - t0}))
        return
    if mode == "decode":  # Viterbi and beam search of 6 words after a prompt
        saved = torch.load(tmp / "model.pt", weights_only=False)
        model = NGramLM(**saved["hparams"])
        model.load_state_dict(saved["state"])
        tok = Tokenizer.from_dict(saved["tok"])
        prompt = tok.encode("Je ne")
        t0 = time.perf_counter()
        v_tokens, v_score = model.most_likely_continuation(prompt, 6)
        t1 = time.perf_counter()
        b_tokens, b_score = model.beam_search_continuation(prompt, 6, num_beams=16)
        t2 = time.perf_counter()
        print(json.dumps({"viterbi_s": t1 - t0, "beam_s": t2 - t1, "viterbi_logp": v_score,
                          "beam_logp": b_score, "viterbi": " ".join(tok.vocab.decode(v_tokens)),
                          "beam": " ".join(tok.vocab.decode(b_tokens))}))
        return
    if mode.startswith("from-arpa"):  # import an ARPA file and score the test split with it
        t0 = time.perf_counter()
        model, itos = NGramLM.from_arpa(str(tmp / mode.split(":")[1]))
        t1 = time.perf_counter()
        stoi = {w: i for i, w in enumerate(itos)}
        unk = stoi["<unk>"]
        test = [[stoi.get(w, unk) for w in line.split()] for line in read_lines(tmp / "test.txt")]
        print(json.dumps({"s": t1 - t0, "ppl": model.perplexity(test)}))
        return
    # eval: load the saved model and score the test split as `rnnlab evaluate` batches it
    t0 = time.perf_counter()
    saved = torch.load(tmp / "model.pt", weights_only=False)
    model = NGramLM(**saved["hparams"])
    model.load_state_dict(saved["state"])
    tok = Tokenizer.from_dict(saved["tok"])
    test = [tok.encode(line) for line in read_lines(tmp / "test.txt")]
    model.tables()
    t1 = time.perf_counter()
    batches = list(PaddedBatches(test, 256, shuffle=False).epoch(0))
    tracemalloc.start()
    m = evaluate(model, batches)
    heap = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    t2 = time.perf_counter()
    ppl_direct = model.perplexity(test)
    res = {"load_s": t1 - t0, "eval_s": t2 - t1, "ppl": m["ppl"], "tokens": m["tokens"],
           "ppl_sentences": ppl_direct, "eval_heap_mb": heap,
           "max_positions": max(b.inputs.numel() for b in batches)}
    print(json.dumps(res))


def run_child(mode: str, order: int, tmp: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--order", str(order), "--tmp", str(tmp)]
    out, wall, rss = run_measured(cmd)
    res = json.loads(out.strip().splitlines()[-1])
    res.update(wall_s=wall, rss_mb=rss)
    return res


# ------------------------------------------------------------------------ formula
def fit_heap_formula(L: int, T: list[int], M: list[int]) -> float:
    """Bytes: the n-gram training formula of rnnlab.models.ngram (kn/mkn)."""
    count = max(25 * L + 43 * T[n - 1] + 25 * sum(M[: n - 1]) + 37 * M[n - 1]
                for n in range(2, len(M) + 1))
    smooth = 49 * sum(M) + 71 * max(M)
    return float(max(count, smooth))


# ----------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--order", type=int, default=5)
    ap.add_argument("--kenlm-bin", default=None)
    ap.add_argument("--no-cli", action="store_true")
    ap.add_argument("--write", action="store_true", help="fill the section of BENCHMARKS.md")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--tmp", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        return child(args.child, args.order, args.tmp)
    N = args.order
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        info = prepare(tmp)
        runtime = run_child("runtime", N, tmp)
        fit = run_child("fit", N, tmp)
        heap = run_child("fit-heap", N, tmp)
        ev = run_child("eval", N, tmp)
        ken = None
        kenlm_bin = find_kenlm(args.kenlm_bin)
        if kenlm_bin:
            arpa = tmp / "kenlm.arpa"
            cmd = [str(kenlm_bin / "lmplz"), "-o", str(N), "-S", "1G", "-T", str(tmp),
                   "--text", str(tmp / "train.txt"), "--arpa", str(arpa)]
            _, k_wall, k_rss = run_measured(cmd)
            out, q_wall, q_rss = run_measured(
                [str(kenlm_bin / "query"), "-v", "summary", str(arpa)], stdin=tmp / "test.txt")
            summary = dict(x.split(":\t", 1) for x in out.splitlines() if ":\t" in x)
            ken_in = run_child("from-arpa:kenlm.arpa", N, tmp)
            ken = {"fit_s": k_wall, "rss_mb": k_rss, "query_s": q_wall, "query_rss_mb": q_rss,
                   "ppl": float(summary["Perplexity including OOVs"]),
                   "oov": int(summary["OOVs"]), "tokens": int(summary["Tokens"])}
        dec = run_child("decode", N, tmp)
        ours_out = run_child("to-arpa", N, tmp)
        ours_in = run_child("from-arpa:rnnlab.arpa", N, tmp)
        arpa_mb = (tmp / "rnnlab.arpa").stat().st_size / 1e6
        cli = {}
        if not args.no_cli:
            rnnlab = [sys.executable, "-m", "rnnlab"]
            run = tmp / "run"
            train_cmd = ["train", "--model", "ngram", "--order", str(N), "--smoothing", "mkn",
                         "--format", "lines", "--level", "word", "--data", "TRAIN",
                         "--val-data", "TEST", "--test-data", "TEST", "--out", "RUN",
                         "--threads", "1"]
            eval_cmd = ["evaluate", "RUN", "--data", "TEST", "--format", "lines", "--json",
                        "--threads", "1"]
            score_cmd = ["score", "RUN", "--file", "SCORE", "--json", "--threads", "1"]
            subst = {"TRAIN": str(tmp / "train.txt"), "TEST": str(tmp / "test.txt"),
                     "RUN": str(run), "SCORE": str(tmp / "score.txt")}
            for name, c in (("train", train_cmd), ("evaluate", eval_cmd), ("score", score_cmd)):
                out, wall, rss = run_measured([*rnnlab, *[subst.get(x, x) for x in c]])
                cli[name] = {"cmd": "rnnlab " + " ".join(c), "wall_s": wall, "rss_mb": rss}
                if name == "evaluate":
                    cli[name]["ppl"] = json.loads(out.strip().splitlines()[-1])["ppl"]
                if name == "train":
                    line = next(x for x in out.splitlines() if x.startswith("test:"))
                    cli[name]["ppl"] = float(line.split("ppl")[1].split()[0])
    M = heap["ngrams"]
    pred = fit_heap_formula(heap["L"], heap["T"], M) / 1e6
    diff = f"{100 * (ev['ppl'] / ken['ppl'] - 1):+.4f}%" if ken else "n/a"
    lines = [
        f"Tatoeba French (fra.txt column 2, whitespace tokens), lines {info['lines'][0]:,} "
        f"train / {info['lines'][1]:,} test (first 90% / last 10%), {info['train_tokens']:,} "
        f"train and {info['test_tokens']:,} test words, {info['types']:,} word types "
        f"(vocabulary {fit['vocab']:,} with rnnlab's 4 specials); {N}-gram interpolated "
        "modified Kneser-Ney; test perplexity with </s> counted and <s> not, OOVs included "
        f"({ken['oov'] if ken else 'n/a'} OOV tokens). Build = cold, from text; eval = "
        "`metrics.evaluate` over the test lines in batches of 256 (what `rnnlab evaluate` "
        "runs), after loading the saved model. Seconds are from one run on a 2-core machine "
        "shared with other jobs: compare rows of the same run.",
        "",
        "| tool | build s | build max RSS MB | build heap MB | eval s | eval max RSS MB "
        "| eval heap MB | test ppl | vs KenLM |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
        f"| rnnlab NGramLM | {fit['read_s'] + fit['fit_s']:.2f} (fit {fit['fit_s']:.2f}) "
        f"| {fit['rss_mb']:.0f} | {heap['heap_mb']:.0f} | {ev['eval_s']:.2f} "
        f"| {ev['rss_mb']:.0f} | {ev['eval_heap_mb']:.1f} | {ev['ppl']:.3f} | {diff} |",
    ]
    if ken:
        lines.append(
            f"| KenLM lmplz / query | {ken['fit_s']:.2f} | {ken['rss_mb']:.0f} | n/a "
            f"| {ken['query_s']:.2f} | {ken['query_rss_mb']:.0f} | n/a | {ken['ppl']:.3f} | |")
    lines.append(f"| (Python + torch runtime alone) | | {runtime['rss_mb']:.0f} | | | | | | |")
    lines += [
        "",
        f"- n-grams per order {M}; rnnlab test tokens {ev['tokens']:,}"
        + (f", KenLM {ken['tokens']:,}" if ken else "")
        + f"; `NGramLM.perplexity` (sentence scoring) gives {ev['ppl_sentences']:.3f}.",
        f"- memory formula (module docstring of `rnnlab/models/ngram.py`): fit_counts heap "
        f"predicted {pred:.0f} MB, measured {heap['heap_mb']:.0f} MB "
        f"({100 * (pred / heap['heap_mb'] - 1):+.0f}%), with L = {heap['L']:,} padded "
        f"positions, T_n = {heap['T']}; model tables 24 x {sum(M):,} = {24 * sum(M) / 1e6:.0f} "
        f"MB; evaluation heap {ev['eval_heap_mb']:.1f} MB for batches of up to "
        f"{ev['max_positions']:,} positions (the old logits path: 12 x positions x V = "
        f"{12 * ev['max_positions'] * fit['vocab'] / 1e9:.1f} GB per batch).",
        f"- against the measured build peak RSS: runtime {runtime['rss_mb']:.0f} + training "
        f"data as Python lists {heap['data_mb']:.0f} + formula {pred:.0f} = "
        f"{runtime['rss_mb'] + heap['data_mb'] + pred:.0f} MB predicted, "
        f"{fit['rss_mb']:.0f} MB measured.",
    ]
    lines.append(
        f"- ARPA: `to_arpa` of the rnnlab model {ours_out['s']:.1f} s, max RSS "
        f"{ours_out['rss_mb']:.0f} MB ({arpa_mb:.0f} MB file); `NGramLM.from_arpa` of it "
        f"{ours_in['s']:.1f} s, max RSS {ours_in['rss_mb']:.0f} MB, test ppl "
        f"{ours_in['ppl']:.3f}" + (
            f"; `from_arpa` of KenLM's file {ken_in['s']:.1f} s, max RSS "
            f"{ken_in['rss_mb']:.0f} MB, test ppl {ken_in['ppl']:.3f}" if ken else "") + ".")
    lines.append(
        f"- decoding 6 words after \"Je ne\": `most_likely_continuation` (exact Viterbi) "
        f"{dec['viterbi_s']:.2f} s, \"{dec['viterbi']}\" (log p {dec['viterbi_logp']:.4f}); "
        f"`beam_search_continuation` (16 beams) {dec['beam_s']:.2f} s, \"{dec['beam']}\" "
        f"(log p {dec['beam_logp']:.4f}); max RSS {dec['rss_mb']:.0f} MB (model loaded).")
    if ken:
        lines.append(f"- KenLM: `lmplz -o {N} -S 1G -T $TMP --text train.txt --arpa o{N}.arpa`; "
                     f"`query -v summary o{N}.arpa < test.txt`")
    if cli:
        lines += ["", "CLI end to end on the same files (VAL = TEST = test.txt):", "",
                  "| command | wall s | max RSS MB | test ppl |", "|---|---:|---:|---:|"]
        for c in cli.values():
            lines.append(f"| `{c['cmd']}` | {c['wall_s']:.1f} | {c['rss_mb']:.0f} "
                         f"| {c['ppl']:.3f} |" if "ppl" in c else
                         f"| `{c['cmd']}` (first 200 test lines) | {c['wall_s']:.1f} "
                         f"| {c['rss_mb']:.0f} | |")
    table = "\n".join(lines)
    print(table)
    if args.write:
        write_section("ngram-large-vocab", "### 5-gram at a 38k-word vocabulary (Tatoeba "
                      "French)\n\nCommand: `python benchmarks/ngram_large_vocab.py --write` "
                      "(KenLM built by `benchmarks/kenlm_setup.sh`), 1 thread.\n\n" + table)


if __name__ == "__main__":
    main()
