"""Decoding over the prefill/step protocol: `greedy`, `sample`, batched `beam_search`.

Shapes: B batch (rows decoded together), K beams, V vocabulary, S source length.

Every strategy runs the prompt once (`prefill`), then feeds one token at a time (`step`),
carrying the recurrent state; no model re-reads its history per token. What is decoded is
given as prompts (ids of one length, starting with <bos>) or as a prefill result
`Start = (logits (B, V), state)`: an encoder-decoder's `model.prefill(src, src_lengths)`
(`prefill_sources` pads sources of mixed lengths), or anything a caller prefilled itself.
A conditional model (`ConditionalLM`) gets its class through `condition`, passed on as
`prefill(prompt, condition)`. Logits transforms (temperature, top-k, top-p) compose in that
order, as in Hugging Face generation. `reread_sample` is the slow baseline that re-runs the
whole context per token, kept for the benchmark that shows what carrying the state saves.

Beam search ranks open beams by total log-probability log p(Y) and finished hypotheses by
    score(Y) = log p(Y) / lp(Y),   lp(Y) = ((5 + |Y|) / 6)^alpha      (Wu et al. 2016)
where |Y| counts the generated tokens with the final <eos>; alpha = `length_penalty` = 0
scores by log-probability alone. Many sentences are searched at once: the rows are the K
beams of every unfinished sentence (B*K rows); a sentence's rows leave the batch when it is
done. Memory: B*K copies of the decoding state (for Seq2Seq B*K*S*2H floats of memory and
keys), plus B*K*t token ids (and B*K*t*S attention weights with `return_attention`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.data.tokenizers import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from rnnlab.errors import RnnlabError
from rnnlab.models.base import Decoder, LMBatch, State

STRATEGIES = ("greedy", "sample", "beam_search")
Start = tuple[Tensor, State]  # a prefill result: logits (B, V) of the next token, state
Prompts = list[list[int]] | Start


def _decoder(model: nn.Module) -> Decoder:
    """`model` seen through the decoding protocol (an nn.Module's attributes are untyped)."""
    return cast(Decoder, model)


@dataclass
class DecodeConfig:
    """How `generate` and `beam_search` pick tokens: `strategy` greedy, sample (with
    `temperature`, `top_k`, `top_p`) or beam_search (`num_beams`, `length_penalty`), for at
    most `max_new_tokens`, stopping a row at <eos> when `stop_at_eos`. `block_unk` keeps
    <unk> out of the output too: for a model whose training text never held it, its
    probability is an untrained leftover that a high temperature can still sample."""

    strategy: str = "sample"
    max_new_tokens: int = 50
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    num_beams: int = 4
    stop_at_eos: bool = True
    length_penalty: float = 0.0  # alpha of Wu et al. 2016; 0: total log-probability
    early_stopping: bool = True  # stop a sentence once its n-best cannot change
    num_return: int = 1  # hypotheses per row (beam search: the n-best)
    block_unk: bool = False

    def check(self) -> None:
        if self.strategy not in STRATEGIES:
            raise RnnlabError(
                f"--strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}"
            )
        if not self.temperature > 0:
            raise RnnlabError(
                f"temperature must be > 0, got {self.temperature}; for the most likely token "
                "at each step use --strategy greedy"
            )
        if self.top_k is not None and self.top_k < 1:
            raise RnnlabError(f"top_k must be >= 1, got {self.top_k}; omit it to keep all tokens")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise RnnlabError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.num_beams < 1:
            raise RnnlabError(f"num_beams must be >= 1, got {self.num_beams}")
        if self.max_new_tokens < 0:
            raise RnnlabError(f"max_new_tokens must be >= 0, got {self.max_new_tokens}")
        if not self.length_penalty >= 0:
            raise RnnlabError(f"length_penalty must be >= 0, got {self.length_penalty}; 0 "
                              "scores by log-probability, 0.6-1.0 favours longer outputs")
        limit = self.num_beams if self.strategy == "beam_search" else 1
        if not 1 <= self.num_return <= limit:
            raise RnnlabError(
                f"num_return must be in [1, {limit}] for {self.strategy}, got "
                f"{self.num_return}; beam search returns at most num_beams hypotheses"
            )


class Hypothesis(NamedTuple):
    tokens: list[int]  # generated ids, without the final <eos>
    score: float  # log p / lp(|Y|) (beam search; = log_prob for greedy and sample)
    log_prob: float  # log p of the tokens (and of the <eos>, when the row ended)
    attention: Tensor | None  # (len(tokens), S): the attention that emitted each token


def _never(logits: Tensor, unk: bool = False) -> Tensor:
    """Tokens a model must never emit mid-sequence: <pad> and <bos> (and <unk> if `unk`)."""
    logits = logits.clone()
    logits[..., PAD_ID] = -float("inf")
    logits[..., BOS_ID] = -float("inf")
    if unk:
        logits[..., UNK_ID] = -float("inf")
    return logits


def transform_logits(
    logits: Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None
) -> Tensor:
    """Temperature, then top-k, then nucleus (top-p) filtering: (B, V) -> (B, V)."""
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, -float("inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        probs = sorted_logits.softmax(-1)
        # drop a token when the mass before it already reaches top_p (the first always stays)
        drop_sorted = probs.cumsum(-1) - probs >= top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, -float("inf"))
    return logits


def _prompt_tensor(prompts: list[list[int]]) -> Tensor:
    lengths = {len(p) for p in prompts}
    if len(lengths) != 1:
        raise ValueError("rows decoded together need prompts of one length")
    return torch.tensor(prompts, dtype=torch.long)


def prefill_sources(model: nn.Module, sources: list[list[int]]) -> Start:
    """An encoder-decoder's start for sources of any lengths (each >= 1): right-padded with
    <pad> into (B, S), with their lengths, through `model.prefill(src, src_lengths)`."""
    S = max((len(s) for s in sources), default=0)
    src = torch.tensor([s + [PAD_ID] * (S - len(s)) for s in sources], dtype=torch.long)
    return _decoder(model).prefill(src.view(len(sources), S),
                                   torch.tensor([len(s) for s in sources]))


def _start(model: nn.Module, prompts: Prompts, condition: Tensor | None) -> Start:
    if isinstance(prompts, tuple):
        return prompts
    if condition is not None and len(condition) != len(prompts):
        raise ValueError(f"one condition per prompt: got {len(condition)} for {len(prompts)}")
    return _prefill(model, _prompt_tensor(prompts), condition)


@torch.no_grad()
def generate(
    model: nn.Module,
    prompts: Prompts,
    cfg: DecodeConfig,
    generator: torch.Generator | None = None,
    condition: Tensor | None = None,
) -> list[list[int]]:
    """Continue each prompt (ids, starting with <bos>) or prefill result; returns the new
    ids of each row, without the final <eos> (the best hypothesis for beam search).
    `condition` (B,) gives a conditional model each row's class (`model.prefill(prompt,
    condition)`); without it the model is called as `prefill(prompt)`."""
    cfg.check()
    model.eval()
    if cfg.strategy == "beam_search":
        return [h[0].tokens for h in decode(model, prompts, cfg, generator, condition)]
    tokens, _, _ = _greedy_or_sample(model, _start(model, prompts, condition), cfg, generator)
    return [_cut(row, cfg.stop_at_eos) for row in tokens.tolist()]


@torch.no_grad()
def decode(
    model: nn.Module,
    prompts: Prompts,
    cfg: DecodeConfig,
    generator: torch.Generator | None = None,
    condition: Tensor | None = None,
    return_attention: bool = False,
) -> list[list[Hypothesis]]:
    """`cfg.num_return` hypotheses per row (best first for beam search) with their scores,
    and with `return_attention` the attention weights behind each token (a model whose
    state has an `attention` field (B, S), e.g. `Seq2Seq`; trimmed to each source's
    length when the state has a `mask`)."""
    cfg.check()
    model.eval()
    if cfg.strategy == "beam_search":
        return beam_search(
            model, prompts, cfg.num_beams, cfg.max_new_tokens, condition,
            length_penalty=cfg.length_penalty, early_stopping=cfg.early_stopping,
            num_return=cfg.num_return, return_attention=return_attention,
            block_unk=cfg.block_unk,
        )  # type: ignore[return-value]
    start = _start(model, prompts, condition)
    src_len = _source_lengths(start[1])
    tokens, logp, att = _greedy_or_sample(model, start, cfg, generator, True, return_attention)
    out = []
    for i, row in enumerate(tokens.tolist()):
        kept = _cut(row, cfg.stop_at_eos)
        a = None if att is None else _trim(att[i, : len(kept)], src_len, i)
        lp = float(logp[i])  # type: ignore[index]
        out.append([Hypothesis(kept, lp, lp, a)])
    return out


def _cut(row: list[int], stop_at_eos: bool) -> list[int]:
    return row[: row.index(EOS_ID)] if stop_at_eos and EOS_ID in row else row


def _greedy_or_sample(
    model: nn.Module, start: Start, cfg: DecodeConfig, generator: torch.Generator | None,
    scores: bool = False, attention: bool = False,
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """(tokens (B, n), log p of each row up to its <eos> (B,) if `scores`, attention
    (B, n, S) if `attention`). Rows that ended keep decoding until every row has: a batch
    step costs about as much for B rows as for fewer."""
    logits, state = start
    B = logits.shape[0]
    dtype = torch.promote_types(logits.dtype, torch.float32)
    never = _never(torch.zeros(logits.shape[-1], dtype=dtype), cfg.block_unk)  # (V,) 0 / -inf
    plain = cfg.temperature == 1.0 and cfg.top_k is None and cfg.top_p is None
    done = torch.zeros(B, dtype=torch.bool)
    total = torch.zeros(B, dtype=dtype)
    tokens: list[Tensor] = []
    atts: list[Tensor] = []
    for _ in range(cfg.max_new_tokens):
        raw = logits.to(dtype)
        logits = raw + never
        if cfg.strategy == "greedy":
            token = logits.argmax(-1)  # (B,)
        else:
            z = logits if plain else transform_logits(logits, cfg.temperature, cfg.top_k,
                                                      cfg.top_p)
            token = torch.multinomial(z.softmax(-1), 1, generator=generator).squeeze(1)
        if scores:  # the model's own log-probability: not transformed, not renormalized
            picked = F.log_softmax(raw, -1).gather(1, token.unsqueeze(1)).squeeze(1)
            total += picked.masked_fill(done, 0.0)
        if attention:
            atts.append(_attention_of(state))
        tokens.append(token)
        if cfg.stop_at_eos:
            done |= token == EOS_ID
            if bool(done.all()):
                break
        logits, state = _decoder(model).step(token, state)
    toks = torch.stack(tokens, 1) if tokens else torch.zeros(B, 0, dtype=torch.long)
    att = None
    if attention:
        att = torch.stack(atts, 1) if atts else torch.zeros(B, 0, 0)
    return toks, (total if scores else None), att


def _attention_of(state: State) -> Tensor:
    a = getattr(state, "attention", None)
    if a is None:
        raise RnnlabError("return_attention needs a model with attention (its decoding state "
                          "has no attention weights); train with --attention additive or "
                          "multiplicative")
    return a


def _source_lengths(state: State) -> list[int] | None:
    mask = getattr(state, "mask", None)
    return None if mask is None else mask.sum(1).tolist()


def _trim(att: Tensor, src_len: list[int] | None, row: int) -> Tensor:
    return att if src_len is None else att[:, : src_len[row]]


def length_penalty_of(length: int, alpha: float) -> float:
    """lp(Y) = ((5 + |Y|) / 6)^alpha (Wu et al. 2016)."""
    return ((5 + length) / 6) ** alpha


@torch.no_grad()
def beam_search(
    model: nn.Module,
    prompts: list[int] | Prompts,
    num_beams: int = 4,
    max_new_tokens: int = 50,
    condition: int | Tensor | None = None,
    *,
    length_penalty: float = 0.0,
    early_stopping: bool = True,
    num_return: int | None = None,
    eos_id: int = EOS_ID,
    return_attention: bool = False,
    block_unk: bool = False,
) -> list[tuple[list[int], float]] | list[list[Hypothesis]]:
    """Beam search for many rows at once. `prompts` is one prompt (list[int]; `condition` an
    int), prompts of one length (list[list[int]]; `condition` (B,)) or a prefill result.
    Returns, per row, up to `num_return` (default `num_beams`) hypotheses best first; for
    one prompt, that row's list alone as (ids, score) pairs.

    A hypothesis ends at `eos_id` (its log-probability counts the <eos>) or after
    `max_new_tokens`. An ending counts only if it ranks among the K best candidates of its
    step (so num_beams=1 is greedy); the K open beams are the best other candidates.
    `early_stopping`: a row is done once `num_return` hypotheses have ended and no open
    beam can still beat the `num_return`-th (log-probabilities only fall, and
    lp(|Y|) is largest at |Y| = max_new_tokens); the n-best is then the same as searching to
    `max_new_tokens`, which early_stopping=False does. `block_unk`: <unk> is never emitted."""
    single = isinstance(prompts, list) and bool(prompts) and isinstance(prompts[0], int)
    if single:
        cond = None if condition is None else torch.tensor([int(condition)])
        start = _start(model, [prompts], cond)  # type: ignore[list-item]
    else:
        cond = None if condition is None else torch.as_tensor(condition, dtype=torch.long)
        start = _start(model, prompts, cond)  # type: ignore[arg-type]
    if num_beams < 1 or max_new_tokens < 0 or not length_penalty >= 0:
        raise RnnlabError(f"beam search needs num_beams >= 1, max_new_tokens >= 0 and "
                          f"length_penalty >= 0, got {num_beams}, {max_new_tokens} and "
                          f"{length_penalty}")
    R = num_beams if num_return is None else num_return
    if not 1 <= R <= num_beams:
        raise RnnlabError(f"num_return must be in [1, num_beams={num_beams}], got {R}")
    out = _beam_rows(model, start, num_beams, max_new_tokens, length_penalty, early_stopping,
                     R, eos_id, return_attention, block_unk)
    if single:  # the one-prompt form keeps its (ids, score) pairs
        return [(h.tokens, h.score) for h in out[0]]
    return out


def _beam_rows(
    model: nn.Module, start: Start, K: int, max_new_tokens: int, alpha: float,
    early_stopping: bool, R: int, eos_id: int, return_attention: bool, block_unk: bool = False,
) -> list[list[Hypothesis]]:
    logits, state = start
    B, V = logits.shape
    dtype = torch.promote_types(logits.dtype, torch.float32)
    # a model whose state is more than recurrent tensors says how its rows follow the beams
    reorder = cast(Callable[[State, Tensor], State],
                   getattr(model, "reorder_state", None) or _select)
    src_len = _source_lengths(state)
    inf = float("inf")
    alive = list(range(B))  # the rows' sentences, in row order (each holds `width` rows)
    width = 1
    scores = torch.zeros(B, 1, dtype=dtype)  # (n, width) log p of each open beam; -inf: empty
    seqs = torch.zeros(B, 0, dtype=torch.long)  # (n*width, t) tokens of each row
    hist: Tensor | None = None  # (n*width, t, S) attention that emitted each token
    finished: list[list[Hypothesis]] = [[] for _ in range(B)]
    lp_max = length_penalty_of(max_new_tokens, alpha)
    for t in range(max_new_tokens):
        n = len(alive)
        # the model's own log-probabilities (not renormalized), <pad>/<bos> (<unk>) excluded
        logp = _never(F.log_softmax(logits.to(dtype), dim=-1), block_unk)  # (n*width, V)
        cand = (scores.unsqueeze(-1) + logp.view(n, width, V)).view(n, width * V)
        k2 = min(2 * K, width * V)
        vals, flat = torch.topk(cand, k2, dim=1)  # (n, k2) best first
        if k2 < K:  # fewer candidates than beams: the rest are empty slots
            vals = F.pad(vals, (0, K - k2), value=-inf)
            flat = F.pad(flat, (0, K - k2), value=PAD_ID)
        beam, tok = flat // V, flat % V  # (n, k2')
        real = vals > -inf
        is_end = (tok == eos_id) & real
        rank = torch.arange(vals.shape[1]).expand_as(vals)
        is_open = ~is_end & real
        take = is_open & (is_open.long().cumsum(1) <= K)
        slot = torch.where(take, rank, rank + vals.shape[1]).argsort(1)[:, :K]  # (n, K)
        new_scores = vals.gather(1, slot).masked_fill(~take.gather(1, slot), -inf)
        src_rows = (torch.arange(n).unsqueeze(1) * width + beam.gather(1, slot))  # (n, K)
        new_tok = tok.gather(1, slot)
        att = _attention_of(state) if return_attention else None
        lp_end = length_penalty_of(t + 1, alpha)
        for i, r in (is_end & (rank < K)).nonzero().tolist():
            row = i * width + int(beam[i, r])
            a = None  # the <eos> is not returned, nor the attention that emitted it
            if att is not None:
                a = hist[row] if hist is not None else att[row:row]  # (t, S)
            lp = float(vals[i, r])
            finished[alive[i]].append(Hypothesis(
                seqs[row].tolist(), lp / lp_end, lp,
                None if a is None else _trim(a, src_len, alive[i])))
        best_open = new_scores[:, 0]  # (n,) open beams are in rank order
        bound = best_open / lp_max if alpha > 0 else best_open  # the best any can still end at
        keep = []
        for i in range(n):
            ends = finished[alive[i]]
            if not bool(best_open[i] > -inf):
                continue  # no open beam: the row is done
            if early_stopping and len(ends) >= R:
                rth = sorted((h.score for h in ends), reverse=True)[R - 1]
                if rth >= float(bound[i]):
                    continue
            keep.append(i)
        idx = src_rows[keep].view(-1)  # (n'*K,) rows the kept beams continue from
        seqs = torch.cat([seqs[idx], new_tok[keep].view(-1, 1)], 1)
        if att is not None:
            step_att = att[idx].unsqueeze(1)  # (n'*K, 1, S)
            hist = step_att if hist is None else torch.cat([hist[idx], step_att], 1)
        scores = new_scores[keep]
        alive = [alive[i] for i in keep]
        width = K
        if not alive or t == max_new_tokens - 1:
            break
        state = reorder(state, idx)
        logits, state = _decoder(model).step(new_tok[keep].view(-1), state)
    # hypotheses cut by max_new_tokens compete as they stand
    lp_cut = length_penalty_of(max_new_tokens, alpha)
    for i, b in enumerate(alive):
        for k in range(width):
            lp = float(scores[i, k])
            if lp > -inf:
                row = i * width + k
                a = None if hist is None else _trim(hist[row], src_len, b)
                if return_attention and hist is None:  # max_new_tokens == 0
                    a = torch.zeros(0, 0 if src_len is None else src_len[b])
                finished[b].append(Hypothesis(seqs[row].tolist(), lp / lp_cut, lp, a))
    return [sorted(f, key=lambda h: -h.score)[:R] for f in finished]


def _prefill(model: nn.Module, prompt: Tensor, condition: Tensor | None) -> Start:
    # unconditional models keep their one-argument prefill
    if condition is None:
        return _decoder(model).prefill(prompt)
    return _decoder(model).prefill(prompt, condition)


def _select(state: State | None, idx: Tensor) -> State | None:
    """Reorder a state's batch rows to follow the surviving beams. Recurrent states are
    (L, B, H); window/n-gram states are (B, C)."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(cast(Tensor, _select(s, idx)) for s in state)
    return state.index_select(1 if state.dim() == 3 else 0, idx)


@torch.no_grad()
def reread_sample(
    model: nn.Module, prompt: list[int], max_new_tokens: int, generator: torch.Generator | None
) -> list[int]:
    """The slow way: run the whole sequence again for every new token (benchmark baseline)."""
    model.eval()
    seq = list(prompt)
    for _ in range(max_new_tokens):
        x = torch.tensor([seq], dtype=torch.long)
        logits = model(LMBatch(x, None, None, True)).logits[:, -1]  # type: ignore[arg-type]
        probs = _never(logits).float().softmax(-1)
        seq.append(int(torch.multinomial(probs, 1, generator=generator)))
    return seq[len(prompt):]
