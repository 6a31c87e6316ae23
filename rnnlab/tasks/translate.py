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

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnnlab.config import BIG, param
from rnnlab.errors import RnnlabError
from rnnlab.tasks.base import Loaded, Prepared, eval_line

if TYPE_CHECKING:  # type hints only: no import at run time
    from torch import nn

    from rnnlab.tasks import RunConfig

NAME = "translate"
TITLE = "translation"
COMMANDS = ("evaluate", "translate", "predict")
MONITOR = "nll"


@dataclass
class DataConfig:
    data: str | None = param(None, "a file of SOURCE<TAB>TARGET lines (more columns, such as "
                             "Tatoeba's attribution, are ignored)")
    src_col: int = param(0, "the source's column (0-based)", ge=0, le=1 << 16)
    tgt_col: int = param(1, "the target's column (0-based)", ge=0, le=1 << 16)
    reverse: bool = param(False, "swap the two columns: translate --tgt-col into --src-col "
                          "(fra->eng on Tatoeba's eng<TAB>fra)")
    lowercase: bool = param(False, "lowercase both sides (references too)")
    min_freq: int = param(2, "per side: words rarer than this in training read <unk>", ge=1,
                          le=BIG)
    max_vocab: int | None = param(None, "per side: keep at most this many tokens (specials "
                                  "included)", ge=5, le=BIG)
    subword: str = param("none", "per side: none (words and punctuation), or SentencePiece "
                         "pieces learned from the training part: bpe or unigram (needs "
                         "pip install 'rnnlab[subword]'; --min-freq and --max-vocab then apply "
                         "to nothing)", choices=("none", "bpe", "unigram"))
    subword_vocab: int = param(8000, "per side: pieces to learn with --subword", ge=16,
                               le=1 << 20)
    max_len: int = param(50, "drop pairs with more tokens than this on either side (50 drops "
                         "5 of Tatoeba's 167,130 pairs)", ge=1, le=1 << 20)
    val_data: str | None = param(None, "explicit validation pairs file (else a grouped split)")
    test_data: str | None = param(None, "explicit test pairs file")
    split_seed: int = param(1337, "seed of the grouped split", ge=0, le=(1 << 63) - 1)
    val_fraction: float = param(0.02, "validation fraction of the distinct source sentences",
                                ge=0, lt=1)
    test_fraction: float = param(0.05, "test fraction of the distinct source sentences", ge=0,
                                 lt=1)


@dataclass
class ModelConfig:
    model: str = param("gru", "encoder and decoder cell: gru or lstm", choices=("gru", "lstm"),
                       noun="encoder-decoder cell")
    attention: str = param("additive", "additive (Bahdanau), multiplicative (Luong general) or "
                           "none (the final encoder state alone)",
                           choices=("additive", "multiplicative", "none"))
    embedding_dim: int = param(256, "embedding size (each side)", ge=1, le=1 << 16)
    hidden_size: int = param(256, "decoder hidden units (a bidirectional encoder has half "
                             "per direction)", ge=1, le=1 << 16)
    num_layers: int = param(1, "stacked recurrent layers (encoder and decoder)", ge=1, le=64)
    bidirectional: bool = param(True, "read the source in both directions")
    input_feeding: bool = param(True, "feed the last attentional vector into the next decoder "
                                "step (Luong); attention only")
    dropout: float = param(0.2, "dropout probability", ge=0, lt=1)
    scheduled_sampling: float = param(0.0, "probability of feeding the model's own sampled "
                                      "token instead of the reference in training", ge=0, le=1)
    tie_embeddings: bool = param(False, "share the target embedding with the output layer "
                                 "(needs --embedding-dim = --hidden-size)")
    label_smoothing: float = param(0.0, "training targets (1 - e) one-hot + e / V (Szegedy et "
                                   "al. 2016); validation and test NLL stay unsmoothed",
                                   ge=0, lt=1)
    final_beams: int = param(5, "beam width of the test BLEU after training, beside greedy",
                             ge=1, le=256, special={0: "greedy only"})


def check(cfg: RunConfig, given: set[str] | None) -> None:
    d, m = cfg.data, cfg.model
    if d.data is None:
        raise RnnlabError("--task translate needs --data: a file of SOURCE<TAB>TARGET lines, "
                          "e.g. --data ../shared/data/tatoeba_eng_fra/fra.txt")
    if d.src_col == d.tgt_col:
        raise RnnlabError(f"--src-col and --tgt-col are both {d.src_col}; choose two columns")
    if d.val_fraction + d.test_fraction >= 1:
        raise RnnlabError(f"--val-fraction {d.val_fraction} + --test-fraction "
                          f"{d.test_fraction} must be < 1 to leave training data; lower them")
    if given and d.subword == "none" and "data.subword_vocab" in given:
        raise RnnlabError("--subword-vocab sets the pieces of --subword bpe or unigram; add "
                          "--subword bpe (or drop --subword-vocab)")
    if m.bidirectional and m.hidden_size % 2:
        raise RnnlabError(f"--bidirectional gives each direction --hidden-size / 2 units: "
                          f"--hidden-size must be even, got {m.hidden_size}")
    if m.tie_embeddings and m.embedding_dim != m.hidden_size:
        raise RnnlabError(f"--tie-embeddings needs --embedding-dim equal to --hidden-size "
                          f"({m.embedding_dim} vs {m.hidden_size})")
    if given and m.attention == "none" and "model.input_feeding" in given and m.input_feeding:
        raise RnnlabError("--input-feeding feeds the attentional vector: it needs --attention "
                          "additive or multiplicative")


# -- data ------------------------------------------------------------------------------------
def columns(d: Any) -> tuple[int, int]:
    """(source column, target column), --reverse applied."""
    return (d.tgt_col, d.src_col) if d.reverse else (d.src_col, d.tgt_col)


def read(d: Any, path: str, what: str) -> list[tuple[str, str]]:
    from rnnlab.datasets import read_pairs

    s, t = columns(d)
    return read_pairs(path, s, t, what, d.lowercase)


def splits(d: Any) -> tuple[dict[str, list], dict[str, Any]]:
    """The train/val/test pairs and split.json's record of how they were made."""
    from rnnlab.datasets import grouped_split, pairs_digest, source_key
    from rnnlab.tokenizers import PunctTokenizer

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
    record = {"source": d.data, "columns": list(columns(d)), "reverse": d.reverse,
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


def encode_source(tok: Any, text: str) -> list[int]:
    """A source's ids with its <eos>: the encoder reads where the sentence ends."""
    from rnnlab.tokenizers import EOS_ID

    return [*tok.encode(text), EOS_ID]


def tokenizers(d: Any, parts: dict[str, list], resume: dict[str, Any] | None
               ) -> tuple[Any, Any]:
    """(source, target) tokenizers of the training part; a resumed run keeps its own."""
    from rnnlab.tokenizers import Tokenizer

    if resume is not None:
        return (Tokenizer.from_dict(resume["src_tokenizer"]),
                Tokenizer.from_dict(resume["tgt_tokenizer"]))
    train = parts["train"]
    if d.subword != "none":
        return (Tokenizer.fit_subword([s for s, _ in train], d.subword, d.subword_vocab),
                Tokenizer.fit_subword([t for _, t in train], d.subword, d.subword_vocab))
    return (Tokenizer.fit([s for s, _ in train], "punct", d.min_freq, d.max_vocab),
            Tokenizer.fit([t for _, t in train], "punct", d.min_freq, d.max_vocab))


def batches(pairs: list[tuple[str, str]], src_tok: Any, tgt_tok: Any, batch_size: int,
            shuffle: bool = False, seed: int = 0) -> Any:
    from rnnlab.batching import PairBatches

    if not pairs:
        return None
    return PairBatches([encode_source(src_tok, s) for s, _ in pairs],
                       [tgt_tok.encode(t) for _, t in pairs], batch_size, shuffle, seed)


# -- training --------------------------------------------------------------------------------
def prepare(cfg: RunConfig, out: Path, resume: dict[str, Any] | None) -> Prepared:
    d, tc = cfg.data, cfg.train
    parts, record = splits(d)
    src_tok, tgt_tok = tokenizers(d, parts, resume)
    train = batches(parts["train"], src_tok, tgt_tok, tc.batch_size, True, tc.seed)
    info = {"source": d.data, "sizes": record["sizes"], "dropped": record["dropped_by_max_len"],
            "distinct_sources": record["distinct_sources"], "src_vocab": len(src_tok),
            "tgt_vocab": len(tgt_tok), "model": cfg.model.model,
            "attention": cfg.model.attention, "train_tokens": train.num_tokens()}
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
        scheduled_sampling=m.scheduled_sampling, tie_embeddings=m.tie_embeddings,
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
    from rnnlab.tasks.translate_eval import score_part

    result: dict[str, Any] = {}
    if prepared.val is not None:
        result["val"] = evaluate(model, prepared.val.epoch(0))
    test = prepared.extra["parts"]["test"]
    if test:
        tb = batches(test, prepared.extra["src_tokenizer"], prepared.extra["tgt_tokenizer"],
                     cfg.train.eval_batch_size)
        result["test_nll"] = evaluate(model, tb.epoch(0))
        toks = (prepared.extra["src_tokenizer"], prepared.extra["tgt_tokenizer"])
        runs = [("greedy", "greedy", 1)]
        if cfg.model.final_beams:
            runs.append((f"beam{cfg.model.final_beams}", "beam_search", cfg.model.final_beams))
        columns_out: dict[str, list[str]] = {}
        for name, strategy, k in runs:
            result[f"test_{name}"], columns_out[name] = score_part(model, toks, test, strategy,
                                                                   k, buckets=True)
        lines = ["source\treference\t" + "\t".join(columns_out)]
        lines += ["\t".join([s, t, *(h[i] for h in columns_out.values())])
                  for i, (s, t) in enumerate(test)]
        (out / "test_translations.tsv").write_text("\n".join(lines) + "\n")
    return result


# -- using a trained model -------------------------------------------------------------------
def tokenizers_of(loaded: Loaded) -> tuple[Any, Any]:
    from rnnlab.tokenizers import Tokenizer

    return (Tokenizer.from_dict(loaded.payload["src_tokenizer"]),
            Tokenizer.from_dict(loaded.payload["tgt_tokenizer"]))


def default_cap(cfg: RunConfig) -> int:
    """The most tokens a translation emits unless --max-new-tokens says otherwise: 2 L + 10
    for the run's --max-len L (no training target was longer than L)."""
    return 2 * cfg.data.max_len + 10


def evaluate(loaded: Loaded, data: str | None = None, split: str = "test",
             strategy: str = "greedy", num_beams: int = 5, length_penalty: float = 0.6,
             max_new_tokens: int | None = None, batch_size: int | None = None,
             limit: int | None = None) -> dict[str, Any]:
    """{"bleu", "chrf", "sentences", "signature", "chrf_signature", "strategy", "num_beams",
    "seconds_per_sentence", "sentences_per_second", "buckets"} of a pairs file (the run's
    columns) or the run's own split, decoding with `strategy`; `limit`: N pairs spread evenly
    over the part."""
    from rnnlab.tasks.translate_eval import score_part

    cfg = loaded.cfg
    if data is not None:
        pairs = read(cfg.data, data, "--data")
    else:
        if split not in ("val", "test"):
            raise RnnlabError(f"--split must be 'val' or 'test', got {split!r}")
        pairs = splits(cfg.data)[0][split]
    if limit is not None:  # evenly spaced: Tatoeba's lines are sorted by length
        if limit < 1:
            raise RnnlabError(f"--limit must be >= 1, got {limit}")
        pairs = [pairs[i * len(pairs) // limit] for i in range(min(limit, len(pairs)))]
    if not pairs:
        raise RnnlabError(f"nothing to evaluate: the {split if data is None else 'file'} holds "
                          "no pairs")
    m, _ = score_part(loaded.model, tokenizers_of(loaded), pairs, strategy, num_beams,
                      length_penalty, max_new_tokens,
                      cfg.train.eval_batch_size if batch_size is None else batch_size,
                      buckets=True, cap=default_cap(cfg))
    return m


def translate(loaded: Loaded, sentences: list[str], strategy: str = "greedy",
              num_beams: int = 5, length_penalty: float = 0.6,
              max_new_tokens: int | None = None, attention: bool = False,
              **sampling: Any) -> list[dict[str, Any]]:
    """Each sentence's translation: {"source", "translation", "tokens"}; with `attention`
    also "source_tokens" (with the source's <eos>), "target_tokens" and "attention" (one
    row of weights per target token, over the source tokens)."""
    from rnnlab.datasets import normalize
    from rnnlab.tasks.translate_eval import decode

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


# -- what the CLI prints ---------------------------------------------------------------------
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


def describe_ready(i: dict[str, Any], out: Path) -> list[str]:
    s, u = i["sizes"], i["distinct_sources"]
    return [f"data: {i['source']}  (pairs train {s['train']} | val {s['val']} | test "
            f"{s['test']}; distinct sources {u['train']} | {u['val']} | {u['test']}; "
            f"{i['dropped']} dropped by --max-len; vocabulary source {i['src_vocab']}, "
            f"target {i['tgt_vocab']})",
            f"model: {i['model']} encoder-decoder, attention {i['attention']}  "
            f"({i['params']:,} parameters)  run folder: {out}"]


def describe_eval(e: dict[str, Any]) -> str:
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
    return lines


def default_out_name(cfg: RunConfig) -> str:
    stem = Path(cfg.data.data).stem if cfg.data.data else "data"
    return f"{stem}-translate-{cfg.model.model}-{cfg.model.attention}"
