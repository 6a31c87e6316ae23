"""Language modeling (density modelling): p(x_1 .. x_n) factorized left to right (or right to
left), over characters or words; count models (n-gram) and neural ones (window, recurrent).

Data flow: `datasets.load_splits` (strings) -> `tokenizers.encode_split` (ids) ->
`batching.lm_batches` (PaddedBatches for lines, BpttStream for one text stream) -> the model.
Word-level text with explicit split files is tokenized in a streaming pass into an int32
.npy memory map (`train_ids.npy` in the run folder), so the corpus never has to fit in memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from rnnlab.config import flag
from rnnlab.errors import RnnlabError
from rnnlab.options import (
    COUNT_DECODING,
    DATA,
    FILE,
    JSON,
    MOST_LIKELY,
    NUM,
    OUT,
    PROMPT,
    SPLIT,
    STRATEGIES,
    TEXTS,
    Command,
    FileRun,
    Option,
    Options,
    Shown,
    commands,
    decode_config,
    json_lines,
    show_evaluation,
)
from rnnlab.tasks.base import Loaded, Prepared, eval_line
from rnnlab.tasks.lm.config import EXAMPLES as EXAMPLES
from rnnlab.tasks.lm.config import LINES_ONLY, RECURRENT, TEXT_ONLY, WINDOW
from rnnlab.tasks.lm.config import MODEL_ONLY as MODEL_ONLY
from rnnlab.tasks.lm.config import RENAMED as RENAMED
from rnnlab.tasks.lm.config import TRAIN_UNUSED as TRAIN_UNUSED
from rnnlab.tasks.lm.config import DataConfig as DataConfig
from rnnlab.tasks.lm.config import ModelConfig as ModelConfig
from rnnlab.tasks.lm.sentences import (
    encode_sentences,
    fit_texts,
    sentence_stream,
    split_sentences,
)
from rnnlab.tasks.single_run import cv_runs as cv_runs
from rnnlab.tasks.single_run import cv_summary as cv_summary
from rnnlab.tasks.single_run import describe_cv as describe_cv

if TYPE_CHECKING:  # type hints only: no import at run time
    from torch import nn

    from rnnlab.config import RunConfig
    from rnnlab.data.tokenizers import Tokenizer
    from rnnlab.decoding import DecodeConfig

NAME = "lm"
TITLE = "language models"  # as errors name the task
MONITOR = "nll"
MONITORS = (MONITOR,)
EVAL_AT_START = False  # no validation before the first step


def check(cfg: RunConfig, given: set[str] | None) -> None:
    """Combinations; every single value was range-checked by rnnlab.config, and the rules
    every task shares (MODEL_ONLY, --momentum, ...) run in rnnlab.runconfig.validate."""
    d, m, t = cfg.data, cfg.model, cfg.train
    if d.data is None and d.format != "lines":
        raise RnnlabError("the embedded names are one name per line: use --format lines, or "
                          "pass --data FILE")
    if d.val_fraction + d.test_fraction >= 1:
        raise RnnlabError(
            f"--val-fraction {d.val_fraction} + --test-fraction {d.test_fraction} must be < 1 "
            "to leave training data; lower them"
        )
    if m.feedback and (m.model != "rnn" or m.impl != "loop"):
        raise RnnlabError("--feedback is the Elman output-to-hidden loop: use it with --model "
                          "rnn --impl loop")
    if m.tie_weights and m.model in RECURRENT and m.embedding_dim != m.hidden_size:
        raise RnnlabError(
            f"--tie-weights needs --embedding-dim equal to --hidden-size, got "
            f"{m.embedding_dim} and {m.hidden_size}; set both to one value"
        )
    if m.adaptive_softmax and m.model in RECURRENT:
        if m.tie_weights:
            raise RnnlabError("--tie-weights shares the embedding with a V x H output matrix, "
                              "which an adaptive softmax does not have; add --no-tie-weights "
                              "or drop --adaptive-softmax")
        if t.precision == "bf16-head":
            raise RnnlabError("--precision bf16-head is the fused full-softmax output layer; "
                              "with --adaptive-softmax use --precision bf16 (the recurrence "
                              "in bf16, the adaptive softmax in fp32) or fp32")
    if t.fused_loss and m.model not in RECURRENT:
        raise RnnlabError(f"--fused-loss exists for the recurrent models (rnn, gru, lstm), not "
                          f"--model {m.model}; drop --fused-loss")
    if given is None:
        return
    wrong = TEXT_ONLY if d.format == "lines" else LINES_ONLY
    for key in wrong:
        if key in given:
            need = "text" if d.format == "lines" else "lines"
            raise RnnlabError(f"{flag(key.split('.')[1])} applies to --format {need}, not to "
                              f"--format {d.format}; drop it or change --format")


# -- training --------------------------------------------------------------------------------
def streams_from_file(d: DataConfig) -> bool:
    """Word-level text with explicit split files is encoded in a streaming pass."""
    return d.format == "text" and d.level == "word" and d.data is not None and (
        d.val_data is not None)


def encode_part(tok: Tokenizer, cfg: RunConfig, part: list[str] | str
                ) -> list[list[int]] | list[int]:
    """The ids of a split or file to evaluate: `encode_split`, or for a count model on text
    each line a sentence, starting after an `<eos>` (see `sentences`)."""
    from rnnlab.data.tokenizers import encode_split

    d = cfg.data
    if sentence_stream(d.format, cfg.model.model, tok):
        return encode_sentences(tok, str(part), d.direction, start=True)
    return encode_split(tok, d.format, part, d.direction)


def fit_tokenizer(cfg: RunConfig, train: list[str] | str) -> Tokenizer:
    from rnnlab.data.tokenizers import SPECIALS, Tokenizer

    texts = train if isinstance(train, list) else [str(train)]  # a stream is fitted whole
    tok = Tokenizer.fit(texts, cfg.data.level, cfg.data.min_freq, cfg.data.max_vocab)
    if len(tok) <= len(SPECIALS):
        raise RnnlabError("the training split holds no tokens; pass a file with text in it")
    return tok


def split_record(cfg: RunConfig, s: Any) -> dict[str, Any]:
    from rnnlab.data.readers import digest

    d = cfg.data
    return {
        "source": s.source, "format": d.format, "split_seed": d.split_seed,
        "method": "explicit files" if d.val_data or d.test_data else
        ("shuffle with random.Random(split_seed); test first, val next, train rest"
         if d.format == "lines" else "contiguous: train | val | test"),
        "units": "lines" if d.format == "lines" else "characters",
        "sizes": {k: len(getattr(s, k)) for k in ("train", "val", "test")},
        "sha256_16": {k: digest(getattr(s, k)) for k in ("train", "val", "test")},
    }


def prepare(cfg: RunConfig, out: Path, resume: dict[str, Any] | None) -> Prepared:
    """Splits -> tokenizer (the checkpoint's on resume, never refitted) -> batch sources."""
    from rnnlab.data.batching import lm_batches
    from rnnlab.data.readers import load_splits
    from rnnlab.data.tokenizers import (
        Tokenizer,
        encode_file_to_npy,
        encode_split,
        fit_tokenizer_streamed,
    )

    d = cfg.data
    streamed = streams_from_file(d)
    sentences = sentence_stream(d.format, cfg.model.model)  # count models: a line a sentence
    splits = load_splits(d, read_train=not streamed)
    record = split_record(cfg, splits)
    train_ids: Any  # an id list, a list of them (lines), or a memory-mapped stream
    if streamed:
        tok, stats = fit_tokenizer_streamed(d.data, d.min_freq, d.max_vocab)
        if resume is not None:
            tok = Tokenizer.from_dict(resume["tokenizer"])
        out.mkdir(parents=True, exist_ok=True)
        train_ids = encode_file_to_npy(tok, d.data, out / "train_ids.npy", stats.tokens,
                                       d.direction)
        record["sizes"]["train"] = stats.chars
        record["sha256_16"]["train"] = stats.sha256
        record["train_ids"] = "train_ids.npy (int32, memory-mapped)"
    else:
        tok = (Tokenizer.from_dict(resume["tokenizer"]) if resume is not None
               else fit_tokenizer(cfg, fit_texts(str(splits.train)) if sentences
                                  else splits.train))
        train_ids = (encode_sentences(tok, str(splits.train), d.direction) if sentences
                     else encode_split(tok, d.format, splits.train, d.direction))
    val_ids = encode_part(tok, cfg, splits.val)
    test_ids = encode_part(tok, cfg, splits.test)
    auto = apply_text_defaults(cfg, len(train_ids), len(tok)) if resume is None else {}
    counts: Any = (train_ids if d.format == "lines" else  # what a count model counts
                   split_sentences(train_ids) if sentences else [train_ids])
    # a count model's sentences as lines: no --seq-len to fill, train_tokens with each </s>
    train_b = (lm_batches(counts, "lines", cfg.train, train=True) if sentences
               else lm_batches(train_ids, d.format, cfg.train, train=True))
    if train_b is None:
        raise RnnlabError("the training split is empty; pass more data or smaller splits")
    val_b = lm_batches(val_ids, d.format, cfg.train, False, cfg.train.stream_val_batch)
    info = {"vocab_size": len(tok), "train_tokens": train_b.num_tokens(),
            "val_tokens": val_b.num_tokens() if val_b else 0, "source": splits.source,
            "model": cfg.model.model, "auto": auto}
    return Prepared(train_b, val_b, record, {"tokenizer": tok.to_dict()}, info, counts,
                    {"tokenizer": tok, "splits": splits, "val_ids": val_ids,
                     "test_ids": test_ids})


def by_section(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{field: value} -> {"model": {...}, "train": {...}}; KeyError for a name of neither."""
    import dataclasses

    from rnnlab.config import TrainConfig

    model = {f.name for f in dataclasses.fields(ModelConfig)}
    train = {f.name for f in dataclasses.fields(TrainConfig)}
    out: dict[str, dict[str, Any]] = {"model": {}, "train": {}}
    for key, value in values.items():
        if key not in model | train:
            raise KeyError(f"{key!r} is no field of the LM's ModelConfig or TrainConfig")
        out["model" if key in model else "train"][key] = value
    return out


def apply_text_defaults(cfg: RunConfig, train_tokens: int, vocab_size: int) -> dict[str, Any]:
    """With `--defaults auto`, a config built from flags or TOML (`cfg.explicit` known), a
    text stream and a recurrent model: set every field of `lm_defaults.text_defaults` the
    user did not give. Returns what was set (recorded in the run folder's config.json)."""
    from rnnlab.tasks.lm.defaults import text_defaults

    d, t = cfg.data, cfg.train
    if d.defaults != "auto" or cfg.explicit is None or d.format != "text" or (
            cfg.model.model not in RECURRENT):
        return {}
    given = set(cfg.explicit)
    steps = t.max_steps if "train.max_steps" in given else None
    chosen = {}
    rule = text_defaults(train_tokens, vocab_size, d.level, t.max_time or None, steps)
    if cfg.model.adaptive_softmax:  # no V x H output matrix to tie, no fused full softmax
        rule.update(tie_weights=False, fused_loss=True)
    if rule.get("precision") in ("bf16", "bf16-head"):
        from rnnlab.trainer import bf16_lstm_supported, native_bf16

        # emulated bf16 products are several times slower than fp32 (an Elman RNN: 52 steps
        # against 524 in 20 CPU-s on AVX2), and oneDNN's LSTM needs native bf16 to run at all
        if not native_bf16() or (cfg.model.model == "lstm" and not bf16_lstm_supported()):
            rule["precision"] = "fp32"
    for section, values in by_section(rule).items():
        for key, value in values.items():
            if f"{section}.{key}" not in given:
                setattr(getattr(cfg, section), key, value)
                chosen[key] = value
    check(cfg, None)  # the chosen values with the given ones
    return chosen


def model_kwargs(cfg: RunConfig) -> dict[str, Any]:
    m = cfg.model
    if m.model in RECURRENT:
        return dict(embedding_dim=m.embedding_dim, hidden_size=m.hidden_size,
                    num_layers=m.num_layers, dropout=m.dropout, tie_weights=m.tie_weights,
                    impl=m.impl, feedback=m.feedback, init_range=m.init_range)
    if m.model in WINDOW:
        return dict(context=m.context, embedding_dim=m.embedding_dim, hidden_size=m.hidden_size,
                    num_layers=m.num_layers, dropout=m.dropout, direct=m.direct)
    if m.model == "ngram":
        return dict(order=m.order, smoothing=m.smoothing, k=m.k)
    return dict(k=m.k)  # bigram


def build_model(cfg: RunConfig, prepared: Prepared) -> nn.Module:
    from rnnlab.models import build_lm

    V, kw = prepared.info["vocab_size"], model_kwargs(cfg)
    if cfg.model.adaptive_softmax and cfg.model.model in RECURRENT:
        from rnnlab.models.lm import adaptive_cutoffs

        kw["cutoffs"] = adaptive_cutoffs(V)
    return build_lm(cfg.model.model, V, **kw)


def validate(model: nn.Module, batches: Any) -> dict[str, Any]:
    from rnnlab.metrics import evaluate

    return evaluate(model, batches)


def finish(cfg: RunConfig, prepared: Prepared, model: nn.Module, out: Path) -> dict[str, Any]:
    """Final figures on validation and test (streams in --eval-rows rows), with their cost."""
    import time

    from rnnlab.data.batching import lm_batches
    from rnnlab.metrics import evaluate

    result: dict[str, Any] = {"eval_rows": cfg.train.eval_rows, "eval_seconds": 0.0}
    for split in ("val", "test"):
        t0 = time.perf_counter()
        b = lm_batches(prepared.extra[f"{split}_ids"], cfg.data.format, cfg.train, False,
                       cfg.train.eval_rows)
        result[split] = evaluate(model, b.epoch(0)) if b else None
        result["eval_seconds"] += time.perf_counter() - t0
    return result


# -- using a trained model -------------------------------------------------------------------
def tokenizer(loaded: Loaded) -> Tokenizer:
    from rnnlab.data.tokenizers import Tokenizer

    return Tokenizer.from_dict(loaded.payload["tokenizer"])


def evaluate(loaded: Loaded, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """{"nll", "ppl", "bpc", "tokens"} of a run on a file (`data`, in `format`), or on its
    own run's `split`; a stream in `eval_rows` parallel rows (default: the run's
    --eval-rows); "unknown": tokens of the file outside the vocabulary, when there are any."""
    from rnnlab.data.batching import lm_batches
    from rnnlab.data.readers import load_splits, read_part
    from rnnlab.metrics import evaluate as evaluate_batches

    o = COMMANDS["evaluate"].bind(options)
    data, split, rows = o.data, o.split, o.eval_rows
    cfg = loaded.cfg
    if data is None and "arpa" in loaded.payload:
        raise RnnlabError(f"{loaded.payload['arpa']!r} is an ARPA file: it has no data splits "
                          "of its own (no --split); give --data FILE to evaluate on")
    if rows is not None and cfg.data.format != "text":
        raise RnnlabError(f"--eval-rows applies to runs trained on a text stream; this run "
                          f"reads --format {cfg.data.format}: drop it")
    if data is None and o.format is not None:
        raise RnnlabError("--format is the format of --data: give --data FILE, or drop it")
    if data is not None:
        cfg.data.format = o.format or cfg.data.format
        part = read_part(data, cfg.data.format, "--data")
    else:
        # a streamed training file may exceed memory: leave it unread
        part = getattr(load_splits(cfg.data, read_train=not streams_from_file(cfg.data)), split)
    tok = tokenizer(loaded)
    ids = encode_part(tok, cfg, part)
    batches = lm_batches(ids, cfg.data.format, cfg.train, False,
                         cfg.train.eval_rows if rows is None else rows)
    if batches is None:
        raise RnnlabError("nothing to evaluate: the data holds no tokens")
    from rnnlab.data.tokenizers import UNK_ID

    unknown = 0
    if data is not None:  # only a user's file can hold tokens outside the vocabulary
        import numpy as np

        flat = np.concatenate([np.asarray(x, np.int64) for x in ids]
                              or [np.zeros(0, np.int64)]) \
            if cfg.data.format == "lines" else np.asarray(ids)
        unknown = int((flat == UNK_ID).sum())
    if data is not None and unknown and not unk_allowed(cfg):
        raise RnnlabError(
            f"--data {data!r} holds {unknown} {tok.level}(s) outside the model's vocabulary; "
            f"a {tok.level}-level model trained without <unk> cannot score them: remove them, "
            "or train with --min-freq 2 so the vocabulary has <unk>"
        )
    m = evaluate_batches(loaded.model, batches.epoch(0))
    if data is not None and unknown:
        m["unknown"] = unknown  # scored as <unk>; only present when there are any
    return m


def score(loaded: Loaded, texts: list[str]) -> list[dict[str, Any]]:
    """Log-probability (nats) of each text as a whole sequence: for line models
    log p(w1..wn, <eos> | <bos>); for word-level stream models (one `<eos>` per line) the
    sentence after a boundary, log p(w1..wn, <eos> | <eos>); for character streams
    log p(w2..wn | w1). An r2l model scores the reversed text (see `encode_split`), so
    `token_logprobs` lists the tokens in the model's order. Summed over every possible text,
    each of the first two is a proper distribution in either direction."""
    import torch

    from rnnlab.data.batching import pad_batch
    from rnnlab.data.tokenizers import EOS_ID, encode_line
    from rnnlab.losses import token_log_probs
    from rnnlab.models.base import LMBatch

    tok, cfg, model = tokenizer(loaded), loaded.cfg, loaded.model
    results = []
    for text in texts:
        encode_user(tok, cfg, text, "the text to score")  # refuses unseen characters
        ids = encode_line(tok, text, cfg.data.direction)
        if cfg.data.format == "lines":
            b = pad_batch([ids])
        elif tok.level == "word" or sentence_stream(cfg.data.format, cfg.model.model, tok):
            # after a sentence boundary, up to the sentence's end
            seq = [EOS_ID, *ids, EOS_ID]
            b = LMBatch(torch.tensor([seq[:-1]]), torch.tensor([seq[1:]]), None, True)
        else:
            if len(ids) < 2:
                raise RnnlabError(
                    f"text {text!r}: a stream model scores tokens after the first; "
                    "give at least two tokens"
                )
            b = LMBatch(torch.tensor([ids[:-1]]), torch.tensor([ids[1:]]), None, True)
        with torch.no_grad():  # scored without (T, V) logits where the model can: long texts
            lp = (model.target_log_probs(b)[0][0] if hasattr(model, "target_log_probs")
                  else token_log_probs(model(b).logits, b.targets)[0])  # (T,)
        n = int((b.targets[0] >= 0).sum())
        toks = tok.vocab.decode(b.targets[0, :n].tolist())
        logp = lp[:n].tolist()
        results.append({"text": text, "logprob": float(sum(logp)), "tokens": n,
                        "nll_per_token": -float(sum(logp)) / max(n, 1),
                        "token_logprobs": list(zip(toks, logp, strict=True)),
                        "unknown": tok.vocab.unknown(tok.split(text))})
    return results


def unk_allowed(cfg: RunConfig) -> bool:
    """Whether text a user gives may hold tokens outside the vocabulary (read as `<unk>`):
    always at word level, where unseen words are normal; at character level only when the
    vocabulary was cut by choice (--min-freq, --max-vocab), so `<unk>` was trained."""
    from rnnlab.data.tokenizers import unk_untrained

    return not unk_untrained(cfg.data)


def encode_user(tok: Tokenizer, cfg: RunConfig, text: str, what: str) -> list[int]:
    """Ids of text a user gave (a prompt, a text to score), `<unk>` for unseen tokens where
    `unk_allowed`, else a clear error naming them."""
    return tok.encode(text) if unk_allowed(cfg) else tok.encode_strict(text, what)


def unknown_note(tok: Tokenizer, cfg: RunConfig, texts: list[str], what: str) -> str | None:
    """One line saying how many tokens of `texts` are outside the vocabulary, or None; an
    error instead where they are not allowed."""
    unknown, total = 0, 0
    for text in texts:
        toks = tok.split(text)
        missing = set(tok.vocab.unknown(toks))
        if missing and not unk_allowed(cfg):
            tok.encode_strict(text, what)  # raises, naming the tokens
        unknown += sum(t in missing for t in toks)
        total += len(toks)
    if not unknown:
        return None
    return (f"note: {unknown} of {total} {tok.level}s of {what} are outside the model's "
            f"vocabulary and were read as <unk>")


def generate(
    model: nn.Module, tok: Tokenizer, cfg: RunConfig, dc: DecodeConfig, num: int,
    prompt: str = "", seed: int = 0,
) -> list[str]:
    """`num` continuations of `prompt` (line models start after <bos>). An r2l model
    continues leftwards: it generates the text before `prompt`, returned in reading order."""
    import dataclasses

    import torch

    from rnnlab.data.tokenizers import BOS_ID, EOS_ID
    from rnnlab.decoding import generate as decode

    dc.check()
    dc = dataclasses.replace(dc, block_unk=dc.block_unk or not unk_allowed(cfg))
    r2l = cfg.data.direction == "r2l"
    ids = encode_user(tok, cfg, prompt, "--prompt") if prompt else []
    if r2l:
        ids = ids[::-1]
    if cfg.data.format == "lines":
        ids = [BOS_ID, *ids]
    elif sentence_stream(cfg.data.format, cfg.model.model, tok):
        ids = [EOS_ID, *ids]  # a count model's line starts after a sentence boundary
    elif not ids:
        raise RnnlabError(
            "this model was trained on a text stream and has no start token: give a --prompt"
        )
    g = torch.Generator().manual_seed(seed)
    if dc.strategy == "beam_search":
        num = 1  # one best hypothesis: repeating a deterministic search adds nothing
    rows = decode(model, [ids] * num, dc, g)
    sep = " " if tok.level == "word" and prompt else ""
    if r2l:
        return [tok.decode(r[::-1]) + sep + prompt for r in rows]
    return [prompt + sep + tok.decode(r) for r in rows]


def samples_after_training(
    cfg: RunConfig, prepared: Prepared, model: nn.Module, n: int
) -> tuple[list[str], str]:
    """What `rnnlab train` shows at its end: `n` samples marked new / in training set (lines),
    or one continuation of the validation text's first words (stream); and samples.txt."""
    from rnnlab.data.readers import text_lines
    from rnnlab.decoding import DecodeConfig

    tok, splits = prepared.extra["tokenizer"], prepared.extra["splits"]
    lines = cfg.data.format == "lines"
    dc = DecodeConfig(strategy="sample", max_new_tokens=60 if lines else 300)
    if lines:
        seen = set(splits.train)
        names = generate(model, tok, cfg, dc, n, seed=cfg.train.seed)
        shown = [f"{n} samples:"] + [
            f"  {s:<24} {'in training set' if s in seen else 'new'}" for s in names]
        return shown, "\n".join(names) + "\n"
    val = str(splits.val or splits.train)
    if sentence_stream(cfg.data.format, cfg.model.model, tok):  # no newline token: one line
        val = next((line for line in text_lines(val) if line.strip()), "")
    prompt = tok.splitter.join(tok.split(val)[:20])
    text = generate(model, tok, cfg, dc, 1, prompt, cfg.train.seed)[0]
    return ["sample:", text], text + "\n"


def most_likely(loaded: Loaded, prompt: str, length: int) -> dict[str, Any]:
    """The `length` tokens after `prompt` of highest joint probability under an n-gram run,
    exactly (`NGramLM.most_likely_continuation`, Viterbi over its states): {"text", "tokens",
    "logprob" (natural log of the `length` tokens given the prompt)}. An `<eos>` inside ends
    a sentence and the next starts there; the text shows it as <eos>. An r2l model continues
    leftwards; text and tokens are in reading order."""
    model, cfg = loaded.model, loaded.cfg
    if not hasattr(model, "most_likely_continuation"):
        raise RnnlabError(
            f"--strategy {MOST_LIKELY} is the exact search over an n-gram model's states; this "
            f"run's --model {cfg.model.model} takes --strategy {', '.join(STRATEGIES[:-1])} or "
            f"{STRATEGIES[-1]} ({MOST_LIKELY}: --model ngram or bigram runs, or FILE.arpa)")
    tok = tokenizer(loaded)
    ids = encode_user(tok, cfg, prompt, "--prompt") if prompt else []
    r2l = cfg.data.direction == "r2l"
    if not ids and cfg.data.format != "lines" and not sentence_stream(
            cfg.data.format, cfg.model.model, tok):
        raise RnnlabError(
            "this model was trained on a text stream and has no start token: give a --prompt")
    # the model's context starts after <bos>, as a line (or a sentence after <eos>) does
    found, logprob = model.most_likely_continuation(ids[::-1] if r2l else ids, length)
    found = found[::-1] if r2l else found
    shown = tok.decode(found, strip_specials=False)
    sep = " " if tok.level == "word" and prompt and found else ""
    text = shown + sep + prompt if r2l else prompt + sep + shown
    return {"text": text, "tokens": tok.vocab.decode(found), "logprob": float(logprob)}


def _most_likely_note(r: dict[str, Any]) -> str:
    return (f"log p = {r['logprob']:.6f} nats over {len(r['tokens'])} tokens (exact: Viterbi "
            "over the n-gram's states)")


def generate_texts(loaded: Loaded, options: Mapping[str, Any] | None = None
                   ) -> dict[str, Any]:
    """`rnnlab generate`: {"texts": `num` continuations of `prompt` (one with greedy,
    beam_search or most_likely), "rows": [{"text", ...}], "notes": [...]}; with most_likely
    each row has its "tokens" and "logprob" too."""
    o = COMMANDS["generate"].bind(options)
    tok = tokenizer(loaded)
    note = unknown_note(tok, loaded.cfg, [o.prompt], "--prompt")
    notes = [note] if note else []
    if o.strategy == MOST_LIKELY:
        r = most_likely(loaded, o.prompt, o.max_new_tokens)
        return {"texts": [r["text"]], "rows": [r], "notes": [*notes, _most_likely_note(r)]}
    num = o.num if o.strategy == "sample" else 1
    texts = generate(loaded.model, tok, loaded.cfg, decode_config(o), num, o.prompt, o.seed)
    return {"texts": texts, "rows": [{"text": t} for t in texts], "notes": notes}


def describe_samples(result: dict[str, Any], options: Options) -> Shown:
    lines = json_lines(result["rows"]) if options.get("json") else list(result["texts"])
    return Shown(lines, result["notes"])


def predict(loaded: Loaded, inputs: list[str], options: Mapping[str, Any] | None = None
            ) -> dict[str, Any]:
    """One continuation of each input (of an empty line without inputs): {"rows": [{"input",
    "output"}], "notes": [...]}."""
    o = COMMANDS["predict"].bind(options)
    tok = tokenizer(loaded)
    prompts = list(inputs) or [""]
    note = unknown_note(tok, loaded.cfg, prompts, "the inputs")
    rows: list[dict[str, Any]]
    if o.strategy == MOST_LIKELY:
        found = [most_likely(loaded, p, o.max_new_tokens) for p in prompts]
        rows = [{"input": p, "output": r["text"], "tokens": r["tokens"],
                 "logprob": r["logprob"]} for p, r in zip(prompts, found, strict=True)]
    else:
        dc = decode_config(o)
        rows = [{"input": p, "output": generate(loaded.model, tok, loaded.cfg, dc, 1, p,
                                                o.seed)[0]} for p in prompts]
    return {"rows": rows, "notes": [note] if note else []}


def describe_predictions(result: dict[str, Any], options: Options) -> Shown:
    rows = result["rows"]
    lines = json_lines(rows) if options.json else [r["output"] for r in rows]
    return Shown(lines, result["notes"])


def score_texts(loaded: Loaded, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`rnnlab score`: `score` of the given texts and of every line of `file`."""
    from rnnlab.data.readers import read_lines

    o = COMMANDS["score"].bind(options)
    texts = list(o.texts) + (read_lines(o.file, "--file") if o.file else [])
    if not texts:
        raise RnnlabError("nothing to score: give TEXT arguments or --file PATH")
    note = unknown_note(tokenizer(loaded), loaded.cfg, texts, "the texts")
    return {"rows": score(loaded, texts), "notes": [note] if note else []}


def describe_scores(result: dict[str, Any], options: Options) -> Shown:
    rows = result["rows"]
    lines = json_lines(rows) if options.json else [
        f"{r['logprob']:.4f}\t{r['tokens']}\t{r['nll_per_token']:.4f}\t{r['text']}"
        for r in rows]
    return Shown(lines, result["notes"])


def diagnose(loaded: Loaded, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Gradient-flow diagnostics of a recurrent LM on `batch_size` chunks of `seq_len` tokens
    of its own `split` (or of `data`): writes gradient_flow.json and .png into `out`."""
    from rnnlab.data.readers import load_splits, read_part
    from rnnlab.data.tokenizers import BOS_ID, EOS_ID, encode_split
    from rnnlab.diagnostics import diagnose_stream

    o = COMMANDS["diagnose"].bind(options)
    out_dir, seq_len, batch_size, data, split = o.out, o.seq_len, o.batch_size, o.data, o.split
    cfg = loaded.cfg
    part = (read_part(data, cfg.data.format, "--data") if data is not None
            else getattr(load_splits(cfg.data), split))
    encoded = encode_split(tokenizer(loaded), cfg.data.format, part)
    ids: list[int]
    if cfg.data.format == "lines":  # one stream of whole lines: <bos> w1 .. wn <eos> <bos> ...
        ids = [t for line in cast("list[list[int]]", encoded) for t in (BOS_ID, *line, EOS_ID)]
    else:
        ids = cast("list[int]", encoded)
    return diagnose_stream(loaded.model, ids, out_dir, seq_len, batch_size, str(loaded.path))


# -- what the CLI prints ---------------------------------------------------------------------
def fmt_metrics(m: dict[str, Any] | None) -> str:
    if not m:
        return "n/a"
    return f"nll {m['nll']:.4f} nats/token  ppl {m['ppl']:.3f}  bits {m['bpc']:.4f}  " \
           f"({m['tokens']} tokens)"


def describe_evaluation(m: dict[str, Any]) -> list[str]:
    return [fmt_metrics(m)]


def _evaluation_notes(m: dict[str, Any]) -> list[str]:
    if not m.get("unknown"):
        return []
    return [f"note: {m['unknown']} tokens of --data are outside the model's vocabulary and "
            "were scored as <unk>"]


def describe_diagnosis(d: dict[str, Any], options: Options) -> Shown:
    r, lines = d["result"], []
    for k, norms in enumerate(r["hidden_grad_norm"]):
        first, last = norms[0], norms[-1]
        ratio = first / last if last > 0 else float("inf")
        lines.append(f"layer/direction {k}: ||dL_T/dh_1|| = {first:.3e}, ||dL_T/dh_T|| = "
                     f"{last:.3e} (ratio {ratio:.2e} over {len(norms)} steps)")
    for k, blocks in enumerate(r["spectral"]):
        radii = ", ".join(f"{name} {v['radius']:.3f}" for name, v in blocks.items())
        lines.append(f"spectral radius, layer/direction {k}: {radii}")
    lines.append(f"wrote {d['paths']['json']} and {d['paths']['png']}")
    return Shown(lines)


def describe_ready(info: dict[str, Any], out: Path) -> list[str]:
    lines = [f"data: {info['source']}  ({info['train_tokens']} training tokens, "
             f"{info['val_tokens']} validation tokens, vocabulary {info['vocab_size']})",
             f"model: {info['model']}  ({info['params']:,} parameters)  run folder: {out}"]
    if info.get("auto"):
        lines.append("defaults for this text and budget (--defaults fixed to keep the "
                     "documented ones): " + ", ".join(f"{flag(k)} {v}" for k, v in
                                                      info["auto"].items()))
    return lines


def describe_progress(e: dict[str, Any]) -> str:
    return eval_line(e)


def describe(final: dict[str, Any]) -> list[str]:
    rows = final.get("eval_rows", 1)
    how = "exact, one row" if rows == 1 else f"{rows} rows"
    return [f"validation: {fmt_metrics(final.get('val'))}",
            f"test:       {fmt_metrics(final.get('test'))}",
            f"final evaluation: {final.get('eval_seconds', 0.0):.1f} s ({how})"]


def default_out_name(cfg: RunConfig) -> str:
    stem = Path(cfg.data.data).stem if cfg.data.data else "spanish-names"
    return f"{stem}-{cfg.model.model}"


# -- the subcommands of a trained run, with their options ------------------------------------
COMMANDS = commands(
    Command("evaluate", "nll, perplexity and bits per token", (
        DATA.but(help="a text file to evaluate instead of the run's own --split"),
        Option("format", "how --data is read: text (one stream) or lines (one example a "
               "line)", str, choices=("text", "lines"), default_text="the run's format"),
        SPLIT,
        Option("eval_rows", "runs on a text stream: rows evaluated in parallel (1: exact, "
               "every token sees its whole history)", int, ge=1, le=1 << 20,
               default_text="the run's --eval-rows"),
        JSON.but(help='print JSON {"nll", "ppl", "bpc", "tokens"}')),
        evaluate, show_evaluation(describe_evaluation, _evaluation_notes)),
    Command("generate", "continue --prompt", (
        PROMPT, NUM, *COUNT_DECODING,
        JSON.but(help='one JSON object {"text"} per text; with --strategy most_likely also '
                 '"tokens" and "logprob"')),
            generate_texts, describe_samples),
    Command("score", "log-probability of each text", (
        TEXTS.but(name="texts", help="texts to score", metavar="TEXT"),
        FILE.but(help="also score every line of this file"),
        JSON.but(help="one JSON object per text, with each token's log-probability")),
        score_texts, describe_scores),
    Command("predict", "continue each INPUT (once, an empty line without inputs)", (
        TEXTS.but(help="prompts to continue"), *COUNT_DECODING,
        JSON.but(help='one JSON object {"input", "output"} per input (most_likely: with '
                 '"tokens", "logprob")')),
        lambda loaded, o: predict(loaded, o.inputs, o), describe_predictions),
    Command("diagnose", "gradient flow over time, saturation, spectral radius", (
        OUT.but(help="folder for gradient_flow.json and .png", required=True),
        DATA.but(help="a text file to draw the batch from instead of the run's --split"),
        SPLIT.but(default="val"),
        Option("seq_len", "steps T of backpropagation through time", int, 100, ge=2,
               le=1 << 20),
        Option("batch_size", "sequences of --seq-len tokens", int, 16, ge=1, le=1 << 16)),
        diagnose, describe_diagnosis),
)


def open_arpa(path: str) -> Loaded:
    from rnnlab.tasks.lm.arpa_run import load_arpa

    return load_arpa(path, NAME)


# files the command line opens in place of a run folder (rnnlab/cli/use.py asks every task)
OPENS = (FileRun(".arpa", "an ARPA n-gram file", ("evaluate", "generate", "score", "predict"),
                 open_arpa),)
