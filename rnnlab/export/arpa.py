"""ARPA export of an n-gram language-model run (`rnnlab export RUN --format arpa`): the
model's backoff tables as the text file KenLM and SRILM read (rnnlab/models/arpa.py).

The file starts with one comment, `# rnnlab {"level": ..., "direction": ...}`, since its
words alone cannot say whether a one-character word is a character model's token or an r2l
model reads each line reversed; `rnnlab evaluate FILE.arpa` (rnnlab/tasks/lm/arpa_run.py)
reads it back. Written to a temporary file beside `out`, then moved over it in one step.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rnnlab.errors import RnnlabError

COMMENT = "rnnlab "  # the comment that carries what the words do not say


def header(level: str, direction: str) -> str:
    return COMMENT + json.dumps({"level": level, "direction": direction})


def export_arpa(run: str | Path, out: str | Path) -> dict[str, Any]:
    """Write the n-gram model of `run` to `out` (FILE.arpa); returns {"format", "path",
    "order", "ngrams" (written per order), "level", "direction"}."""
    from rnnlab.checkpoint import atomic_write
    from rnnlab.run import load

    out = Path(out)
    if out.suffix != ".arpa":
        raise RnnlabError(f"--out {str(out)!r}: --format arpa writes FILE.arpa; name the file "
                          "so")
    loaded = load(run)
    model = loaded.model
    if not hasattr(model, "to_arpa") or "tokenizer" not in loaded.payload:
        name = getattr(loaded.cfg.model, "model", type(model).__name__)
        raise RnnlabError(
            f"--format arpa: {str(run)!r} is a {loaded.task} run of --model {name}; an ARPA "
            "file holds the backoff tables of a language-model run trained with --model ngram "
            "(or bigram): export this run with --format onnx, or train --model ngram")
    tok = loaded.payload["tokenizer"]
    direction = getattr(loaded.cfg.data, "direction", "l2r")
    out.parent.mkdir(parents=True, exist_ok=True)
    written: list[int] = []

    def write(tmp: Path) -> None:
        written.extend(model.to_arpa(str(tmp), tok["tokens"], [header(tok["level"], direction)]))

    atomic_write(out, write)
    return {"format": "arpa", "path": str(out), "order": model.order, "ngrams": written,
            "level": tok["level"], "direction": direction}
