"""Seq2Seq: prefill/step == teacher-forced forward for every cell and attention; padding a
source changes nothing; attention is 0 on padding and sums to 1; the loss is the mean
cross-entropy over real targets, chunked, fused or not; scheduled sampling feeds the model's own
draws; checkpoint round trip; bad hyper-parameters are refused."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

import rnnlab.models.seq2seq as s2s
from rnnlab.data.tokenizers import BOS_ID, EOS_ID, PAD_ID
from rnnlab.errors import RnnlabError
from rnnlab.losses import IGNORE_INDEX
from rnnlab.models.base import PairBatch
from rnnlab.models.seq2seq import Seq2Seq

VS, VT = 9, 8
KINDS = list(itertools.product(("gru", "lstm"), ("additive", "multiplicative", "none")))


def tiny(cell: str = "gru", attention: str = "additive", seed: int = 0, **kw) -> Seq2Seq:
    torch.manual_seed(seed)
    kw = {"embedding_dim": 6, "hidden_size": 8, "dropout": 0.0, **kw}
    return Seq2Seq(VS, VT, cell, attention=attention, **kw).double().eval()


def pair_batch(sources: list[list[int]], targets: list[list[int]]) -> PairBatch:
    """Right-padded PairBatch: inputs <bos> y, targets y <eos>."""
    S = max(map(len, sources))
    T = max(map(len, targets)) + 1
    src = torch.tensor([s + [PAD_ID] * (S - len(s)) for s in sources])
    inputs = torch.tensor([[BOS_ID, *y] + [PAD_ID] * (T - 1 - len(y)) for y in targets])
    tgt = torch.tensor([[*y, EOS_ID] + [IGNORE_INDEX] * (T - 1 - len(y)) for y in targets])
    return PairBatch(src, torch.tensor([len(s) for s in sources]), inputs, tgt)


BATCH = pair_batch([[4, 5, 6, 7, 8], [5, 6]], [[4, 5, 6, 7], [7]])


@pytest.mark.parametrize("cell,attention", KINDS)
@pytest.mark.parametrize("layers,bidirectional,feeding", [(1, True, True), (2, False, False)])
def test_prefill_step_equal_teacher_forced_forward(
    cell: str, attention: str, layers: int, bidirectional: bool, feeding: bool
) -> None:
    m = tiny(cell, attention, num_layers=layers, bidirectional=bidirectional,
             input_feeding=feeding)
    full = m(BATCH).logits  # (B, T, V)
    logits, state = m.prefill(BATCH.src, BATCH.src_lengths)
    assert torch.allclose(logits, full[:, 0], atol=1e-12)
    for t in range(1, BATCH.inputs.shape[1]):
        logits, state = m.step(BATCH.inputs[:, t], state)
        real = BATCH.targets[:, t] != IGNORE_INDEX
        assert torch.allclose(logits[real], full[real, t], atol=1e-12)


@pytest.mark.parametrize("cell,attention", KINDS)
def test_padding_a_source_changes_nothing(cell: str, attention: str) -> None:
    m = tiny(cell, attention)
    alone = pair_batch([[5, 6]], [[7, 4]])
    padded = pair_batch([[5, 6], [4, 5, 6, 7, 8, 4, 5]], [[7, 4], [4, 5, 6, 7, 4, 4]])
    a = m(alone).logits[0]  # (T, V)
    b = m(padded).logits[0, : a.shape[0]]
    assert torch.allclose(a, b, atol=1e-12)
    # the same through decoding; prefill infers each source's length from its padding
    la, sa = m.prefill(alone.src)
    lb, sb = m.prefill(padded.src)
    assert torch.allclose(la[0], lb[0], atol=1e-12)
    for tok in (7, 4, 5):
        la, sa = m.step(torch.tensor([tok]), sa)
        lb, sb = m.step(torch.tensor([tok, tok]), sb)
        assert torch.allclose(la[0], lb[0], atol=1e-12)


@pytest.mark.parametrize("attention", ["additive", "multiplicative"])
def test_attention_is_zero_on_padding_and_sums_to_one(attention: str) -> None:
    m = tiny("gru", attention)
    _, state = m.prefill(BATCH.src, BATCH.src_lengths)
    for tok in (4, 5, 6):
        a = state.attention  # (B, S)
        assert (a[~state.mask] == 0).all()
        assert (a[state.mask] > 0).all()
        assert torch.allclose(a.sum(1), torch.ones(2, dtype=a.dtype), atol=1e-12)
        _, state = m.step(torch.tensor([tok, tok]), state)


def test_attention_equations_by_hand() -> None:
    """Additive and multiplicative scores computed from the docstring's formulas."""
    for attention in ("additive", "multiplicative"):
        m = tiny("gru", attention)
        _, state = m.prefill(BATCH.src, BATCH.src_lengths)
        q = state.hidden[-1]  # (B, H): the top layer's h_1 is the query
        mem = state.memory  # (B, S, H)
        if attention == "additive":
            e = torch.tanh(mem @ m.key_proj.weight.T + (q @ m.query_proj.weight.T
                                                         + m.query_proj.bias).unsqueeze(1))
            score = (e @ m.score_v.weight.T).squeeze(-1)
        else:
            score = torch.einsum("bh,hk,bsk->bs", q, m.key_proj.weight, mem)
        score = score.masked_fill(~state.mask, -float("inf"))
        assert torch.allclose(state.attention, score.softmax(-1), atol=1e-12)
        c = (state.attention.unsqueeze(-1) * mem).sum(1)
        h_tilde = torch.tanh(torch.cat([c, q], -1) @ m.combine.weight.T)
        assert torch.allclose(state.feed, h_tilde, atol=1e-12)


def test_loss_is_mean_cross_entropy_over_real_targets_chunked_or_not(monkeypatch) -> None:
    m = tiny("lstm", "additive")
    out = m(BATCH)
    real = BATCH.targets != IGNORE_INDEX
    logp = out.logits.log_softmax(-1)
    want = -logp[real].gather(1, BATCH.targets[real].unsqueeze(1)).mean()
    assert torch.allclose(out.loss, want, atol=1e-12)
    m.zero_grad()
    out.loss.backward()
    grads = [p.grad.clone() for p in m.parameters()]
    monkeypatch.setattr(s2s, "LOGIT_BUDGET", 3 * VT)  # 3 rows a chunk: 4 chunks of 10 rows
    m.zero_grad()
    chunked = m(BATCH)
    assert chunked.logits is None
    assert torch.allclose(chunked.loss, want, atol=1e-12)
    chunked.loss.backward()
    for g, p in zip(grads, m.parameters(), strict=True):
        assert torch.allclose(g, p.grad, atol=1e-12)
    lp, _ = m.target_log_probs(BATCH)
    assert torch.allclose(-lp[real].mean(), want, atol=1e-12)
    assert (lp[~real] == 0).all()


@pytest.mark.parametrize("attention", ["additive", "none"])
def test_fused_loss_equals_forward_loss_and_gradients(attention: str, monkeypatch) -> None:
    m = tiny("gru", attention)
    want = m(BATCH).loss
    want.backward()
    grads = [p.grad.clone() for p in m.parameters()]
    for budget in (10**9, 3 * VT):  # fused, then past the budget the chunked path
        monkeypatch.setattr(s2s, "LOGIT_BUDGET", budget)
        m.zero_grad()
        loss, state = m.loss(BATCH)
        assert state is None
        assert torch.allclose(loss, want, atol=1e-12)
        loss.backward()
        for g, p in zip(grads, m.parameters(), strict=True):
            assert torch.allclose(g, p.grad, atol=1e-12)
    # bfloat16 products: the loss within bf16 rounding of the float64 one
    monkeypatch.setattr(s2s, "LOGIT_BUDGET", 10**9)
    low, _ = m.float().loss(BATCH, None, torch.bfloat16)
    assert abs(low.item() - want.item()) < 2e-2


def test_label_smoothing_matches_torch_in_training_and_is_off_in_eval(monkeypatch) -> None:
    m = tiny("gru", "additive", label_smoothing=0.1).train()  # dropout 0: deterministic
    with torch.no_grad():
        logits = m.eval()(BATCH).logits.reshape(-1, VT)
    targets = BATCH.targets.reshape(-1)
    want = F.cross_entropy(logits, targets, ignore_index=IGNORE_INDEX, label_smoothing=0.1)
    plain = F.cross_entropy(logits, targets, ignore_index=IGNORE_INDEX)
    assert torch.allclose(m(BATCH).loss, plain, atol=1e-12)  # eval: the NLL
    m.train()
    ref = m(BATCH).loss  # the torch path
    assert torch.allclose(ref, want, atol=1e-12)
    ref.backward()
    grads = [p.grad.clone() for p in m.parameters()]
    for budget in (10**9, 3 * VT):  # LinearCE, then ChunkedHeadCE
        monkeypatch.setattr(s2s, "LOGIT_BUDGET", budget)
        m.zero_grad()
        loss, _ = m.loss(BATCH)
        assert torch.allclose(loss, want, atol=1e-12)
        loss.backward()
        for g, p in zip(grads, m.parameters(), strict=True):
            assert torch.allclose(g, p.grad, atol=1e-12)
    with pytest.raises(RnnlabError, match="label_smoothing"):
        tiny(label_smoothing=1.0)


def test_scheduled_sampling_feeds_the_models_own_draws() -> None:
    m = tiny("gru", "additive", scheduled_sampling=1.0).train()  # dropout 0: no other noise
    b = pair_batch([[4, 5, 6]], [[4, 5, 6, 7, 4]])
    torch.manual_seed(3)
    loss = m(b).loss
    # replay: every input after <bos> is drawn from the previous step's softmax
    torch.manual_seed(3)
    logits, state = m.prefill(b.src, b.src_lengths)
    steps = [logits]
    for _ in range(1, b.inputs.shape[1]):
        drawn = torch.multinomial(logits.float().softmax(-1), 1).squeeze(1)
        torch.rand(1)  # the coin that chose the draw (always, at p = 1)
        logits, state = m.step(drawn, state)
        steps.append(logits)
    want = F.cross_entropy(torch.cat(steps), b.targets[0])
    assert torch.allclose(loss, want, atol=1e-12)
    m.eval()  # no sampling outside training: back to teacher forcing
    assert not torch.allclose(m(b).loss, want)


def test_tied_embeddings_and_checkpoint_round_trip(tmp_path) -> None:
    from rnnlab.models import rebuild

    m = tiny("lstm", "multiplicative", embedding_dim=8, tie_embeddings=True, num_layers=2)
    assert m.head.weight is m.tgt_embedding.weight
    path = tmp_path / "m.pt"
    torch.save({"hparams": m.hparams, "state": m.state_dict()}, path)
    saved = torch.load(path)
    r = rebuild("Seq2Seq", saved["hparams"])
    r.double().load_state_dict(saved["state"])
    r.eval()
    assert r.head.weight is r.tgt_embedding.weight
    assert torch.equal(r(BATCH).logits, m(BATCH).logits)


@pytest.mark.parametrize("bad", [
    dict(cell="rnn"), dict(attention="dot"), dict(hidden_size=7), dict(dropout=1.0),
    dict(scheduled_sampling=1.5), dict(tie_embeddings=True), dict(tgt_vocab_size=4),
    dict(num_layers=0),
])
def test_bad_hyper_parameters_are_refused(bad: dict) -> None:
    kw = {"src_vocab_size": VS, "tgt_vocab_size": VT, "embedding_dim": 6, "hidden_size": 8,
          **bad}
    with pytest.raises(RnnlabError):
        Seq2Seq(**kw)


def test_empty_source_is_refused() -> None:
    with pytest.raises(RnnlabError, match="empty source"):
        tiny().prefill(torch.tensor([[PAD_ID, PAD_ID]]))
