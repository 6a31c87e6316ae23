"""ConditionalLM: prefill/step == forward; padded batch == each row alone; the class matters
only when conditioned; greedy == sample(top_k=1) == beam_search(num_beams=1) and beam search
== brute force, given a class; checkpoint round trip; chunked target log-probs."""

from __future__ import annotations

import itertools

import pytest
import torch

from rnnlab.data.batching import pad_batch
from rnnlab.data.tokenizers import BOS_ID, EOS_ID, PAD_ID
from rnnlab.decoding import DecodeConfig, beam_search, generate
from rnnlab.errors import RnnlabError
from rnnlab.losses import IGNORE_INDEX
from rnnlab.models import rebuild
from rnnlab.models.base import CondBatch
from rnnlab.models.conditional import ConditionalLM

V, K = 7, 3  # 4 specials + 3 symbols; 3 classes
CASES = [(c, cell) for c in ("init", "concat") for cell in ("gru", "lstm")]


def tiny(condition: str, cell: str = "gru", seed: int = 0, vocab: int = V, **kw) -> ConditionalLM:
    torch.manual_seed(seed)
    m = ConditionalLM(vocab, K, cell, 8, 16, condition=condition, class_dim=4, **kw)
    m = m.double().eval()
    with torch.no_grad():  # make <eos> plausible so sequences end within a few steps
        m.head.bias[EOS_ID] += 1.0
    return m


def cond_batch(seqs: list[list[int]], labels: list[int]) -> CondBatch:
    b = pad_batch(seqs)
    return CondBatch(b.inputs, b.targets, b.lengths, torch.tensor(labels))


@pytest.mark.parametrize("impl", ["fused", "loop"])
@pytest.mark.parametrize("condition,cell", [*CASES, ("none", "gru"), ("none", "lstm")])
def test_prefill_step_equal_forward(condition: str, cell: str, impl: str) -> None:
    m = tiny(condition, cell, num_layers=2, impl=impl)
    b = cond_batch([[4, 5, 6, 4, 5], [6, 6, 4, 5, 5]], [2, 0])
    full = m(b).logits  # (B, T, V)
    logits, state = m.prefill(b.inputs[:, :2], b.labels)
    assert torch.allclose(logits, full[:, 1], atol=1e-5)
    for t in range(2, b.inputs.shape[1]):
        logits, state = m.step(b.inputs[:, t], state)
        assert torch.allclose(logits, full[:, t], atol=1e-5)


@torch.no_grad()
@pytest.mark.parametrize("condition,cell", CASES)
def test_padded_batch_equals_each_sequence_alone(condition: str, cell: str) -> None:
    m = tiny(condition, cell, num_layers=2)
    seqs, labels = [[4, 5, 6, 4], [5], [6, 4]], [1, 0, 2]
    out = m(cond_batch(seqs, labels))
    total = 0.0
    for i, (s, y) in enumerate(zip(seqs, labels, strict=True)):
        alone = m(cond_batch([s], [y]))
        n = len(s) + 1
        assert torch.allclose(out.logits[i, :n], alone.logits[0], atol=1e-10)
        finals = out.state if isinstance(out.state, tuple) else (out.state,)
        finals_alone = alone.state if isinstance(alone.state, tuple) else (alone.state,)
        for f, fa in zip(finals, finals_alone, strict=True):
            assert torch.allclose(f[:, i], fa[:, 0], atol=1e-10)
        total += float(alone.loss) * n
    assert abs(float(out.loss) - total / sum(len(s) + 1 for s in seqs)) < 1e-10


@torch.no_grad()
@pytest.mark.parametrize("condition", ["init", "concat", "none"])
def test_class_changes_the_model_only_when_conditioned(condition: str) -> None:
    m = tiny(condition)
    seqs = [[4, 5, 6], [6, 5]]
    a, b = m(cond_batch(seqs, [0, 1])), m(cond_batch(seqs, [2, 2]))
    if condition == "none":
        assert torch.equal(a.logits, b.logits) and torch.equal(a.loss, b.loss)
    else:
        for i in range(len(seqs)):
            assert not torch.allclose(a.logits[i], b.logits[i], atol=1e-6)
        assert abs(float(a.loss) - float(b.loss)) > 1e-6


def test_unconditioned_model_has_no_class_parameters() -> None:
    # num_classes=0 and condition="none" build the same network: the baseline
    a = ConditionalLM(V, 0, condition="init", hidden_size=16)
    b = ConditionalLM(V, K, condition="none", hidden_size=16)
    assert a.mode == b.mode == "none"
    assert [n for n, _ in a.named_parameters()] == [n for n, _ in b.named_parameters()]
    assert not any("class" in n or "init_" in n for n, _ in a.named_parameters())


@pytest.mark.parametrize("condition,cell", CASES)
def test_greedy_equals_top1_sample_and_single_beam_with_condition(
    condition: str, cell: str
) -> None:
    m = tiny(condition, cell)
    for c in range(K):
        cond = torch.tensor([c])
        g = generate(m, [[BOS_ID]], DecodeConfig("greedy", max_new_tokens=8), condition=cond)
        s = generate(m, [[BOS_ID]], DecodeConfig("sample", max_new_tokens=8, top_k=1),
                     torch.Generator().manual_seed(0), condition=cond)
        b = beam_search(m, [BOS_ID], num_beams=1, max_new_tokens=8, condition=c)[0][0]
        via_cfg = generate(m, [[BOS_ID]], DecodeConfig("beam_search", 8, num_beams=1),
                           condition=cond)
        assert g == s and g[0] == b == via_cfg[0]


@pytest.mark.parametrize("condition", ["init", "concat"])
def test_rows_decoded_together_follow_their_own_class(condition: str) -> None:
    m = tiny(condition, "lstm", seed=3)
    cfg = DecodeConfig("greedy", max_new_tokens=6)
    together = generate(m, [[BOS_ID, 4]] * K, cfg, condition=torch.arange(K))
    alone = [generate(m, [[BOS_ID, 4]], cfg, condition=torch.tensor([c]))[0] for c in range(K)]
    assert together == alone


@torch.no_grad()
def seq_logprob(model: ConditionalLM, seq: list[int], label: int, ended: bool) -> float:
    x = torch.tensor([[BOS_ID, *seq]])
    batch = CondBatch(x, None, None, torch.tensor([label]))  # type: ignore[arg-type]
    logp = torch.log_softmax(model(batch).logits[0].double(), -1)
    total = sum(float(logp[t, tok]) for t, tok in enumerate(seq))
    return total + (float(logp[len(seq), EOS_ID]) if ended else 0.0)


@pytest.mark.parametrize("condition,cell", CASES)
def test_beam_search_equals_brute_force_with_condition(condition: str, cell: str) -> None:
    vocab, L = 6, 3
    m = tiny(condition, cell, seed=1, vocab=vocab)
    # what decoding may emit besides <eos>: everything but <pad> and <bos> (so <unk> too)
    symbols = [t for t in range(vocab) if t not in (PAD_ID, BOS_ID, EOS_ID)]
    for c in range(K):
        scored = []
        for n in range(L + 1):
            for seq in itertools.product(symbols, repeat=n):
                # a sequence of length L may also stop by the length limit
                for ended in ([True, False] if n == L else [True]):
                    scored.append((seq_logprob(m, list(seq), c, ended), list(seq)))
        scored.sort(key=lambda p: -p[0])
        hyps = beam_search(m, [BOS_ID], num_beams=50, max_new_tokens=L, condition=c)
        assert hyps[0][0] == scored[0][1]
        assert abs(hyps[0][1] - scored[0][0]) < 1e-6  # beam scores accumulate in float32
        top = torch.tensor([s for _, s in hyps[:5]], dtype=torch.float64)
        ref = torch.tensor([s for s, _ in scored[:5]], dtype=torch.float64)
        assert torch.allclose(top, ref, atol=1e-5)


@pytest.mark.parametrize("condition,cell", [*CASES, ("none", "gru")])
def test_checkpoint_round_trip_gives_identical_logits(condition: str, cell: str) -> None:
    m = tiny(condition, cell, num_layers=2).float()
    m2 = rebuild(type(m).__name__, m.hparams)
    m2.load_state_dict(m.state_dict())
    m2.eval()
    b = cond_batch([[4, 5, 6], [6]], [1, 2])
    assert torch.equal(m(b).logits, m2(b).logits)
    la, _ = m.prefill(b.inputs[:, :2], b.labels)
    lb, _ = m2.prefill(b.inputs[:, :2], b.labels)
    assert torch.equal(la, lb)


@pytest.mark.parametrize("condition,cell", CASES)
def test_target_log_probs_equal_log_softmax_of_forward(
    condition: str, cell: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a budget of 3 rows of logits makes the output layer run over several chunks
    monkeypatch.setattr("rnnlab.models.lm.LOGIT_BUDGET", 3 * V)
    m = tiny(condition, cell)
    b = cond_batch([[4, 5, 6, 4], [5], [6, 4]], [1, 0, 2])
    lp, state = m.target_log_probs(b)
    out = m(b)
    picked = torch.log_softmax(out.logits, -1).gather(2, b.targets.clamp_min(0).unsqueeze(2))
    ref = picked.squeeze(2).masked_fill(b.targets == IGNORE_INDEX, 0.0)  # (B, T)
    assert torch.allclose(lp, ref, atol=1e-10)
    assert bool((lp[b.targets == IGNORE_INDEX] == 0).all())
    assert torch.allclose(-lp.sum() / (b.targets != IGNORE_INDEX).sum(), out.loss, atol=1e-10)
    finals = state if isinstance(state, tuple) else (state,)
    expected = out.state if isinstance(out.state, tuple) else (out.state,)
    assert all(torch.equal(a, e) for a, e in zip(finals, expected, strict=True))


@pytest.mark.parametrize("condition", ["init", "concat"])
def test_fused_loss_equals_forward_loss_and_gradients(condition: str) -> None:
    m = tiny(condition, "lstm").train()
    b = cond_batch([[4, 5, 6, 4], [5]], [1, 2])
    loss, _ = m.loss(b)
    grads = torch.autograd.grad(loss, list(m.parameters()))
    ref = m(b).loss
    ref_grads = torch.autograd.grad(ref, list(m.parameters()))
    assert torch.allclose(loss, ref, atol=1e-10)
    assert all(torch.allclose(g, r, atol=1e-10) for g, r in zip(grads, ref_grads, strict=True))


def test_user_errors_name_the_fix() -> None:
    with pytest.raises(RnnlabError, match="condition must be one of"):
        ConditionalLM(V, K, condition="prefix")
    m = tiny("init")
    with pytest.raises(RnnlabError, match="give a class id"):
        m.prefill(torch.tensor([[BOS_ID]]))
    with pytest.raises(RnnlabError, match=r"class ids must be in \[0, 3\)"):
        m.prefill(torch.tensor([[BOS_ID]]), torch.tensor([K]))
    with pytest.raises(RnnlabError, match="one class per prompt row"):
        m.prefill(torch.tensor([[BOS_ID]]), torch.tensor([0, 1]))
