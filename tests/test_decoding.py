"""Decoding: greedy == sample(top_k=1) == beam_search(num_beams=1); beam search finds the
brute-force optimum with enough beams; logits transforms; prefill/step == forward."""

from __future__ import annotations

import itertools

import pytest
import torch

from rnnlab.decoding import DecodeConfig, beam_search, generate, transform_logits
from rnnlab.errors import RnnlabError
from rnnlab.models.base import LMBatch
from rnnlab.models.lm import RecurrentLM
from rnnlab.models.window import WindowLM
from rnnlab.tokenizers import BOS_ID, EOS_ID

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
