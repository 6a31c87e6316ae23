"""Language-model runs: config -> data -> tokenizer -> batches -> model -> trainer.

The one library call behind each CLI subcommand (`train_lm`, `evaluate_lm`, `score_texts`,
`sample_lm`). Data flow (DESIGN.md): readers give strings, the tokenizer gives ids, batching
gives tensors; the run folder records the resolved config and the split.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnlab import datasets
from rnnlab.batching import BpttStream, PaddedBatches
from rnnlab.checkpoint import (
    BEST,
    LAST,
    load_checkpoint,
    model_from_payload,
    open_run,
    save_checkpoint,
)
from rnnlab.config import DataConfig, RunConfig
from rnnlab.decoding import DecodeConfig, generate
from rnnlab.errors import RnnlabError
from rnnlab.losses import token_log_probs
from rnnlab.metrics import evaluate
from rnnlab.models import build_lm
from rnnlab.models.base import CountModel, LMBatch
from rnnlab.tokenizers import EOS_ID, Tokenizer, Vocab
from rnnlab.trainer import History, Trainer


@dataclass
class Splits:
    """Raw text of each split: a list of lines (`lines`) or one string each (`text`)."""

    train: list[str] | str
    val: list[str] | str
    test: list[str] | str
    source: str


def load_splits(dc: DataConfig, read_train: bool = True) -> Splits:
    """The raw splits; `read_train=False` leaves the explicit training file unread ("") for
    the streaming path (`streams_from_file`)."""
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
    explicit = dc.val_data is not None or dc.test_data is not None
    full = read(dc.data, "--data") if read_train or not explicit else ""
    if explicit:
        empty: list[str] | str = [] if dc.format == "lines" else ""
        val = read(dc.val_data, "--val-data") if dc.val_data else empty
        test = read(dc.test_data, "--test-data") if dc.test_data else empty
        return Splits(full, val, test, dc.data)
    if dc.format == "lines":
        train, val, test = datasets.split_lines(full, dc.split_seed, dc.val_size, dc.test_size)
    else:
        train, val, test = datasets.split_text(full, dc.val_fraction, dc.test_fraction)
    return Splits(train, val, test, dc.data)


DIRECTIONS = ("l2r", "r2l")


def check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise RnnlabError(f"--direction must be 'l2r' or 'r2l', got {direction!r}")


def text_lines(text: str) -> list[str]:
    """A text's lines; a final newline ends the last line rather than starting an empty one
    (so PTB gets one `<eos>` per line: 929,589 training tokens)."""
    lines = text.split("\n")
    if lines[-1] == "":  # also: the empty text has no lines
        lines.pop()
    return lines


def encode_line(tok: Tokenizer, line: str, direction: str = "l2r") -> list[int]:
    """One line's ids in reading order ("l2r") or reversed ("r2l")."""
    ids = tok.encode(line)
    return ids[::-1] if direction == "r2l" else ids


def encode_split(
    tok: Tokenizer, fmt: str, part: list[str] | str, direction: str = "l2r"
) -> list[list[int]] | list[int]:
    """lines -> one id list per line; text -> one id stream (word level: `<eos>` per line).

    `direction="r2l"` (the notes' order of decoding) reverses the tokens *within* each line
    and keeps the line order and every line's end marker (`<eos>` at word level, the newline
    at char level) at the end of its reversed line: `the cat sat <eos>` becomes
    `sat cat the <eos>`. The model then factorizes a corpus as prod_i p(reversed line i |
    earlier lines), still a proper distribution, and a single sentence's probability is
    p(w_n .. w_1 <eos> | <eos>), comparable with the l2r model's p(w_1 .. w_n <eos> | <eos>).
    """
    check_direction(direction)
    if fmt == "lines":
        return [encode_line(tok, line, direction) for line in part]
    if tok.level == "word":
        ids: list[int] = []
        for line in text_lines(str(part)):
            ids.extend(encode_line(tok, line, direction))
            ids.append(EOS_ID)
        return ids
    if direction == "r2l":  # characters: each line reversed, newlines in place
        return tok.encode("\n".join(line[::-1] for line in str(part).split("\n")))
    return tok.encode(str(part))


def make_batches(
    cfg: RunConfig, ids: list | np.ndarray, train: bool, rows: int = 1
) -> PaddedBatches | BpttStream | None:
    """Training or evaluation batches. Evaluation of a stream reads it in `rows` parallel rows
    (1: exact, every token after the first scored with its whole history; B > 1 is faster
    but B-1 rows start from an empty state and up to B-1 final tokens go unscored)."""
    tc = cfg.train
    if len(ids) == 0:
        return None
    if cfg.data.format == "lines":
        return PaddedBatches(ids, tc.batch_size if train else tc.eval_batch_size,
                             shuffle=train, seed=tc.seed)
    if train:
        return BpttStream(ids, tc.batch_size, tc.seq_len, tc.partition, tc.seed)
    # evaluation reads the stream once, in order, with the state carried throughout
    return BpttStream(ids, rows, max(tc.seq_len, 256), "sequential")


def streams_from_file(dc: DataConfig) -> bool:
    """Word-level text with explicit split files is tokenized in a streaming pass into an
    int32 .npy memory map, so the training corpus never has to fit in memory."""
    return dc.format == "text" and dc.level == "word" and dc.data is not None and (
        dc.val_data is not None)


def iter_file_lines(path: str | Path) -> Iterator[str]:
    """A text file's lines without their line end, read lazily; the same lines as
    `text_lines(datasets.read_text(path))`."""
    with open(path, "rb") as f:
        for raw in f:
            yield raw.rstrip(b"\n").removesuffix(b"\r").decode("utf-8")


@dataclass
class FileStats:
    tokens: int = 0  # with one <eos> per line
    chars: int = 0  # of the text as `read_text` returns it
    sha256: str = ""


def fit_tokenizer_streamed(cfg: RunConfig, path: str) -> tuple[Tokenizer, FileStats]:
    """Vocabulary of a training file in one lazy pass, with its token count and digest."""
    if not Path(path).is_file():
        raise RnnlabError(f"--data: file {path!r} does not exist; check the path")
    stats, digest = FileStats(), hashlib.sha256()

    def words():
        for line in iter_file_lines(path):
            digest.update(line.encode("utf-8") + b"\n")
            stats.chars += len(line) + 1
            w = line.split()
            stats.tokens += len(w) + 1
            yield w

    vocab = Vocab.build(words(), cfg.data.min_freq, cfg.data.max_vocab)
    stats.sha256 = digest.hexdigest()[:16]
    return Tokenizer("word", vocab), stats


def encode_file_to_npy(
    tok: Tokenizer, path: str, out: Path, n_tokens: int, direction: str = "l2r"
) -> np.ndarray:
    """Ids of a word-level text file (one `<eos>` per line) written into an int32 .npy of
    `n_tokens` entries in one lazy pass; returns it opened read-only as a memory map (N,)."""
    header = np.lib.format.open_memmap(out, mode="w+", dtype=np.int32, shape=(n_tokens,))
    offset = header.offset  # the .npy header's length; the ids follow it
    del header
    # plain writes, not writes through the map: written pages of a mapping count toward the
    # process's RSS until unmapped, pages written with write() stay in the kernel's cache
    pos, buf = 0, []
    with open(out, "r+b") as f:
        f.seek(offset)
        for line in iter_file_lines(path):
            buf.extend(encode_line(tok, line, direction))
            buf.append(EOS_ID)
            if len(buf) >= 1 << 20:  # ~4 MB pieces: memory stays flat
                f.write(np.asarray(buf, dtype=np.int32).tobytes())
                pos, buf = pos + len(buf), []
        f.write(np.asarray(buf, dtype=np.int32).tobytes())
    if pos + len(buf) != n_tokens:
        raise RnnlabError(f"{path!r} changed while it was being read; train again")
    return np.load(out, mmap_mode="r")


def fit_tokenizer(cfg: RunConfig, train: list[str] | str) -> Tokenizer:
    # a stream is fitted whole: at character level its newlines are tokens too
    texts = train if isinstance(train, list) else [str(train)]
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


def train_lm(
    cfg: RunConfig,
    out: Path,
    resume: bool = False,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    on_ready: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train (or count) a language model into run folder `out`."""
    payload = open_run(out, resume)
    streamed = streams_from_file(cfg.data)
    splits = load_splits(cfg.data, read_train=not streamed)
    fmt, direction = cfg.data.format, cfg.data.direction
    check_direction(direction)
    train_ids: list | np.ndarray
    record = None
    if streamed:
        assert cfg.data.data is not None
        tok, stats = fit_tokenizer_streamed(cfg, cfg.data.data)
        if payload is not None:  # the vocabulary is the checkpoint's, never refitted
            tok = Tokenizer.from_dict(payload["tokenizer"])
        out.mkdir(parents=True, exist_ok=True)
        train_ids = encode_file_to_npy(tok, cfg.data.data, out / "train_ids.npy",
                                       stats.tokens, direction)
        record = split_record(cfg, splits)
        record["sizes"]["train"] = stats.chars
        record["sha256_16"]["train"] = stats.sha256
        record["train_ids"] = "train_ids.npy (int32, memory-mapped)"
    else:
        tok = (Tokenizer.from_dict(payload["tokenizer"]) if payload is not None
               else fit_tokenizer(cfg, splits.train))
        train_ids = encode_split(tok, fmt, splits.train, direction)
    val_ids = encode_split(tok, fmt, splits.val, direction)
    test_ids = encode_split(tok, fmt, splits.test, direction)
    torch.manual_seed(cfg.train.seed)  # the initial weights depend on the seed alone
    model = build_lm(cfg.model.model, len(tok), **model_kwargs(cfg))
    train_b = make_batches(cfg, train_ids, train=True)
    val_b = make_batches(cfg, val_ids, train=False, rows=cfg.train.stream_val_batch)
    test_b = make_batches(cfg, test_ids, train=False)
    if train_b is None:
        raise RnnlabError("the training split is empty; pass more data or smaller splits")
    info = {"vocab_size": len(tok), "params": sum(p.numel() for p in model.parameters()),
            "train_tokens": train_b.num_tokens(), "model": cfg.model.model,
            "val_tokens": val_b.num_tokens() if val_b else 0, "source": splits.source}
    out.mkdir(parents=True, exist_ok=True)
    cfg.save_json(out / "config.json")
    record = record or split_record(cfg, splits)
    (out / "split.json").write_text(json.dumps(record, indent=2) + "\n")
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
    val_b = make_batches(cfg, val_ids, train=False)  # the final figure reads it exactly
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
        # a streamed training file may exceed memory: leave it unread
        part = getattr(load_splits(cfg.data, read_train=not streams_from_file(cfg.data)), split)
    ids = encode_split(tok, cfg.data.format, part, cfg.data.direction)
    batches = make_batches(cfg, ids, train=False)
    if batches is None:
        raise RnnlabError("nothing to evaluate: the data holds no tokens")
    return evaluate(model, batches.epoch(0))


def score_texts(checkpoint: str | Path, texts: list[str]) -> list[dict[str, Any]]:
    """Log-probability (nats) of each text as a whole sequence: for line models
    log p(w1..wn, <eos> | <bos>); for word-level stream models (one `<eos>` per line) the
    sentence after a boundary, log p(w1..wn, <eos> | <eos>); for character streams
    log p(w2..wn | w1). An r2l model scores the reversed text (see `encode_split`), so
    `token_logprobs` lists the tokens in the model's order. Summed over every possible text,
    each of the first two is a proper distribution in either direction."""
    payload = load_checkpoint(checkpoint)
    model, tok = model_from_payload(payload)
    cfg = run_config(payload)
    results = []
    for text in texts:
        ids = encode_line(tok, text, cfg.data.direction)
        if cfg.data.format == "lines":
            batch = make_batches(cfg, [ids], train=False)
            b = next(iter(batch.epoch(0)))  # type: ignore[union-attr]
        elif tok.level == "word":
            b = sentence_batch(ids)
        else:
            if len(ids) < 2:
                raise RnnlabError(
                    f"text {text!r}: a stream model scores tokens after the first; "
                    "give at least two tokens"
                )
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


def sentence_batch(ids: list[int]) -> LMBatch:
    """A sentence of a word-level stream model, after a sentence boundary and up to its end:
    inputs `<eos> w1 .. wn`, targets `w1 .. wn <eos>` (1, n+1)."""
    seq = [EOS_ID, *ids, EOS_ID]
    return LMBatch(torch.tensor([seq[:-1]]), torch.tensor([seq[1:]]), None, True)


def sample_lm(
    model: nn.Module, tok: Tokenizer, cfg: RunConfig, dc: DecodeConfig, num: int,
    prompt: str = "", seed: int = 0,
) -> list[str]:
    """`num` continuations of `prompt` (line models start after <bos>). An r2l model
    continues leftwards: it generates the text before `prompt`, returned in reading order."""
    dc.check()
    r2l = cfg.data.direction == "r2l"
    ids = tok.encode_strict(prompt, "--prompt") if prompt else []
    if r2l:
        ids = ids[::-1]
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
    if r2l:
        return [tok.decode(r[::-1]) + sep + lead for r in rows]
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
