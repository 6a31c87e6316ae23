"""An ARPA file as a language-model run: `rnnlab evaluate | score | generate | predict
FILE.arpa` work on the `Loaded` that `load_arpa` builds, as on a run folder of --model ngram.

What a run records beside the model is rebuilt from the file: the vocabulary is its 1-grams
(<s>, </s>, <unk> are rnnlab's <bos>, <eos>, <unk>); the level and direction come from the
comment `rnnlab export --format arpa` writes (rnnlab/export/arpa.py), else the level is char
when every other 1-gram is one character (a space is written <U+0020>) and word otherwise,
l2r. The format is lines (one sentence a line), which scores as a --model ngram run on text
does. A file has no data splits: `evaluate` needs --data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnnlab.errors import RnnlabError
from rnnlab.tasks.base import Loaded
from rnnlab.tasks.lm.config import DataConfig, ModelConfig

if TYPE_CHECKING:
    from rnnlab.data.tokenizers import Level

COMMENT = "rnnlab "  # rnnlab/export/arpa.py writes `# rnnlab {"level": .., "direction": ..}`


def infer_level(itos: list[str]) -> Level:
    """char when every word but the specials is one character, else word."""
    from rnnlab.data.tokenizers import SPECIALS

    return "char" if all(len(w) == 1 for w in itos[len(SPECIALS):]) else "word"


def _recorded(path: str) -> dict[str, Any]:
    """The level and direction `rnnlab export` recorded in the file's comment, if any."""
    from rnnlab.models.arpa import read_comments

    for line in read_comments(path):
        if line.startswith(COMMENT):
            try:
                d = json.loads(line[len(COMMENT):])
            except json.JSONDecodeError:
                continue
            if isinstance(d, dict):
                return d
    return {}


def load_arpa(path: str, task: str) -> Loaded:
    """`path` (FILE.arpa) as a run of `task` (the lm task's name): an NGramLM (smoothing
    'arpa'), its tokenizer, and a config that says format lines, --model ngram."""
    from rnnlab.config import RunConfig
    from rnnlab.data.tokenizers import Tokenizer, Vocab
    from rnnlab.models.ngram import NGramLM

    p = Path(path)
    if not p.is_file():
        raise RnnlabError(f"{path!r} does not exist; write an ARPA file with `rnnlab export "
                          "RUN --format arpa --out FILE.arpa` from a --model ngram run")
    try:
        recorded = _recorded(path)
        model, itos = NGramLM.from_arpa(path)
        vocab = Vocab(itos)
    except (UnicodeDecodeError, ValueError, IndexError) as e:
        raise RnnlabError(f"{path!r} is not a readable ARPA file ({type(e).__name__}: {e}); "
                          "give a file of `rnnlab export --format arpa`, KenLM or SRILM") from None
    level = recorded.get("level", infer_level(itos))
    direction = recorded.get("direction", "l2r")
    if level not in ("char", "word") or direction not in ("l2r", "r2l"):
        raise RnnlabError(f"{path!r}: its rnnlab comment says level {level!r}, direction "
                          f"{direction!r}; expected char or word, l2r or r2l: fix or drop the "
                          "comment")
    tok = Tokenizer(level, vocab)
    cfg = RunConfig(task=task, data=DataConfig(format="lines", level=level, direction=direction),
                    model=ModelConfig(model="ngram", order=model.order))
    return Loaded(task, cfg, model.eval(), {"tokenizer": tok.to_dict(), "arpa": str(p)}, p)
