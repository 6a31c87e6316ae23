"""Language-model runs: config -> data -> tokenizer -> batches -> model -> trainer.

The one library call behind each CLI subcommand (`train_lm`, `evaluate_lm`, `score_texts`,
`sample_lm`). Data flow (DESIGN.md): readers give strings, the tokenizer gives ids, batching
gives tensors; the run folder records the resolved config and the split.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnlab import datasets
from rnnlab.batching import BpttStream, PaddedBatches
from rnnlab.checkpoint import BEST, LAST, load_checkpoint, model_from_payload, save_checkpoint
from rnnlab.config import DataConfig, RunConfig
from rnnlab.decoding import DecodeConfig, generate
from rnnlab.errors import RnnlabError
from rnnlab.losses import token_log_probs
from rnnlab.metrics import evaluate
from rnnlab.models import build_lm
from rnnlab.models.base import CountModel
from rnnlab.tokenizers import EOS_ID, Tokenizer
from rnnlab.trainer import History, Trainer


@dataclass
class Splits:
    """Raw text of each split: a list of lines (`lines`) or one string each (`text`)."""

    train: list[str] | str
    val: list[str] | str
    test: list[str] | str
    source: str


def load_splits(dc: DataConfig) -> Splits:
    if dc.format not in ("lines", "text"):
        raise RnnlabError(f"--format must be 'lines' or 'text', got {dc.format!r}")
    if dc.level not in ("char", "word"):
        raise RnnlabError(f"--level must be 'char' or 'word', got {dc.level!r}")
    if dc.data is None:
        if dc.format != "lines":
            raise RnnlabError("the embedded names are one name per line: use --format lines")
        lines = datasets.embedded_names()
        train, val, test = datasets.split_lines(lines, dc.split_seed, dc.val_size, dc.test_size)
        return Splits(train, val, test, datasets.EMBEDDED_NAMES)
    read = datasets.read_lines if dc.format == "lines" else datasets.read_text
    full = read(dc.data, "--data")
    if dc.val_data is not None or dc.test_data is not None:
        empty: list[str] | str = [] if dc.format == "lines" else ""
        val = read(dc.val_data, "--val-data") if dc.val_data else empty
        test = read(dc.test_data, "--test-data") if dc.test_data else empty
        return Splits(full, val, test, dc.data)
    if dc.format == "lines":
        train, val, test = datasets.split_lines(full, dc.split_seed, dc.val_size, dc.test_size)
    else:
        train, val, test = datasets.split_text(full, dc.val_fraction, dc.test_fraction)
    return Splits(train, val, test, dc.data)


def encode_split(tok: Tokenizer, fmt: str, part: list[str] | str) -> list[list[int]] | list[int]:
    """lines -> one id list per line; text -> one id stream (word level: `<eos>` per line)."""
    if fmt == "lines":
        return [tok.encode(line) for line in part]
    if tok.level == "word":
        ids: list[int] = []
        for line in str(part).split("\n"):
            ids.extend(tok.encode(line))
            ids.append(EOS_ID)
        return ids
    return tok.encode(str(part))


def make_batches(
    cfg: RunConfig, ids: list, train: bool
) -> PaddedBatches | BpttStream | None:
    tc = cfg.train
    if not ids:
        return None
    if cfg.data.format == "lines":
        return PaddedBatches(ids, tc.batch_size if train else tc.eval_batch_size,
                             shuffle=train, seed=tc.seed)
    if train:
        return BpttStream(ids, tc.batch_size, tc.seq_len, tc.partition, tc.seed)
    # evaluation reads the stream once, in order, with the state carried throughout
    return BpttStream(ids, 1, max(tc.seq_len, 256), "sequential")


def fit_tokenizer(cfg: RunConfig, train: list[str] | str) -> Tokenizer:
    texts = train if isinstance(train, list) else str(train).split("\n")
    tok = Tokenizer.fit(texts, cfg.data.level, cfg.data.min_freq, cfg.data.max_vocab)  # type: ignore[arg-type]
    if len(tok) <= 4:
        raise RnnlabError("the training split holds no tokens; pass a file with text in it")
    return tok


def model_kwargs(cfg: RunConfig) -> dict[str, Any]:
    m = cfg.model
    if m.model in ("rnn", "gru", "lstm"):
        return dict(embedding_dim=m.embedding_dim, hidden_size=m.hidden_size,
                    num_layers=m.num_layers, dropout=m.dropout, tie_weights=m.tie_weights,
                    impl=m.impl, feedback=m.feedback, init_range=m.init_range)
    if m.model in ("linear", "mlp", "cnn"):
        return dict(context=m.context, embedding_dim=m.embedding_dim, hidden_size=m.hidden_size,
                    num_layers=m.num_layers, dropout=m.dropout, direct=m.direct)
    if m.model == "ngram":
        return dict(order=m.order, smoothing=m.smoothing, k=m.k)
    if m.model == "bigram":
        return dict(k=m.k)
    return {}


def _digest(part: list[str] | str) -> str:
    text = "\n".join(part) if isinstance(part, list) else part
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def split_record(cfg: RunConfig, s: Splits) -> dict[str, Any]:
    def size(p: list[str] | str) -> int:
        return len(p)

    return {
        "source": s.source, "format": cfg.data.format, "split_seed": cfg.data.split_seed,
        "method": "explicit files" if cfg.data.val_data or cfg.data.test_data else
        ("shuffle with random.Random(split_seed); test first, val next, train rest"
         if cfg.data.format == "lines" else "contiguous: train | val | test"),
        "units": "lines" if cfg.data.format == "lines" else "characters",
        "sizes": {"train": size(s.train), "val": size(s.val), "test": size(s.test)},
        "sha256_16": {"train": _digest(s.train), "val": _digest(s.val), "test": _digest(s.test)},
    }


@dataclass
class TrainResult:
    model: nn.Module
    tokenizer: Tokenizer
    history: History
    val: dict[str, Any] | None
    test: dict[str, Any] | None
    splits: Splits
    seconds: float


def check_out_dir(out: Path, resume: bool) -> None:
    if resume:
        if not (out / LAST).is_file():
            raise RnnlabError(
                f"--resume: {str(out)!r} holds no {LAST} to resume from; pass the run folder "
                "of an earlier `rnnlab train` with --out"
            )
    elif out.exists() and any(out.iterdir()):
        raise RnnlabError(
            f"--out {str(out)!r} already holds files; nothing was changed. Continue that run "
            "with --resume, or choose a new --out"
        )


def train_lm(
    cfg: RunConfig,
    out: Path,
    resume: bool = False,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    on_ready: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train (or count) a language model into run folder `out`."""
    check_out_dir(out, resume)
    payload = load_checkpoint(out / LAST) if resume else None
    splits = load_splits(cfg.data)
    tok = (Tokenizer.from_dict(payload["tokenizer"]) if payload is not None
           else fit_tokenizer(cfg, splits.train))
    fmt = cfg.data.format
    train_ids = encode_split(tok, fmt, splits.train)
    val_ids = encode_split(tok, fmt, splits.val)
    test_ids = encode_split(tok, fmt, splits.test)
    torch.manual_seed(cfg.train.seed)  # the initial weights depend on the seed alone
    model = build_lm(cfg.model.model, len(tok), **model_kwargs(cfg))
    train_b = make_batches(cfg, train_ids, train=True)
    val_b = make_batches(cfg, val_ids, train=False)
    test_b = make_batches(cfg, test_ids, train=False)
    if train_b is None:
        raise RnnlabError("the training split is empty; pass more data or smaller splits")
    info = {"vocab_size": len(tok), "params": sum(p.numel() for p in model.parameters()),
            "train_tokens": train_b.num_tokens(), "model": cfg.model.model,
            "val_tokens": val_b.num_tokens() if val_b else 0, "source": splits.source}
    out.mkdir(parents=True, exist_ok=True)
    cfg.save_json(out / "config.json")
    (out / "split.json").write_text(json.dumps(split_record(cfg, splits), indent=2) + "\n")
    if on_ready is not None:
        on_ready(info)
    extra = {"config": cfg.to_dict(), "tokenizer": tok.to_dict()}
    t0 = time.perf_counter()
    if isinstance(model, CountModel):
        seqs = train_ids if fmt == "lines" else [train_ids]
        model.fit_counts(seqs)  # type: ignore[arg-type]
        hist = History(steps=0, stopped="counted")
        trainer = Trainer(cfg.train, out, on_event, extra)
        for name in (BEST, LAST):
            save_checkpoint(out / name, trainer._payload(model, trainer={"step": 0}))
    else:
        log = open(out / "metrics.jsonl", "a")  # noqa: SIM115 - closed below

        def event(e: dict[str, Any]) -> None:
            if e["event"] == "eval":
                log.write(json.dumps({k: v for k, v in e.items() if k != "event"}) + "\n")
                log.flush()
            if on_event is not None:
                on_event(e)

        try:
            hist = Trainer(cfg.train, out, event, extra).fit(model, train_b, val_b, payload)
        finally:
            log.close()
        best, _ = model_from_payload(load_checkpoint(out))
        model = best
    seconds = time.perf_counter() - t0
    model.eval()
    val_m = evaluate(model, val_b.epoch(0)) if val_b else None
    test_m = evaluate(model, test_b.epoch(0)) if test_b else None
    return TrainResult(model, tok, hist, val_m, test_m, splits, seconds)


def run_config(payload: dict[str, Any]) -> RunConfig:
    return RunConfig.from_dict(payload["config"])


def evaluate_lm(
    checkpoint: str | Path, data: str | None, fmt: str | None, split: str
) -> dict[str, Any]:
    """NLL / perplexity / bits of a checkpoint on a file, or on its own run's split."""
    payload = load_checkpoint(checkpoint)
    model, tok = model_from_payload(payload)
    cfg = run_config(payload)
    if data is not None:
        cfg.data.format = fmt or cfg.data.format
        read = datasets.read_lines if cfg.data.format == "lines" else datasets.read_text
        part = read(data, "--data")
    else:
        if split not in ("val", "test"):
            raise RnnlabError(f"--split must be 'val' or 'test', got {split!r}")
        part = getattr(load_splits(cfg.data), split)
    ids = encode_split(tok, cfg.data.format, part)
    batches = make_batches(cfg, ids, train=False)
    if batches is None:
        raise RnnlabError("nothing to evaluate: the data holds no tokens")
    return evaluate(model, batches.epoch(0))


def score_texts(checkpoint: str | Path, texts: list[str]) -> list[dict[str, Any]]:
    """Log-probability (nats) of each text as a whole sequence: for line models
    log p(w1..wn, <eos> | <bos>); for stream models log p(w2..wn | w1)."""
    payload = load_checkpoint(checkpoint)
    model, tok = model_from_payload(payload)
    cfg = run_config(payload)
    results = []
    for text in texts:
        ids = tok.encode(text)
        if cfg.data.format == "lines":
            batch = make_batches(cfg, [ids], train=False)
            b = next(iter(batch.epoch(0)))  # type: ignore[union-attr]
        else:
            if len(ids) < 2:
                raise RnnlabError(
                    f"text {text!r}: a stream model scores tokens after the first; "
                    "give at least two tokens"
                )
            from rnnlab.models.base import LMBatch

            x = torch.tensor([ids[:-1]])
            b = LMBatch(x, torch.tensor([ids[1:]]), None, True)
        with torch.no_grad():
            lp = token_log_probs(model(b).logits, b.targets)[0]  # (T,)
        n = int((b.targets[0] >= 0).sum())
        toks = tok.vocab.decode(b.targets[0, :n].tolist())
        logp = lp[:n].tolist()
        results.append({"text": text, "logprob": float(sum(logp)), "tokens": n,
                        "nll_per_token": -float(sum(logp)) / max(n, 1),
                        "token_logprobs": list(zip(toks, logp, strict=True)),
                        "unknown": tok.vocab.unknown(tok.split(text))})
    return results


def sample_lm(
    model: nn.Module, tok: Tokenizer, cfg: RunConfig, dc: DecodeConfig, num: int,
    prompt: str = "", seed: int = 0,
) -> list[str]:
    """`num` continuations of `prompt` (line models start after <bos>)."""
    dc.check()
    ids = tok.encode_strict(prompt, "--prompt") if prompt else []
    if cfg.data.format == "lines":
        from rnnlab.tokenizers import BOS_ID

        ids = [BOS_ID, *ids]
    elif not ids:
        raise RnnlabError(
            "this model was trained on a text stream and has no start token: give a --prompt"
        )
    g = torch.Generator().manual_seed(seed)
    if dc.strategy == "beam_search":
        num = 1  # one best hypothesis: repeating a deterministic search adds nothing
    rows = generate(model, [ids] * num, dc, g)
    lead = prompt if prompt else ""
    sep = " " if tok.level == "word" and lead else ""
    return [lead + sep + tok.decode(r) for r in rows]


def diagnose_lm(
    checkpoint: str | Path, out_dir: str | Path, seq_len: int = 100, batch_size: int = 16,
    data: str | None = None, split: str = "val",
) -> dict[str, Any]:
    """Gradient-flow diagnostics of a recurrent LM checkpoint on `batch_size` chunks of
    `seq_len` tokens of its own split (or of `data`): writes gradient_flow.json and .png."""
    import numpy as np

    from rnnlab.diagnostics import gradient_flow, write_report
    from rnnlab.models.base import LMBatch
    from rnnlab.tokenizers import BOS_ID

    if seq_len < 2 or batch_size < 1:
        raise RnnlabError(
            f"--seq-len must be >= 2 and --batch-size >= 1, got {seq_len} and {batch_size}"
        )
    payload = load_checkpoint(checkpoint)
    model, tok = model_from_payload(payload)
    cfg = run_config(payload)
    if data is not None:
        read = datasets.read_lines if cfg.data.format == "lines" else datasets.read_text
        part = read(data, "--data")
    else:
        part = getattr(load_splits(cfg.data), split)
    ids = encode_split(tok, cfg.data.format, part)
    if cfg.data.format == "lines":  # one stream of whole lines: <bos> w1 .. wn <eos> <bos> ...
        ids = [t for line in ids for t in (BOS_ID, *line, EOS_ID)]
    need = batch_size * seq_len + 1
    if len(ids) < need:
        raise RnnlabError(
            f"diagnosis needs {need} tokens (--batch-size {batch_size} x --seq-len {seq_len} "
            f"+ 1), the data has {len(ids)}; lower --seq-len or --batch-size"
        )
    a = np.asarray(ids[:need], dtype=np.int64)
    x = torch.from_numpy(a[:-1].reshape(batch_size, seq_len))  # (B, T)
    y = torch.from_numpy(a[1:].reshape(batch_size, seq_len))
    result = gradient_flow(model, LMBatch(x, y, None, True))
    result["checkpoint"] = str(checkpoint)
    paths = write_report(result, out_dir)
    return {"result": result, "paths": paths}
