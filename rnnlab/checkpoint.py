"""Checkpoints: config + tokenizer + weights + training position, in one file.

The payload is a dict of plain Python values and tensors saved with `torch.save` and read
back with `weights_only=True`, so loading never runs pickled code. Optimizer state is nested,
which is why this is not a bare safetensors file. Writes are atomic: a temporary file in
the same folder, fsync, then `os.replace`, so a crash leaves the previous file intact.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnlab.data.tokenizers import Tokenizer
from rnnlab.errors import RnnlabError

FORMAT = "rnnlab-checkpoint"
VERSION = 1
BEST, LAST = "best.pt", "last.pt"


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call `write(tmp_path)`, then move the result over `path` in one step."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write `payload` (with rnnlab's format and version) atomically: a crash leaves the old
    file or the new one, never half of one."""
    payload = {"format": FORMAT, "version": VERSION, **payload}
    atomic_write(Path(path), lambda tmp: torch.save(payload, tmp))


def resolve(path: str | Path) -> Path:
    """A run folder means its best checkpoint (or its last one, if no best was written)."""
    p = Path(path)
    if p.is_dir():
        for name in (BEST, LAST):
            if (p / name).is_file():
                return p / name
        raise RnnlabError(
            f"run folder {str(p)!r} holds no checkpoint ({BEST} or {LAST}); "
            "train into it first or pass a checkpoint file"
        )
    if not p.exists():
        raise RnnlabError(f"checkpoint {str(p)!r} does not exist; pass a run folder or a .pt file")
    return p


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The payload of a checkpoint file or run folder (its best.pt, else last.pt), checked to
    be an rnnlab checkpoint; a clear error for a corrupt or foreign file."""
    p = resolve(path)
    try:
        payload = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for truncated or foreign files
        raise RnnlabError(
            f"checkpoint {str(p)!r} is corrupt or not a PyTorch file ({type(e).__name__}); "
            "use a checkpoint written by `rnnlab train`"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise RnnlabError(
            f"{str(p)!r} is not an rnnlab checkpoint; use one written by `rnnlab train`"
        )
    if payload.get("version", 0) > VERSION:
        raise RnnlabError(
            f"checkpoint {str(p)!r} has format version {payload['version']}, newer than this "
            f"rnnlab reads ({VERSION}); upgrade rnnlab"
        )
    return payload


def open_run(out: Path, resume: bool) -> dict[str, Any] | None:
    """Check run folder `out` for a new run (absent or empty) or a resume (holds last.pt);
    returns the checkpoint to resume from, or None for a new run."""
    if resume:
        if not (out / LAST).is_file():
            raise RnnlabError(
                f"--resume: {str(out)!r} holds no {LAST} to resume from; pass the run folder "
                "of an earlier `rnnlab train` with --out"
            )
        return load_checkpoint(out / LAST)
    if out.exists() and any(p.name != ".lock" for p in out.iterdir()):  # runlock.LOCK
        raise RnnlabError(
            f"--out {str(out)!r} already holds files; nothing was changed. Continue that run "
            "with --resume, or choose a new --out"
        )
    return None


def rebuild_model(payload: dict[str, Any]) -> nn.Module:
    """The model a checkpoint names, with its weights, in eval mode (any task)."""
    from rnnlab.models import rebuild

    model = rebuild(payload["model_class"], payload["hparams"])
    try:
        model.load_state_dict(payload["model_state"])
    except (RuntimeError, KeyError) as e:
        raise RnnlabError(
            f"checkpoint weights do not fit the model they name ({e}); the file is damaged"
        ) from None
    return model.eval()


def model_from_payload(payload: dict[str, Any]) -> tuple[nn.Module, Tokenizer]:
    """A language model and its tokenizer."""
    return rebuild_model(payload), Tokenizer.from_dict(payload["tokenizer"])


def load_model(path: str | Path) -> tuple[nn.Module, Tokenizer, dict[str, Any]]:
    """(model, tokenizer, payload) of a language-model checkpoint or run folder."""
    payload = load_checkpoint(path)
    model, tok = model_from_payload(payload)
    return model, tok, payload
