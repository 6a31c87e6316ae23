"""rnnlab/decoding.py: greedy == sample(top_k=1) == beam_search(num_beams=1); beam search
finds the brute-force optimum with enough beams; logits transforms; prefill/step == forward.
Batched decoding: beam search with one beam == greedy; beam search == brute force over every
output up to length L (with and without the length penalty, n-best scores too); batched ==
one sentence at a time (padding changes nothing); early stopping changes nothing; attention
per emitted token; reorder_state; the LMs' batched beams."""

from __future__ import annotations

import itertools

import pytest
import torch

from rnnlab.data.tokenizers import BOS_ID, EOS_ID, PAD_ID
from rnnlab.decoding import (
    DecodeConfig,
    beam_search,
    decode,
    generate,
    length_penalty_of,
    prefill_sources,
    transform_logits,
)
from rnnlab.errors import RnnlabError
from rnnlab.losses import IGNORE_INDEX
from rnnlab.models.base import LMBatch, PairBatch
from rnnlab.models.lm import RecurrentLM
from rnnlab.models.seq2seq import Seq2Seq
from rnnlab.models.window import WindowLM

V = 7  # 4 specials + 3 symbols


def tiny_lm(seed: int = 0) -> RecurrentLM:
    torch.manual_seed(seed)
    m = RecurrentLM(V, "gru", 8, 16).double().eval()
    with torch.no_grad():  # make <eos> plausible so sequences end within a few steps
        m.head.bias[EOS_ID] += 1.0
    return m


@torch.no_grad()
def seq_logprob(model, seq: list[int], ended: bool) -> float:
    x = torch.tensor([[BOS_ID, *seq]])
    logp = torch.log_softmax(model(LMBatch(x, None, None, True)).logits[0].double(), -1)
    total = sum(float(logp[t, tok]) for t, tok in enumerate(seq))
    return total + (float(logp[len(seq), EOS_ID]) if ended else 0.0)


def test_greedy_equals_top1_sample_and_single_beam() -> None:
    m = tiny_lm()
    prompt = [[BOS_ID]]
    g = generate(m, prompt, DecodeConfig("greedy", max_new_tokens=8))
    s = generate(m, prompt, DecodeConfig("sample", max_new_tokens=8, top_k=1),
                 torch.Generator().manual_seed(0))
    b = beam_search(m, [BOS_ID], num_beams=1, max_new_tokens=8)[0][0]
    assert g == s and g[0] == b


def test_beam_search_finds_brute_force_optimum() -> None:
    m = tiny_lm(1)
    L = 3
    best, best_score = None, -float("inf")
    symbols = [4, 5, 6]
    for n in range(L + 1):
        for seq in itertools.product(symbols, repeat=n):
            ended = n < L  # a sequence of length L may also stop by the length limit
            for e in ([True, False] if n == L else [ended]):
                score = seq_logprob(m, list(seq), e)
                if score > best_score:
                    best, best_score = list(seq), score
    hyps = beam_search(m, [BOS_ID], num_beams=50, max_new_tokens=L)
    assert hyps[0][0] == best
    assert abs(hyps[0][1] - best_score) < 1e-6  # beam scores are accumulated in float32


def test_prefill_step_equal_forward_for_every_model() -> None:
    torch.manual_seed(0)
    x = torch.tensor([[BOS_ID, 4, 5, 6, 4, 5]])
    models = [RecurrentLM(V, c, 8, 16, 2, impl=i) for c in ("rnn", "gru", "lstm")
              for i in ("fused", "loop")]
    models += [RecurrentLM(V, "rnn", 8, 16, impl="loop", feedback=True)]
    models += [WindowLM(V, k, 3, 4, 8, num_layers=2) for k in ("linear", "mlp", "cnn")]
    for m in models:
        m.eval()
        full = m(LMBatch(x, None, None, True)).logits[0]  # (T, V)
        logits, state = m.prefill(x[:, :2])
        assert torch.allclose(logits[0], full[1], atol=1e-5)
        for t in range(2, x.shape[1]):
            logits, state = m.step(x[:, t], state)
            assert torch.allclose(logits[0], full[t], atol=1e-5), type(m).__name__


def test_transforms() -> None:
    logits = torch.tensor([[3.0, 2.0, 1.0, 0.0]])
    assert torch.isinf(transform_logits(logits, top_k=2)[0, 2:]).all()
    p = torch.softmax(logits, -1)[0]
    kept = transform_logits(logits, top_p=float(p[0] + 0.01))
    assert torch.isfinite(kept[0, :2]).all() and torch.isinf(kept[0, 2:]).all()
    assert torch.allclose(transform_logits(logits, temperature=2.0), logits / 2)


@pytest.mark.parametrize("bad", [dict(temperature=0.0), dict(temperature=-1.0),
                                 dict(top_p=1.5), dict(top_k=0), dict(strategy="nucleus")])
def test_bad_decoding_settings_are_refused(bad: dict) -> None:
    with pytest.raises(RnnlabError):
        DecodeConfig(**bad).check()


VS, VT = 9, 6  # target: <unk>, two words and <eos> can be emitted
SOURCES = [[4, 5, 6, 7, 8], [5, 6], [8, 7, 4]]
ATTENTIONS = ("additive", "multiplicative", "none")


def tiny(attention: str = "additive", cell: str = "gru", seed: int = 0) -> Seq2Seq:
    torch.manual_seed(seed)
    m = Seq2Seq(VS, VT, cell, 6, 8, attention=attention, dropout=0.0).double().eval()
    with torch.no_grad():  # make <eos> plausible so outputs end within a few steps
        m.head.bias[EOS_ID] += 1.0
    return m


def src_batch(sources: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    S = max(map(len, sources))
    src = torch.tensor([s + [PAD_ID] * (S - len(s)) for s in sources])
    return src, torch.tensor([len(s) for s in sources])


@torch.no_grad()
def output_log_prob(m: Seq2Seq, src: list[int], y: list[int], ended: bool) -> float:
    """log p(y (, <eos>) | src) by the teacher-forced forward."""
    tgt = [*y, EOS_ID] if ended else [*y, IGNORE_INDEX]
    b = PairBatch(torch.tensor([src]), torch.tensor([len(src)]),
                  torch.tensor([[BOS_ID, *y]]), torch.tensor([tgt]))
    logp = m(b).logits[0].log_softmax(-1)  # (T, V)
    return sum(float(logp[t, tok]) for t, tok in enumerate(tgt) if tok != IGNORE_INDEX)


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_one_beam_is_greedy_batched(attention: str) -> None:
    m = tiny(attention, "lstm" if attention == "none" else "gru")
    start = prefill_sources(m, SOURCES)
    greedy = decode(m, start, DecodeConfig("greedy", max_new_tokens=8))
    beams = beam_search(m, prefill_sources(m, SOURCES), num_beams=1, max_new_tokens=8)
    for g, b, src in zip(greedy, beams, SOURCES, strict=True):
        assert g[0].tokens == b[0].tokens
        assert g[0].score == pytest.approx(b[0].score, abs=1e-12)
        ended = len(g[0].tokens) < 8
        assert g[0].log_prob == pytest.approx(output_log_prob(m, src, g[0].tokens, ended))
    assert [h[0].tokens for h in greedy] == generate(
        m, prefill_sources(m, SOURCES), DecodeConfig("beam_search", 8, num_beams=1))


@pytest.mark.parametrize("alpha", [0.0, 0.8])
@pytest.mark.parametrize("attention", ["additive", "none"])
def test_beam_search_equals_brute_force(alpha: float, attention: str) -> None:
    m, L = tiny(attention, seed=1), 3
    symbols = [t for t in range(VT) if t not in (PAD_ID, BOS_ID, EOS_ID)]
    # 40 beams hold every prefix (<= 27 open, <= 36 candidates a step): the search is
    # exhaustive, so it must return exactly the brute-force ranking
    found = beam_search(m, prefill_sources(m, SOURCES[:2]), num_beams=40, max_new_tokens=L,
                        length_penalty=alpha, num_return=10)
    for src, hyps in zip(SOURCES[:2], found, strict=True):
        scored = []
        for n in range(L + 1):
            for y in itertools.product(symbols, repeat=n):
                for ended in ([True, False] if n == L else [True]):  # or cut by the limit
                    lp = output_log_prob(m, src, list(y), ended)
                    scored.append((lp / length_penalty_of(n + ended, alpha), list(y), lp))
        scored.sort(key=lambda s: -s[0])
        assert hyps[0].tokens == scored[0][1]
        got = torch.tensor([[h.score, h.log_prob] for h in hyps], dtype=torch.float64)
        want = torch.tensor([[s, lp] for s, _, lp in scored[:10]], dtype=torch.float64)
        assert torch.allclose(got, want, atol=1e-12)


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_batched_equals_one_sentence_at_a_time(attention: str) -> None:
    m = tiny(attention, seed=2)
    for cfg in (DecodeConfig("beam_search", 10, num_beams=3, length_penalty=0.6, num_return=3),
                DecodeConfig("greedy", 10)):
        together = decode(m, prefill_sources(m, SOURCES), cfg)
        for src, hyps in zip(SOURCES, together, strict=True):
            alone = decode(m, prefill_sources(m, [src]), cfg)[0]
            assert [h.tokens for h in hyps] == [h.tokens for h in alone]
            assert [h.score for h in hyps] == pytest.approx([h.score for h in alone],
                                                            abs=1e-12)


def test_early_stopping_changes_nothing_but_time() -> None:
    m = tiny("multiplicative", seed=3)
    kw = dict(num_beams=4, max_new_tokens=12, length_penalty=1.0, num_return=2)
    fast = beam_search(m, prefill_sources(m, SOURCES), early_stopping=True, **kw)
    full = beam_search(m, prefill_sources(m, SOURCES), early_stopping=False, **kw)
    assert [[h.tokens for h in r] for r in fast] == [[h.tokens for h in r] for r in full]


@pytest.mark.parametrize("strategy", ["greedy", "beam_search"])
def test_attention_per_emitted_token(strategy: str) -> None:
    m = tiny("additive", seed=4)
    cfg = DecodeConfig(strategy, 8, num_beams=3)
    rows = decode(m, prefill_sources(m, SOURCES), cfg, return_attention=True)
    for src, hyps in zip(SOURCES, rows, strict=True):
        h = hyps[0]
        assert h.attention.shape == (len(h.tokens), len(src))
        # replay the tokens: each step's attention is the one that emitted the next token
        _, state = m.prefill(torch.tensor([src]))
        for t, tok in enumerate(h.tokens):
            assert torch.allclose(h.attention[t], state.attention[0], atol=1e-12)
            _, state = m.step(torch.tensor([tok]), state)
    with pytest.raises(RnnlabError, match="attention"):
        plain = tiny("none")
        decode(plain, prefill_sources(plain, SOURCES), cfg, return_attention=True)


def test_reorder_state_follows_rows() -> None:
    m = tiny("additive", "lstm")
    src, lengths = src_batch(SOURCES)
    _, state = m.prefill(src, lengths)
    tok = torch.tensor([4, 5, 1])
    logits, _ = m.step(tok, state)
    index = torch.tensor([2, 0, 2, 1])
    moved, _ = m.step(tok[index], m.reorder_state(state, index))
    assert torch.allclose(moved, logits[index], atol=1e-12)


def test_language_models_get_batched_beams() -> None:
    torch.manual_seed(0)
    lm = RecurrentLM(7, "gru", 8, 16).double().eval()
    with torch.no_grad():
        lm.head.bias[EOS_ID] += 1.0
    prompts = [[BOS_ID, 4], [BOS_ID, 5], [BOS_ID, 6]]
    together = beam_search(lm, prompts, num_beams=3, max_new_tokens=6, length_penalty=0.7)
    for p, hyps in zip(prompts, together, strict=True):
        alone = beam_search(lm, p, num_beams=3, max_new_tokens=6, length_penalty=0.7)
        assert [h.tokens for h in hyps] == [ids for ids, _ in alone]
        assert [h.score for h in hyps] == pytest.approx([s for _, s in alone], abs=1e-12)
        # the score is log p / lp, log p from the forward pass
        best = hyps[0]
        x = torch.tensor([[*p, *best.tokens]])
        with torch.no_grad():
            logp = lm(LMBatch(x, None, None, True)).logits[0].log_softmax(-1)
        seq = [*best.tokens, EOS_ID][: 6]
        lp = sum(float(logp[len(p) - 1 + t, tok]) for t, tok in enumerate(seq))
        assert best.log_prob == pytest.approx(lp, abs=1e-12)
        assert best.score == pytest.approx(lp / length_penalty_of(len(seq), 0.7), abs=1e-12)


@pytest.mark.parametrize("bad", [dict(length_penalty=-0.5),
                                 dict(strategy="beam_search", num_beams=2, num_return=3),
                                 dict(strategy="greedy", num_return=2)])
def test_bad_beam_settings_are_refused(bad: dict) -> None:
    with pytest.raises(RnnlabError):
        DecodeConfig(**bad).check()


@pytest.mark.parametrize("strategy", ["greedy", "sample", "beam_search"])
def test_block_unk_keeps_unk_out_of_every_strategy(strategy: str) -> None:
    from rnnlab.data.tokenizers import UNK_ID

    m = tiny_lm(2)
    with torch.no_grad():
        m.head.bias[UNK_ID] += 30.0  # <unk> is all but certain at every step
    dc = DecodeConfig(strategy, max_new_tokens=6, num_beams=3, stop_at_eos=False)
    free = generate(m, [[BOS_ID]] * 4, dc, torch.Generator().manual_seed(0))
    assert all(row == [UNK_ID] * 6 for row in free)
    dc.block_unk = True
    blocked = generate(m, [[BOS_ID]] * 4, dc, torch.Generator().manual_seed(0))
    assert all(UNK_ID not in row for row in blocked)
    if strategy != "beam_search":  # a beam may end at <eos>: the next most likely token
        assert all(len(row) == 6 for row in blocked)
