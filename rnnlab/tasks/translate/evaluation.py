"""Translation's evaluation: decode many sources in length-sorted batches, score corpus BLEU
and chrF with sacrebleu, and BLEU by source length.

Scoring follows sacreBLEU's convention: hypotheses are detokenized (`PunctTokenizer.join`,
exact, so a hypothesis reads as the text a person would write), references are the
normalized target text as read (`datasets.normalize`), and sacreBLEU tokenizes both with its
own default tokenizer (13a). Its signature is returned with every score.

Translation's own module (tasks/translate/__init__.py imports it; it imports nothing of the
task's package, so the two form no circle).
"""

from __future__ import annotations

import time
from typing import Any

from rnnlab.errors import RnnlabError

LENGTH_PENALTY = 0.6  # alpha of Wu et al. 2016 (their best range 0.6-0.7); 0: log p alone
BUCKETS = ((1, 5), (6, 10), (11, 15), (16, None))  # source length in words, both ends in


def encode_source(tok: Any, text: str) -> list[int]:
    """A source's ids with its <eos>: the encoder reads where the sentence ends."""
    from rnnlab.data.tokenizers import EOS_ID

    return [*tok.encode(text), EOS_ID]


def corpus_scores(hyps: list[str], refs: list[str]) -> dict[str, Any]:
    """{"bleu", "chrf", "sentences", "signature", "chrf_signature"}: sacrebleu's corpus BLEU
    and chrF of detokenized hypotheses against one reference each."""
    from sacrebleu.metrics import BLEU, CHRF

    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} hypotheses for {len(refs)} references")
    bleu, chrf = BLEU(), CHRF()
    b = bleu.corpus_score(hyps, [refs])
    c = chrf.corpus_score(hyps, [refs])
    return {"bleu": b.score, "chrf": c.score, "sentences": len(hyps),
            "signature": str(bleu.get_signature()), "chrf_signature": str(chrf.get_signature()),
            "bleu_detail": str(b)}


def bucket_scores(sources: list[str], hyps: list[str], refs: list[str]) -> list[dict[str, Any]]:
    """BLEU and chrF of the sentences whose source has 1-5, 6-10, 11-15, 16+ words
    (whitespace-separated, as a reader counts them)."""
    out = []
    for lo, hi in BUCKETS:
        idx = [i for i, s in enumerate(sources)
               if lo <= len(s.split()) and (hi is None or len(s.split()) <= hi)]
        if not idx:
            continue
        m = corpus_scores([hyps[i] for i in idx], [refs[i] for i in idx])
        out.append({"words": f"{lo}-{hi}" if hi else f"{lo}+", "bleu": m["bleu"],
                    "chrf": m["chrf"], "sentences": len(idx)})
    return out


def decode(model: Any, sources: list[list[int]], strategy: str = "greedy", num_beams: int = 5,
           length_penalty: float = LENGTH_PENALTY, max_new_tokens: int | None = None,
           batch_size: int = 64, attention: bool = False, cap: int | None = None,
           **sampling: Any) -> list[tuple[list[int], list[list[float]] | None]]:
    """Target ids (without <eos>) of each source's translation, in the given order, with its
    attention rows (one per target token, over the source positions) when `attention`.
    Sources are decoded in batches of similar lengths (`batch_size` rows; 1 decodes one
    sentence at a time); a batch may emit at most `max_new_tokens` tokens (default
    2 S + 10 for its longest source S, at most `cap`: a 10k-word input would otherwise decode
    20k steps, each attending over 10k positions)."""
    import torch

    from rnnlab.data.tokenizers import PAD_ID

    if batch_size < 1:
        raise RnnlabError(f"--batch-size must be >= 1, got {batch_size}")
    if max_new_tokens is not None and max_new_tokens < 1:
        raise RnnlabError(f"--max-new-tokens must be >= 1, got {max_new_tokens}")
    model.eval()
    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    out: list[Any] = [None] * len(sources)
    for k in range(0, len(order), batch_size):
        idx = order[k:k + batch_size]
        lengths = torch.tensor([len(sources[i]) for i in idx])
        src = torch.full((len(idx), int(lengths.max())), PAD_ID, dtype=torch.long)  # (B, S)
        for row, i in enumerate(idx):
            src[row, : lengths[row]] = torch.as_tensor(sources[i])
        limit = max_new_tokens or min(2 * int(lengths.max()) + 10, cap or 1 << 30)
        rows = _decode_batch(model, src, lengths, strategy, num_beams, length_penalty, limit,
                             attention, **sampling)
        for i, r in zip(idx, rows, strict=True):
            out[i] = r
    return out


def score_part(model: Any, toks: tuple[Any, Any], pairs: list[tuple[str, str]],
               strategy: str = "greedy", num_beams: int = 5,
               length_penalty: float = LENGTH_PENALTY,
               max_new_tokens: int | None = None, batch_size: int = 64,
               buckets: bool = False, cap: int | None = None
               ) -> tuple[dict[str, Any], list[str]]:
    """Decode every distinct source of `pairs` once (Tatoeba repeats sources), score the
    detokenized hypotheses against each pair's reference. Returns the scores (with the time
    per decoded sentence, wall and CPU) and one hypothesis per pair."""
    src_tok, tgt_tok = toks
    distinct = list(dict.fromkeys(s for s, _ in pairs))
    wall, cpu = time.perf_counter(), time.process_time()
    rows = decode(model, [encode_source(src_tok, s) for s in distinct], strategy, num_beams,
                  length_penalty, max_new_tokens, batch_size, cap=cap)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    text = {s: tgt_tok.decode(ids) for s, (ids, _) in zip(distinct, rows, strict=True)}
    hyps = [text[s] for s, _ in pairs]
    refs = [t for _, t in pairs]
    m = corpus_scores(hyps, refs)
    m.update(strategy=strategy, num_beams=num_beams if strategy == "beam_search" else 1,
             length_penalty=length_penalty if strategy == "beam_search" else None,
             batch_size=batch_size, decoded_sentences=len(distinct),
             seconds_per_sentence=wall / len(distinct),
             cpu_seconds_per_sentence=cpu / len(distinct),
             sentences_per_second=len(distinct) / wall if wall > 0 else float("inf"))
    if buckets:
        m["buckets"] = bucket_scores([s for s, _ in pairs], hyps, refs)
    return m, hyps


def _decode_batch(model: Any, src: Any, lengths: Any, strategy: str, num_beams: int,
                  length_penalty: float, limit: int, attention: bool, **sampling: Any
                  ) -> list[tuple[list[int], list[list[float]] | None]]:
    """One batch through `decoding.decode` from the encoder's prefill: the best hypothesis
    of each row, with its attention (target tokens x source positions) when asked."""
    import torch

    from rnnlab.decoding import DecodeConfig
    from rnnlab.decoding import decode as run

    seed = sampling.pop("seed", 0)
    dc = DecodeConfig(strategy, limit, num_beams=num_beams, length_penalty=length_penalty,
                      **sampling)
    dc.check()
    g = torch.Generator().manual_seed(seed) if strategy == "sample" else None
    rows = run(model, model.prefill(src, lengths), dc, g, return_attention=attention)
    return [(h[0].tokens, h[0].attention.tolist() if h[0].attention is not None else None)
            for h in rows]
