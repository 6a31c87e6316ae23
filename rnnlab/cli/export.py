"""Use-time commands that work on a file rather than on a task: `rnnlab export` (any run ->
ONNX, an n-gram run -> ARPA) and `rnnlab generate FILE.onnx` (sampling from an export, no
checkpoint, no torch). Declared as the tasks declare theirs (rnnlab.options), so one parser
and one check serve all.
"""

from __future__ import annotations

from typing import Any

from rnnlab.options import (
    MAX_NEW_TOKENS,
    NUM,
    OUT,
    PROMPT,
    SEED,
    STRATEGY,
    TEMPERATURE,
    TOP_K,
    Command,
    Option,
    Options,
    Shown,
)


def export(run: str, o: Options) -> dict[str, Any]:
    if o.format == "arpa":
        from rnnlab.export.arpa import export_arpa

        return export_arpa(run, o.out)
    from rnnlab.export.onnx import export as to_onnx

    return to_onnx(run, o.out, o.format)


def describe_export(r: dict[str, Any], o: Options) -> Shown:
    if r.get("format") == "arpa":
        counts = ", ".join(f"{n}-grams {c:,}" for n, c in enumerate(r["ngrams"], start=1))
        reversed_ = ", each line reversed (r2l)" if r["direction"] == "r2l" else ""
        return Shown([f"wrote {r['path']}: ARPA backoff model of order {r['order']}, "
                      f"{r['level']} level{reversed_}", f"n-grams: {counts}"])
    lines = [f"wrote {r['path']}: {r['kind']} function ({', '.join(r['inputs'])}) -> "
             f"({', '.join(r['outputs'])}), dynamic batch"]
    if "encoder_path" in r:
        lines.append(f"wrote {r['encoder_path']}: its encoder (src, src_lengths) -> the first "
                     "state")
    lines.append(f"check: onnxruntime vs PyTorch max |diff| / (1 + |value|) "
                 f"{r['max_abs_diff']:.2e} <= {r['tolerance']:g} on {r['checked']}")
    return Shown(lines)


def generate_onnx(path: str, o: Options) -> list[str]:
    from rnnlab.export.generate import generate_onnx as sample

    greedy = o.strategy == "greedy"
    return sample(path, o.prompt, 1 if greedy else o.num, o.max_new_tokens, o.temperature,
                  o.top_k, o.seed, greedy)


EXPORT = Command("export", "a network to ONNX, checked with ONNX Runtime; an n-gram run's "
                 "tables to ARPA", (
    Option("format", "onnx: the network's graph; arpa: the backoff tables of a --model ngram "
           "or bigram run, for KenLM and SRILM", str, "onnx", choices=("onnx", "arpa")),
    OUT.but(help="FILE.onnx or FILE.arpa to write", required=True)), export, describe_export)

ONNX_GENERATE = Command(
    "generate", "sample from the step function of `rnnlab export`",
    (PROMPT, NUM, STRATEGY.but(choices=("greedy", "sample")), MAX_NEW_TOKENS, TEMPERATURE,
     TOP_K, SEED),
    generate_onnx, lambda texts, o: Shown(list(texts)))

# what a run's task does not declare: (who, Command) by subcommand, for the parser and checks
OWN = {"export": [("every task's", EXPORT)], "generate": [("FILE.onnx", ONNX_GENERATE)]}
