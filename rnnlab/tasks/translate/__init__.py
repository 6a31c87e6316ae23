"""Translation (the notes' unaligned sequence-to-sequence, many-to-many): a target sentence
from a source sentence, p(y_1..y_n | x) = prod_t p(y_t | y_<t, x), by an encoder-decoder
with or without attention.

Data flow: `datasets.read_pairs` (SOURCE<TAB>TARGET lines, normalized; extra columns
ignored) -> length filter (--max-len tokens per side) -> `datasets.grouped_split` (every
source sentence in one part with all its translations) -> one `Tokenizer("punct")` per side
fitted on the training part (words and punctuation, marked so detokenization is exact; or
SentencePiece pieces with --subword, `subword.py`) ->
`batching.PairBatches` (length-bucketed) -> `models.seq2seq.Seq2Seq`. Training monitors the
validation NLL per target token; BLEU and chrF (sacrebleu, on detokenized hypotheses against
the normalized references) are computed after training and by `rnnlab evaluate`, decoding
with `decoding.py` (greedy, sampling, batched beam search); see tasks/translate_eval.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnnlab.config import flag
from rnnlab.errors import RnnlabError
from rnnlab.options import (
    DATA,
    DECODING,
    FILE,
    JSON,
    OUT,
    PAIRS_FORMAT,
    SPLIT,
    TEXTS,
    Command,
    Option,
    Options,
    Shown,
    commands,
    json_lines,
    show_evaluation,
)
from rnnlab.tasks.base import Loaded, Prepared, eval_line
from rnnlab.tasks.single_run import cv_runs as cv_runs
from rnnlab.tasks.single_run import cv_summary as cv_summary
from rnnlab.tasks.single_run import describe_cv as describe_cv
from rnnlab.tasks.single_run import samples_after_training as samples_after_training
from rnnlab.tasks.translate.config import EXAMPLES as EXAMPLES
from rnnlab.tasks.translate.config import MODEL_ONLY as MODEL_ONLY
from rnnlab.tasks.translate.config import RENAMED as RENAMED
from rnnlab.tasks.translate.config import TRAIN_UNUSED as TRAIN_UNUSED
from rnnlab.tasks.translate.config import DataConfig as DataConfig
from rnnlab.tasks.translate.config import ModelConfig as ModelConfig
from rnnlab.tasks.translate.evaluation import LENGTH_PENALTY, decode, encode_source, score_part

if TYPE_CHECKING:  # type hints only: no import at run time
    from torch import nn

    from rnnlab.config import RunConfig

NAME = "translate"
TITLE = "translation"
MONITOR = "nll"
MONITORS = (MONITOR,)
EVAL_AT_START = False  # no validation before the first step


def check(cfg: RunConfig, given: set[str] | None) -> None:
    d, m = cfg.data, cfg.model
    if d.data is None:
        raise RnnlabError("--task translate needs --data: a file of SOURCE<TAB>TARGET lines, "
                          "e.g. --data tatoeba_eng_fra (a dataset of `rnnlab data list`)")
    if d.source_column == d.target_column:
        raise RnnlabError(f"--source-column and --target-column are both {d.source_column}; "
                          "choose two columns")
    if d.val_fraction + d.test_fraction >= 1:
        raise RnnlabError(f"--val-fraction {d.val_fraction} + --test-fraction "
                          f"{d.test_fraction} must be < 1 to leave training data; lower them")
    if given and d.subword == "none" and "data.subword_vocab" in given and (
            d.defaults == "fixed" or "data.subword" in given):
        raise RnnlabError("--subword-vocab sets the pieces of --subword bpe or unigram; add "
                          "--subword bpe (or drop --subword-vocab)")
    if m.bidirectional and m.hidden_size % 2:
        raise RnnlabError(f"--bidirectional gives each direction --hidden-size / 2 units: "
                          f"--hidden-size must be even, got {m.hidden_size}")
    if m.tie_weights and m.embedding_dim != m.hidden_size:
        raise RnnlabError(f"--tie-weights needs --embedding-dim equal to --hidden-size "
                          f"({m.embedding_dim} vs {m.hidden_size})")
    if given and m.attention == "none" and "model.input_feeding" in given and m.input_feeding:
        raise RnnlabError("--input-feeding feeds the attentional vector: it needs --attention "
                          "additive or multiplicative")


# -- data ------------------------------------------------------------------------------------
def columns(d: Any) -> tuple[int, int]:
    """(source column, target column), --swap-columns applied."""
    return ((d.target_column, d.source_column) if d.swap_columns
            else (d.source_column, d.target_column))


def read(d: Any, path: str, what: str) -> list[tuple[str, str]]:
    from rnnlab.data.readers import read_pairs

    s, t = columns(d)
    return read_pairs(path, s, t, what, d.lowercase)


def splits(d: Any) -> tuple[dict[str, list[tuple[str, str]]], dict[str, Any]]:
    """The train/val/test pairs and split.json's record of how they were made."""
    from rnnlab.data.readers import grouped_split, pairs_digest, source_key
    from rnnlab.data.tokenizers import PunctTokenizer

    pairs = read(d, d.data, "--data")
    split = PunctTokenizer.split
    kept = [p for p in pairs if len(split(p[0])) <= d.max_len and len(split(p[1])) <= d.max_len]
    if not kept:
        raise RnnlabError(f"--max-len {d.max_len}: every pair of --data is longer; raise it")
    if d.val_data or d.test_data:
        parts = {"train": kept,
                 "val": read(d, d.val_data, "--val-data") if d.val_data else [],
                 "test": read(d, d.test_data, "--test-data") if d.test_data else []}
        method = "explicit files"
    else:
        train, val, test = grouped_split(kept, d.split_seed, d.val_fraction, d.test_fraction)
        parts = {"train": train, "val": val, "test": test}
        method = ("grouped by source sentence (normalized, case-folded): the distinct sources "
                  "sorted, shuffled with random.Random(split_seed), cut test | val | train")
    keys = {k: {source_key(s) for s, _ in v} for k, v in parts.items()}
    record = {"source": d.data, "columns": list(columns(d)), "reverse": d.swap_columns,
              "method": method, "split_seed": d.split_seed,
              "pairs_read": len(pairs), "dropped_by_max_len": len(pairs) - len(kept),
              "max_len": d.max_len,
              "sizes": {k: len(v) for k, v in parts.items()},
              "distinct_sources": {k: len(v) for k, v in keys.items()},
              "sources_in_two_parts": len((keys["train"] & keys["val"])
                                          | (keys["train"] & keys["test"])
                                          | (keys["val"] & keys["test"])),
              "digests": {k: pairs_digest(v) for k, v in parts.items()}}
    return parts, record


def tokenizers(d: Any, parts: dict[str, list[tuple[str, str]]], resume: dict[str, Any] | None
               ) -> tuple[Any, Any]:
    """(source, target) tokenizers of the training part; a resumed run keeps its own."""
    from rnnlab.data.tokenizers import Tokenizer

    if resume is not None:
        return (Tokenizer.from_dict(resume["src_tokenizer"]),
                Tokenizer.from_dict(resume["tgt_tokenizer"]))
    train = parts["train"]
    if d.subword != "none":
        return (Tokenizer.fit_subword([s for s, _ in train], d.subword, d.subword_vocab),
                Tokenizer.fit_subword([t for _, t in train], d.subword, d.subword_vocab))
    return (Tokenizer.fit([s for s, _ in train], "punct", d.min_freq, d.max_vocab),
            Tokenizer.fit([t for _, t in train], "punct", d.min_freq, d.max_vocab))


def apply_defaults(cfg: RunConfig, train: list[tuple[str, str]]) -> dict[str, Any]:
    """With `--defaults auto` and a config built from flags or TOML (`cfg.explicit` known):
    set the recipe of `defaults.py` on every field the user did not give, the pieces per
    side sized to the training part. Returns what was set (config.json records the values)."""
    from rnnlab.tasks.translate.defaults import recipe, subword_pieces
    from rnnlab.trainer import native_bf16

    if cfg.data.defaults != "auto" or cfg.explicit is None:
        return {}
    given = set(cfg.explicit)
    chosen: dict[str, Any] = {}
    for section, values in recipe(given).items():
        for key, value in values.items():
            setattr(getattr(cfg, section), key, value)
            chosen[key] = value
    if chosen.get("precision") == "bf16-head" and not native_bf16():
        chosen["precision"] = cfg.train.precision = "fp32"  # emulated bf16: 12x slower
    if cfg.data.subword != "none" and "data.subword_vocab" not in given:
        chosen["subword_vocab"] = cfg.data.subword_vocab = max(
            subword_pieces(s for s, _ in train), subword_pieces(t for _, t in train))
    check(cfg, None)  # the chosen values with the given ones
    return chosen


def batches(pairs: list[tuple[str, str]], src_tok: Any, tgt_tok: Any, batch_size: int,
            shuffle: bool = False, seed: int = 0) -> Any:
    from rnnlab.data.batching import PairBatches

    if not pairs:
        return None
    return PairBatches([encode_source(src_tok, s) for s, _ in pairs],
                       [tgt_tok.encode(t) for _, t in pairs], batch_size, shuffle, seed)


# -- training --------------------------------------------------------------------------------
def prepare(cfg: RunConfig, out: Path, resume: dict[str, Any] | None) -> Prepared:
    d, tc = cfg.data, cfg.train
    parts, record = splits(d)
    auto = apply_defaults(cfg, parts["train"]) if resume is None else {}
    src_tok, tgt_tok = tokenizers(d, parts, resume)
    train = batches(parts["train"], src_tok, tgt_tok, tc.batch_size, True, tc.seed)
    info = {"source": d.data, "sizes": record["sizes"], "dropped": record["dropped_by_max_len"],
            "distinct_sources": record["distinct_sources"], "src_vocab": len(src_tok),
            "tgt_vocab": len(tgt_tok), "model": cfg.model.model,
            "attention": cfg.model.attention, "train_tokens": train.num_tokens(),
            "auto": auto}
    return Prepared(train, batches(parts["val"], src_tok, tgt_tok, tc.eval_batch_size), record,
                    {"src_tokenizer": src_tok.to_dict(), "tgt_tokenizer": tgt_tok.to_dict()},
                    info, extra={"parts": parts, "src_tokenizer": src_tok,
                                 "tgt_tokenizer": tgt_tok})


def build_model(cfg: RunConfig, prepared: Prepared) -> nn.Module:
    from rnnlab.models.seq2seq import Seq2Seq

    m = cfg.model
    return Seq2Seq(
        src_vocab_size=prepared.info["src_vocab"], tgt_vocab_size=prepared.info["tgt_vocab"],
        cell=m.model, embedding_dim=m.embedding_dim, hidden_size=m.hidden_size,
        num_layers=m.num_layers, bidirectional=m.bidirectional, attention=m.attention,
        input_feeding=m.input_feeding and m.attention != "none", dropout=m.dropout,
        scheduled_sampling=m.scheduled_sampling, tie_embeddings=m.tie_weights,
        label_smoothing=m.label_smoothing)


def validate(model: nn.Module, batches: Any) -> dict[str, Any]:
    """NLL per target token (each <eos> included) of the validation pairs, teacher forced."""
    from rnnlab.metrics import evaluate

    return evaluate(model, batches)


def finish(cfg: RunConfig, prepared: Prepared, model: nn.Module, out: Path) -> dict[str, Any]:
    """Validation NLL; test BLEU and chrF greedy and with a beam of --final-beams, each with
    its BLEU by source length and its time per sentence; the test translations
    (test_translations.tsv)."""
    from rnnlab.metrics import evaluate

    result: dict[str, Any] = {}
    if prepared.val is not None:
        result["val"] = evaluate(model, prepared.val.epoch(0))
    test = prepared.extra["parts"]["test"]
    if test:
        tb = batches(test, prepared.extra["src_tokenizer"], prepared.extra["tgt_tokenizer"],
                     cfg.train.eval_batch_size)
        result["test_nll"] = evaluate(model, tb.epoch(0))
        toks = (prepared.extra["src_tokenizer"], prepared.extra["tgt_tokenizer"])
        columns_out: dict[str, list[str]] = {}
        greedy, columns_out["greedy"] = score_part(model, toks, test, "greedy", 1, buckets=True)
        result["test_greedy"] = greedy
        per = "cpu_seconds_per_sentence" if cfg.train.clock == "cpu" else "seconds_per_sentence"
        k = cfg.model.final_beams
        skip = k and beam_over_budget(cfg, greedy[per] * greedy["decoded_sentences"])
        if skip:
            result["notes"] = [skip]
        elif k:
            result[f"test_beam{k}"], columns_out[f"beam{k}"] = score_part(
                model, toks, test, "beam_search", k, buckets=True)
        lines = ["source\treference\t" + "\t".join(columns_out)]
        lines += ["\t".join([s, t, *(h[i] for h in columns_out.values())])
                  for i, (s, t) in enumerate(test)]
        (out / "test_translations.tsv").write_text("\n".join(lines) + "\n")
    return result


BEAM_SHARE = 0.25  # of --max-time, at most, for the test BLEU with a beam after training
BEAM_COST = 4.0  # beam 5 / greedy time on a test part (14.8 / 4.0 ms a sentence, eng-fra)


def beam_over_budget(cfg: RunConfig, greedy_seconds: float) -> str | None:
    """A note when the test BLEU with --final-beams K would take more than BEAM_SHARE of a
    --max-time budget that the user did not pair with an explicit --final-beams (estimated as
    BEAM_COST * K / 5 times the greedy pass): an 8-second budget ran 3 minutes of beams."""
    k, max_time = cfg.model.final_beams, cfg.train.max_time
    if not max_time or "model.final_beams" in set(cfg.explicit or ()):
        return None
    estimate = greedy_seconds * BEAM_COST * k / 5
    if estimate <= BEAM_SHARE * max_time:
        return None
    return (f"note: no test BLEU with beam {k}: it would take about {estimate:.0f} s, over "
            f"{BEAM_SHARE:.0%} of --max-time {max_time:g}; give --final-beams {k} to have it, "
            f"or run `rnnlab evaluate RUN --strategy beam_search --num-beams {k}`")


# -- using a trained model -------------------------------------------------------------------
def tokenizers_of(loaded: Loaded) -> tuple[Any, Any]:
    from rnnlab.data.tokenizers import Tokenizer

    return (Tokenizer.from_dict(loaded.payload["src_tokenizer"]),
            Tokenizer.from_dict(loaded.payload["tgt_tokenizer"]))


def default_cap(cfg: RunConfig) -> int:
    """The most tokens a translation emits unless --max-new-tokens says otherwise: 2 L + 10
    for the run's --max-len L (no training target was longer than L)."""
    max_len: int = cfg.data.max_len
    return 2 * max_len + 10


def evaluate(loaded: Loaded, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """{"bleu", "chrf", "sentences", "signature", "chrf_signature", "strategy", "num_beams",
    "seconds_per_sentence", "sentences_per_second", "buckets"} of a pairs file `data` (the
    run's columns) or the run's own `split`, decoding with `strategy`; `limit`: N pairs
    spread evenly over the part."""
    o = COMMANDS["evaluate"].bind(options)
    data, split, limit = o.data, o.split, o.limit
    cfg = loaded.cfg
    if data is None and o.format is not None:
        raise RnnlabError("--format is the format of --data: give --data FILE, or drop it")
    if data is not None:  # format pairs, the only one a translation run reads
        pairs = read(cfg.data, data, "--data")
    else:
        pairs = splits(cfg.data)[0][split]
    if limit is not None:  # evenly spaced: Tatoeba's lines are sorted by length
        pairs = [pairs[i * len(pairs) // limit] for i in range(min(limit, len(pairs)))]
    if not pairs:
        raise RnnlabError(f"nothing to evaluate: the {split if data is None else 'file'} holds "
                          "no pairs")
    m, _ = score_part(loaded.model, tokenizers_of(loaded), pairs, o.strategy, o.num_beams,
                      o.length_penalty, o.max_new_tokens,
                      cfg.train.eval_batch_size if o.batch_size is None else o.batch_size,
                      buckets=True, cap=default_cap(cfg))
    return m


def translate(loaded: Loaded, sentences: list[str], strategy: str = "greedy",
              num_beams: int = 5, length_penalty: float = LENGTH_PENALTY,
              max_new_tokens: int | None = None, attention: bool = False,
              **sampling: Any) -> list[dict[str, Any]]:
    """Each sentence's translation: {"source", "translation", "tokens"}; with `attention`
    also "source_tokens" (with the source's <eos>), "target_tokens" and "attention" (one
    row of weights per target token, over the source tokens)."""
    from rnnlab.data.readers import normalize

    if not sentences:
        raise RnnlabError("nothing to translate: give SENTENCE arguments or --file PATH")
    src_tok, tgt_tok = tokenizers_of(loaded)
    texts = [normalize(s, loaded.cfg.data.lowercase) for s in sentences]
    for s, t in zip(sentences, texts, strict=True):
        if not t:
            raise RnnlabError(f"cannot translate an empty sentence ({s!r}); give some words")
    ids = [encode_source(src_tok, t) for t in texts]
    cap = default_cap(loaded.cfg)
    rows = decode(loaded.model, ids, strategy, num_beams, length_penalty, max_new_tokens,
                  attention=attention, cap=cap, **sampling)
    out = []
    for text, (hyp, weights) in zip(texts, rows, strict=True):
        r: dict[str, Any] = {"source": text, "translation": tgt_tok.decode(hyp),
                             "tokens": tgt_tok.vocab.decode(hyp)}
        words = src_tok.split(text)
        unk = src_tok.vocab.unknown(words)
        if unk:
            r["unknown_source_words"] = unk
        if len(words) > loaded.cfg.data.max_len and max_new_tokens is None:
            r["note"] = (f"note: a source of {len(words)} tokens, longer than the "
                         f"{loaded.cfg.data.max_len} the model was trained on: its translation "
                         f"stops at {cap} tokens; split long inputs into sentences (or pass "
                         "--max-new-tokens)")
        if attention:
            r["source_tokens"] = [*src_tok.split(text), "<eos>"]
            r["target_tokens"] = tgt_tok.vocab.decode(hyp)
            r["attention"] = weights
        out.append(r)
    return out


def translate_texts(loaded: Loaded, options: Mapping[str, Any] | None = None
                    ) -> dict[str, Any]:
    """`rnnlab translate`: the translations of `sentences` and of every non-blank line of
    `file`."""
    from rnnlab.data.readers import read_lines

    o = COMMANDS["translate"].bind(options)
    sentences = list(o.sentences)
    if o.file:
        sentences += [line for line in read_lines(o.file, "--file") if line.strip()]
    return _translations(loaded, sentences, o)


def predict(loaded: Loaded, inputs: list[str], options: Mapping[str, Any] | None = None
            ) -> dict[str, Any]:
    """The translation of each input sentence: {"rows": [{"source", "translation",
    "tokens", ...}], "seconds", "strategy", "num_beams"} (as `translate_texts`)."""
    o = COMMANDS["predict"].bind(options)
    if not inputs:
        raise RnnlabError("nothing to translate: give SENTENCE arguments")
    return _translations(loaded, list(inputs), o)


def _translations(loaded: Loaded, sentences: list[str], o: Options) -> dict[str, Any]:
    """`translate` timed; with `attention_png`, heat maps (FILE.png, FILE-2.png, ...)."""
    import time

    png = o.attention_png
    sampling = {"temperature": o.temperature, "top_k": o.top_k, "top_p": o.top_p,
                "seed": o.seed}
    t0 = time.perf_counter()
    rows = translate(loaded, sentences, o.strategy, o.num_beams, o.length_penalty,
                     o.max_new_tokens, attention=png is not None, **sampling)
    seconds = time.perf_counter() - t0
    if png is not None:
        from rnnlab.plots import plot_attention

        for i, r in enumerate(rows):
            path = Path(png) if i == 0 else Path(png).with_name(
                f"{Path(png).stem}-{i + 1}{Path(png).suffix or '.png'}")
            plot_attention(r["attention"], r["source_tokens"], r["target_tokens"], path,
                           f"{r['source']}  ->  {r['translation']}")
            r["attention_png"] = str(path)
    return {"rows": rows, "seconds": seconds, "strategy": o.strategy,
            "num_beams": o.num_beams}


# -- what the CLI prints ---------------------------------------------------------------------
def describe_translations(r: dict[str, Any], options: Options) -> Shown:
    """Each translation (--json: each row), and on stderr the notes and the time per
    sentence."""
    rows, notes = r["rows"], []
    for row in rows:
        if "unknown_source_words" in row:
            notes.append(f"note: {', '.join(map(repr, row['unknown_source_words']))} of "
                         f"{row['source']!r} are outside the model's source vocabulary (read "
                         "as <unk>)")
        if row.get("note"):
            notes.append(row["note"])
    s = r["seconds"]
    notes.append(f"{len(rows)} sentence(s) in {s:.3f} s ({s / len(rows) * 1000:.1f} ms per "
                 f"sentence, {r['strategy']}"
                 + (f", {r['num_beams']} beams" if r["strategy"] == "beam_search" else "")
                 + ")")
    if options.attention_png is not None:
        notes.append("wrote " + ", ".join(row["attention_png"] for row in rows))
    lines = json_lines(rows) if options.json else [row["translation"] for row in rows]
    return Shown(lines, notes)


describe_predictions = describe_translations


def fmt(m: dict[str, Any]) -> str:
    how = m["strategy"] + (f" {m['num_beams']}" if m["strategy"] == "beam_search" else "")
    return (f"BLEU {m['bleu']:.2f}  chrF {m['chrf']:.2f}  ({m['sentences']} sentences, {how}, "
            f"{m['seconds_per_sentence'] * 1000:.1f} ms/sentence)")


def describe_buckets(m: dict[str, Any]) -> list[str]:
    return [f"    source {b['words']:>5} words: BLEU {b['bleu']:6.2f}  chrF {b['chrf']:6.2f}  "
            f"({b['sentences']} sentences)" for b in m.get("buckets", [])]


def describe_evaluation(m: dict[str, Any]) -> list[str]:
    return [fmt(m), *describe_buckets(m), f"sacreBLEU signature: {m['signature']}",
            f"chrF signature: {m['chrf_signature']}"]


def shown(key: str, value: Any) -> str:
    """A chosen value as its flag: --fused-loss, --no-input-feeding, --lr 0.002."""
    if isinstance(value, bool):
        return flag(key) if value else "--no-" + flag(key)[2:]
    return f"{flag(key)} {value}"


def describe_ready(i: dict[str, Any], out: Path) -> list[str]:
    s, u = i["sizes"], i["distinct_sources"]
    return [f"data: {i['source']}  (pairs train {s['train']} | val {s['val']} | test "
            f"{s['test']}; distinct sources {u['train']} | {u['val']} | {u['test']}; "
            f"{i['dropped']} dropped by --max-len; vocabulary source {i['src_vocab']}, "
            f"target {i['tgt_vocab']})",
            f"model: {i['model']} encoder-decoder, attention {i['attention']}  "
            f"({i['params']:,} parameters)  run folder: {out}"] + ([
            "defaults of the best measured recipe (--defaults fixed to keep the documented "
            "ones): " + ", ".join(shown(k, v) for k, v in i["auto"].items())]
        if i.get("auto") else [])


def describe_progress(e: dict[str, Any]) -> str:
    return eval_line(e)


def describe(final: dict[str, Any]) -> list[str]:
    lines, decoded = [], [k for k in sorted(final) if k.startswith("test_") and k != "test_nll"]
    if "val" in final:
        lines.append(f"validation: nll {final['val']['nll']:.4f} nats/token  ppl "
                     f"{final['val']['ppl']:.2f}")
    if "test_nll" in final:
        lines.append(f"test:       nll {final['test_nll']['nll']:.4f} nats/token  ppl "
                     f"{final['test_nll']['ppl']:.2f}")
    for key in decoded:
        lines += [f"test {key[5:]:<7} {fmt(final[key])}", *describe_buckets(final[key])]
    if decoded:
        lines.append(f"sacreBLEU signature: {final[decoded[0]]['signature']}")
    notes: list[str] = final.get("notes", [])
    return lines + notes


def default_out_name(cfg: RunConfig) -> str:
    stem = Path(cfg.data.data).stem if cfg.data.data else "data"
    return f"{stem}-translate-{cfg.model.model}-{cfg.model.attention}"


# -- the subcommands of a trained run, with their options ------------------------------------
# decoding as Hugging Face names it; translation decodes greedily unless told otherwise
_CAP = "2 S + 10 for a source of S tokens, at most 2 L + 10 for the run's --max-len L"
_DECODING = tuple(
    o.but(default="greedy") if o.name == "strategy" else
    o.but(default=5) if o.name == "num_beams" else
    o.but(default=LENGTH_PENALTY) if o.name == "length_penalty" else
    o.but(default=None, default_text=_CAP) if o.name == "max_new_tokens" else o
    for o in DECODING)
_PNG = OUT.but(name="attention_png", help="write the attention heat map of the (first) "
               "sentence to this PNG (with several sentences: FILE-2.png ... too)")
_JSON = JSON.but(help='one JSON object {"source", "translation", "tokens", ...} per sentence')
COMMANDS = commands(
    Command("evaluate", "BLEU and chrF of a decoding", (
        DATA.but(help="a file of SOURCE<TAB>TARGET pairs (the run's columns) to evaluate "
                 "instead of the run's own --split"), PAIRS_FORMAT, SPLIT,
        *(o for o in _DECODING if o.name in ("strategy", "num_beams", "length_penalty",
                                            "max_new_tokens")),
        Option("batch_size", "sentences decoded together (1: one at a time)", int, ge=1,
               le=1 << 16, default_text="the run's --eval-batch-size"),
        Option("limit", "only N pairs, spread evenly over the part", int, ge=1),
        JSON.but(help='print JSON {"bleu", "chrf", "sentences", "signature", ...}')),
        evaluate, show_evaluation(describe_evaluation)),
    Command("translate", "translate sentences (source column -> target column of the run's "
            "data)", (
        TEXTS.but(name="sentences", help="source sentences", metavar="SENTENCE"),
        FILE.but(help="also translate every non-blank line of this file"),
        *_DECODING, _PNG, _JSON),
        translate_texts, describe_translations),
    Command("predict", "translate each INPUT sentence", (
        TEXTS.but(help="source sentences", metavar="SENTENCE"), *_DECODING, _PNG, _JSON),
        lambda loaded, o: predict(loaded, o.inputs, o), describe_translations),
)
