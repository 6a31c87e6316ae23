"""Use-time commands that work on a file rather than on a task: `rnnlab export` (any run ->
ONNX) and `rnnlab generate FILE.onnx` (sampling from an export, no checkpoint, no torch).
Declared as the tasks declare theirs (rnnlab.options), so one parser and one check serve all.
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
    from rnnlab.export.onnx import export as to_onnx

    return to_onnx(run, o.out, o.format)


def describe_export(r: dict[str, Any], o: Options) -> Shown:
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


EXPORT = Command("export", "export the model to ONNX and check it with ONNX Runtime", (
    Option("format", "the export's format", str, "onnx", choices=("onnx",)),
    OUT.but(help="FILE.onnx to write", required=True)), export, describe_export)

ONNX_GENERATE = Command(
    "generate", "sample from the step function of `rnnlab export`",
    (PROMPT, NUM, STRATEGY.but(choices=("greedy", "sample")), MAX_NEW_TOKENS, TEMPERATURE,
     TOP_K, SEED),
    generate_onnx, lambda texts, o: Shown(list(texts)))

# what a run's task does not declare: (who, Command) by subcommand, for the parser and checks
OWN = {"export": [("every task's", EXPORT)], "generate": [("FILE.onnx", ONNX_GENERATE)]}
