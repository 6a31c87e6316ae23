"""Decoding over the prefill/step protocol: `greedy`, `sample`, `beam_search`.

Shapes: B batch (rows decoded together), K beams, V vocabulary.

Every strategy runs the prompt once (`prefill`), then feeds one token at a time (`step`),
carrying the recurrent state; no model re-reads its history per token. A conditional model
(`ConditionalLM`) gets its class through `condition`, passed on as `prefill(prompt, condition)`.
Logits transforms (temperature, top-k, top-p) compose in that order, as in Hugging Face
generation. `reread_sample` is the slow baseline that re-runs the whole context per token,
kept for the benchmark that shows what carrying the state saves.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.errors import RnnlabError
from rnnlab.models.base import LMBatch, State
from rnnlab.tokenizers import BOS_ID, EOS_ID, PAD_ID

STRATEGIES = ("greedy", "sample", "beam_search")


@dataclass
class DecodeConfig:
    strategy: str = "sample"
    max_new_tokens: int = 50
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    num_beams: int = 4
    stop_at_eos: bool = True

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


def _never(logits: Tensor) -> Tensor:
    """Tokens a model must never emit mid-sequence: <pad> and <bos>."""
    logits = logits.clone()
    logits[..., PAD_ID] = -float("inf")
    logits[..., BOS_ID] = -float("inf")
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


@torch.no_grad()
def generate(
    model: nn.Module,
    prompts: list[list[int]],
    cfg: DecodeConfig,
    generator: torch.Generator | None = None,
    condition: Tensor | None = None,
) -> list[list[int]]:
    """Continue each prompt (ids, starting with <bos>); returns the new ids of each row,
    without the final <eos>. `condition` (B,) gives a conditional model each row's class
    (`model.prefill(prompt, condition)`); without it the model is called as `prefill(prompt)`."""
    cfg.check()
    model.eval()
    if condition is not None and len(condition) != len(prompts):
        raise ValueError(f"one condition per prompt: got {len(condition)} for {len(prompts)}")
    if cfg.strategy == "beam_search":
        return [
            beam_search(model, p, cfg.num_beams, cfg.max_new_tokens,
                        None if condition is None else int(condition[i]))[0][0]
            for i, p in enumerate(prompts)
        ]
    prompt = _prompt_tensor(prompts)  # (B, T)
    logits, state = _prefill(model, prompt, condition)
    B = prompt.shape[0]
    never = _never(torch.zeros(logits.shape[-1]))  # (V,): -inf at <pad>, <bos>
    plain = cfg.temperature == 1.0 and cfg.top_k is None and cfg.top_p is None
    tokens: list[Tensor] = []
    for _ in range(cfg.max_new_tokens):
        logits = logits.float() + never
        if cfg.strategy == "greedy":
            token = logits.argmax(-1)  # (B,)
        else:
            if not plain:
                logits = transform_logits(logits, cfg.temperature, cfg.top_k, cfg.top_p)
            token = torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(1)
        tokens.append(token)
        # stop once every row has emitted <eos> (checked every 16 steps: a sync costs time)
        if cfg.stop_at_eos and len(tokens) % 16 == 0 and bool(
            (torch.stack(tokens, 1) == EOS_ID).any(1).all()
        ):
            break
        logits, state = model.step(token, state)
    out: list[list[int]] = []
    for row in (torch.stack(tokens, 1).tolist() if tokens else [[] for _ in range(B)]):
        if cfg.stop_at_eos and EOS_ID in row:
            row = row[: row.index(EOS_ID)]
        out.append(row)
    return out


@torch.no_grad()
def beam_search(
    model: nn.Module, prompt: list[int], num_beams: int, max_new_tokens: int,
    condition: int | None = None,
) -> list[tuple[list[int], float]]:
    """Beams by total log-probability; a hypothesis ends at <eos> (its score counts the <eos>)
    or after `max_new_tokens`. Returns up to `num_beams` (ids, log-prob), best first.
    `condition` is a conditional model's class id for the whole search."""
    cond = None if condition is None else torch.tensor([condition], dtype=torch.long)
    logits, state = _prefill(model, torch.tensor([prompt], dtype=torch.long), cond)
    # a model whose state is more than recurrent tensors says how its rows follow the beams
    reorder = getattr(model, "reorder_state", None) or _select
    beams: list[tuple[list[int], float]] = [([], 0.0)]
    finished: list[tuple[list[int], float]] = []
    for t in range(max_new_tokens):
        # the model's own log-probabilities (not renormalized), <pad>/<bos> excluded
        logp = _never(F.log_softmax(logits.float(), dim=-1))  # (K, V)
        K, V = logp.shape
        scores = torch.tensor([s for _, s in beams]).unsqueeze(1) + logp  # (K, V)
        top = torch.topk(scores.flatten(), min(2 * num_beams, K * V))
        new_beams, keep = [], []
        for rank, (score, flat) in enumerate(
            zip(top.values.tolist(), top.indices.tolist(), strict=True)
        ):
            k, v = divmod(flat, V)
            if v == EOS_ID:
                # an ending counts only if it ranks among the beams (so num_beams=1 is greedy)
                if rank < num_beams:
                    finished.append((beams[k][0], score))
            else:
                new_beams.append((beams[k][0] + [v], score))
                keep.append((k, v))
            if len(new_beams) == num_beams:
                break
        # stop when no open beam can beat the best finished one (scores only fall)
        if not new_beams or (len(finished) >= num_beams and
                             max(s for _, s in finished) >= new_beams[0][1]):
            beams = []
            break
        beams = new_beams
        if t == max_new_tokens - 1:
            break
        idx = torch.tensor([k for k, _ in keep])
        tokens = torch.tensor([v for _, v in keep])
        state = reorder(state, idx)
        logits, state = model.step(tokens, state)
    finished.extend(beams)  # hypotheses cut by max_new_tokens compete as they stand
    finished.sort(key=lambda b: -b[1])
    return finished[:num_beams]


def _prefill(model: nn.Module, prompt: Tensor, condition: Tensor | None) -> tuple[Tensor, State]:
    # unconditional models keep their one-argument prefill
    if condition is None:
        return model.prefill(prompt)
    return model.prefill(prompt, condition)


def _select(state: State | None, idx: Tensor) -> State | None:
    """Reorder a state's batch rows to follow the surviving beams. Recurrent states are
    (L, B, H); window/n-gram states are (B, C)."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(_select(s, idx) for s in state)  # type: ignore[return-value]
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
