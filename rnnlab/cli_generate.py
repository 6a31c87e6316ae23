"""Subcommands that decode from a trained run: `generate`, `translate` (and the printing that
`predict` shares with them) and `export`. Printing only: the work is the tasks' and
`rnnlab.decoding`'s."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rnnlab.cli_common import load_run, note, set_threads
from rnnlab.errors import RnnlabError
from rnnlab.tasks import TASKS


def cmd_translate(args: argparse.Namespace) -> int:
    from rnnlab.datasets import read_lines

    sentences = list(args.sentences)
    if args.file:
        sentences += [line for line in read_lines(args.file, "--file") if line.strip()]
    if not sentences:
        raise RnnlabError("nothing to translate: give SENTENCE arguments or --file PATH")
    loaded = load_run(args, "translate")
    return print_translations(loaded, sentences, args)


def print_translations(loaded, sentences: list[str], args: argparse.Namespace) -> int:
    """Each translation (and the time per sentence on stderr); --attention-png: heatmaps."""
    task = TASKS["translate"]
    png = getattr(args, "attention_png", None)
    sampling = {k: getattr(args, k) for k in ("temperature", "top_k", "top_p", "seed")}
    t0 = time.perf_counter()
    rows = task.translate(loaded, sentences, args.strategy or "greedy", args.num_beams,
                          args.length_penalty, args.max_new_tokens, attention=png is not None,
                          **sampling)
    seconds = time.perf_counter() - t0
    for i, r in enumerate(rows):
        if png is not None:
            from rnnlab.plots import plot_attention

            path = Path(png) if i == 0 else Path(png).with_name(
                f"{Path(png).stem}-{i + 1}{Path(png).suffix or '.png'}")
            plot_attention(r["attention"], r["source_tokens"], r["target_tokens"], path,
                           f"{r['source']}  ->  {r['translation']}")
            r["attention_png"] = str(path)
        if "unknown_source_words" in r:
            note(f"note: {', '.join(map(repr, r['unknown_source_words']))} of {r['source']!r}"
                  " are outside the model's source vocabulary (read as <unk>)")
        note(r.get("note"))
        print(json.dumps(r, ensure_ascii=False) if args.json else r["translation"])
    note(f"{len(rows)} sentence(s) in {seconds:.3f} s ({seconds / len(rows) * 1000:.1f} ms "
          f"per sentence, {args.strategy or 'greedy'}"
          + (f", {args.num_beams} beams" if args.strategy == "beam_search" else "") + ")")
    if png is not None:
        note("wrote " + ", ".join(r["attention_png"] for r in rows))
    return 0


def decode_config(args: argparse.Namespace):
    from rnnlab.decoding import DecodeConfig

    if args.strategy is None:  # predict leaves the defaults to the run's task
        args.strategy = "sample"
    if args.max_new_tokens is None:
        args.max_new_tokens = 100

    dc = DecodeConfig(args.strategy, args.max_new_tokens, args.temperature, args.top_k,
                      args.top_p, args.num_beams)
    dc.check()  # before loading anything: a bad flag should not wait for the checkpoint
    return dc


def cmd_generate(args: argparse.Namespace) -> int:
    dc = decode_config(args)
    if args.run.endswith(".onnx"):
        return _generate_onnx(args, dc)
    loaded = load_run(args, "generate")
    if loaded.task == "conditional":
        return print_conditional(loaded, [args.condition], dc, args)
    if args.condition is not None:
        raise RnnlabError("--condition is for conditional runs (--task conditional); drop it")
    lm = TASKS["lm"]
    note(lm.unknown_note(lm.tokenizer(loaded), loaded.cfg, [args.prompt], "--prompt"))
    num = 1 if args.strategy in ("greedy", "beam_search") else args.num
    for s in lm.generate(loaded.model, lm.tokenizer(loaded), loaded.cfg, dc, num, args.prompt,
                         args.seed):
        print(s)
    return 0


def _generate_onnx(args: argparse.Namespace, dc) -> int:
    """Samples from an exported step function with ONNX Runtime (no checkpoint, no torch)."""
    from rnnlab.onnx_generate import generate_onnx

    if dc.strategy not in ("sample", "greedy") or dc.top_p is not None or args.condition:
        raise RnnlabError("generation from an ONNX file supports --strategy sample (with "
                          "--temperature, --top-k) or greedy, without --top-p/--condition; "
                          "use the run folder for the others")
    greedy = dc.strategy == "greedy"
    for s in generate_onnx(args.run, args.prompt, 1 if greedy else args.num, dc.max_new_tokens,
                           dc.temperature, dc.top_k, args.seed, greedy):
        print(s)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from rnnlab.export import export

    set_threads(args.threads)
    r = export(args.run, args.out, args.format)
    print(f"wrote {r['path']}: {r['kind']} function ({', '.join(r['inputs'])}) -> "
          f"({', '.join(r['outputs'])}), dynamic batch")
    if "encoder_path" in r:
        print(f"wrote {r['encoder_path']}: its encoder (src, src_lengths) -> the first state")
    print(f"check: onnxruntime vs PyTorch max |diff| / (1 + |value|) {r['max_abs_diff']:.2e} <= "
          f"{r['tolerance']:g} on {r['checked']}")
    return 0


def print_conditional(loaded, conditions: list[str | None], dc, args) -> int:
    """Samples of each condition, marked new / in training set (as `make demo` marks names)."""
    task = TASKS["conditional"]
    seen = task.training_texts(loaded)
    num = 1 if args.strategy in ("greedy", "beam_search") else args.num
    for c in conditions:
        for s in task.generate(loaded, c or "", dc, num, args.prompt, args.seed):
            if args.json:
                print(json.dumps({"condition": c, "text": s, "new": s not in seen}))
            else:
                print(f"{c}\t{s:<24} {'in training set' if s in seen else 'new'}")
    return 0
