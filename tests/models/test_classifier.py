"""SequenceClassifier against references: padding invariance for every pooling, `last` ==
torch.nn.GRU's final state, attention weights, class weights == F.cross_entropy, checkpoint
round trip, a training step."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rnnlab.errors import RnnlabError
from rnnlab.models import rebuild
from rnnlab.models.base import ClassBatch
from rnnlab.models.classifier import POOLS, SequenceClassifier

V, K = 11, 3


def _batch(seqs: list[list[int]], labels: list[int] | None = None) -> ClassBatch:
    T = max(len(s) for s in seqs)
    inputs = torch.zeros(len(seqs), T, dtype=torch.int64)  # <pad> = 0
    for i, s in enumerate(seqs):
        inputs[i, : len(s)] = torch.tensor(s)
    lengths = torch.tensor([len(s) for s in seqs])
    y = None if labels is None else torch.tensor(labels)
    return ClassBatch(inputs, lengths, y)


def _model(**kw) -> SequenceClassifier:
    torch.manual_seed(0)
    kw = {"embedding_dim": 5, "hidden_size": 4, **kw}
    return SequenceClassifier(V, K, **kw).double().eval()


SEQS = [[3, 1, 4], [1, 5, 9, 2, 6, 5], [3, 5], [8, 9, 7, 9, 3]]  # unsorted lengths 3 6 2 5

# every pool x both directions x both implementations; cells rotate so each appears with each
CASES = [
    (pool, bi, impl, ("gru", "lstm", "rnn")[i % 3])
    for i, (pool, bi, impl) in enumerate(itertools.product(POOLS, (False, True),
                                                           ("fused", "loop")))
]


@pytest.mark.parametrize("pool,bidirectional,impl,cell", CASES)
def test_padding_invariance(pool, bidirectional, impl, cell):
    model = _model(cell=cell, pool=pool, bidirectional=bidirectional, impl=impl, num_layers=2)
    batched = model(_batch(SEQS)).logits  # (4, K)
    for i, s in enumerate(SEQS):
        alone = model(_batch([s])).logits  # (1, K), no padding at all
        torch.testing.assert_close(batched[i : i + 1], alone, atol=1e-10, rtol=0)


def test_fused_and_loop_agree_on_padded_batch():
    fused = _model(cell="lstm", pool="attention", bidirectional=True)
    loop = _model(cell="lstm", pool="attention", bidirectional=True, impl="loop")
    sd = fused.state_dict()
    ours = loop.state_dict()
    for k in list(ours):  # rnn.cells.{layer*D+d}.w  <-  rnn.rnn.w_l{layer}[_reverse]
        if k.startswith("rnn.cells."):
            idx, name = k.split(".")[2], k.split(".")[3]
            ours[k] = sd[f"rnn.rnn.{name}_l0" + ("_reverse" if idx == "1" else "")]
        else:
            ours[k] = sd[k]
    loop.load_state_dict(ours)
    b = _batch(SEQS)
    torch.testing.assert_close(loop(b).logits, fused(b).logits, atol=1e-10, rtol=0)


def _pooled(model: SequenceClassifier, batch: ClassBatch) -> torch.Tensor:
    seen = []
    hook = model.head.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    model(batch)
    hook.remove()
    return seen[0]  # the head's input: the pooled vector (B, D*H)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("impl", ["fused", "loop"])
def test_last_pool_equals_torch_gru_final_state(bidirectional, impl):
    model = _model(cell="gru", pool="last", bidirectional=bidirectional, impl=impl)
    ref = nn.GRU(5, 4, batch_first=True, bidirectional=bidirectional).double()
    with torch.no_grad():
        for d, suffix in enumerate(["", "_reverse"][: 1 + bidirectional]):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                src = (getattr(model.rnn.rnn, f"{name}_l0{suffix}") if impl == "fused"
                       else getattr(model.rnn.cells[d], name))
                getattr(ref, f"{name}_l0{suffix}").copy_(src)
    z = _pooled(model, _batch(SEQS))
    for i, s in enumerate(SEQS):
        emb = model.embedding(torch.tensor([s]))  # (1, n, E), unpadded
        _, h_n = ref(emb)  # (D, 1, H)
        torch.testing.assert_close(z[i], torch.cat(list(h_n[:, 0])), atol=1e-10, rtol=0)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_attention_weights_sum_to_one_over_real_steps(bidirectional):
    model = _model(pool="attention", bidirectional=bidirectional)
    b = _batch(SEQS)
    a = model.attention_weights(b)  # (B, T)
    assert a.shape == b.inputs.shape
    mask = torch.arange(b.inputs.shape[1]) < b.lengths.unsqueeze(1)
    torch.testing.assert_close(a.sum(1), torch.ones(len(SEQS), dtype=a.dtype))
    assert bool((a[~mask] == 0).all()) and bool((a[mask] > 0).all())
    # the pooled vector is the weighted sum of the real outputs, with these weights
    emb = model.embedding(b.inputs)
    out, _ = model.rnn(emb, None, b.lengths)
    torch.testing.assert_close(_pooled(model, b), torch.einsum("bt,bth->bh", a, out))


def test_attention_weights_need_attention_pool():
    with pytest.raises(RnnlabError, match="pool='attention'"):
        _model(pool="mean").attention_weights(_batch(SEQS))


def test_class_weights_loss_equals_cross_entropy():
    w = [0.5, 2.0, 1.0]
    model = _model(class_weights=w)
    b = _batch(SEQS, [0, 1, 1, 2])
    out = model(b)
    ref = F.cross_entropy(out.logits, b.labels, weight=torch.tensor(w, dtype=torch.float64))
    torch.testing.assert_close(out.loss, ref)
    unweighted = _model()(b)
    torch.testing.assert_close(unweighted.loss, F.cross_entropy(unweighted.logits, b.labels))
    assert model(b._replace(labels=None)).loss is None


@pytest.mark.parametrize("pool", ["attention", "max"])
def test_checkpoint_round_trip(pool, tmp_path):
    model = _model(cell="lstm", pool=pool, bidirectional=True, class_weights=[1.0, 3.0, 2.0])
    path = tmp_path / "m.pt"
    torch.save({"hparams": model.hparams, "state": model.state_dict()}, path)
    payload = torch.load(path, weights_only=True)
    again = rebuild("SequenceClassifier", payload["hparams"]).double().eval()
    again.load_state_dict(payload["state"])
    b = _batch(SEQS, [0, 1, 2, 1])
    assert torch.equal(again(b).logits, model(b).logits)
    assert torch.equal(again(b).loss, model(b).loss)
    assert again.class_weights.tolist() == [1.0, 3.0, 2.0]


@pytest.mark.parametrize("pool", POOLS)
def test_one_step_lowers_the_loss(pool):
    torch.manual_seed(0)
    model = SequenceClassifier(V, K, embedding_dim=8, hidden_size=8, pool=pool)
    b = _batch(SEQS, [0, 1, 2, 1])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss = model(b).loss
    loss.backward()
    assert all(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in model.parameters())
    opt.step()
    with torch.no_grad():
        assert model(b).loss.item() < loss.item()


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"cell": "transformer"}, "cell must be one of"),
        ({"pool": "sum"}, "pool must be one of"),
        ({"num_classes": 1}, "num_classes >= 2"),
        ({"hidden_size": 0}, "hidden_size must be"),
        ({"dropout": 1.0}, "dropout must lie"),
        ({"class_weights": [1.0, 2.0]}, "one weight per class"),
    ],
)
def test_user_errors(kw, match):
    kw = {"vocab_size": V, "num_classes": K, **kw}
    with pytest.raises(RnnlabError, match=match):
        SequenceClassifier(**kw)


def test_embedding_dropout_zeroes_embedded_entries_in_training_only():
    m = _model(embedding_dropout=0.5)
    b = _batch(SEQS)
    emb = m.embedding(b.inputs)
    m.train()
    torch.manual_seed(1)
    dropped = m.embedding_drop(emb)
    kept = dropped != 0
    # kept entries are scaled by 1 / (1 - p), dropped ones are exactly 0
    assert torch.allclose(dropped[kept], 2 * emb[kept])
    real = emb != 0  # <pad> embeds to zeros
    assert 0.3 < (~kept[real]).double().mean() < 0.7
    m.eval()
    assert torch.equal(m(b).logits, m(b).logits)  # eval: no dropout, deterministic
    assert torch.equal(m.embedding_drop(emb), emb)
    assert rebuild("SequenceClassifier", m.hparams).hparams["embedding_dropout"] == 0.5


def test_word_dropout_rate_follows_alpha_over_alpha_plus_frequency():
    freq = [0, 0, 1, 3, 1, 1, 1, 1, 1, 1, 1]  # <pad> <unk>; token 3 seen 3 times
    m = _model(word_dropout=1.0, token_freq=freq)
    x = torch.full((400, 50), 3, dtype=torch.int64)
    x[:, 40:] = 0  # padding never becomes <unk>
    m.train()
    torch.manual_seed(0)
    out = m._drop_words(x)
    assert torch.equal(out[:, 40:], x[:, 40:])
    rate = (out[:, :40] == 1).double().mean().item()
    assert abs(rate - 1.0 / (1.0 + 3)) < 0.01  # alpha / (alpha + f) = 0.25
    m.eval()
    assert torch.equal(m._drop_words(x), x)  # evaluation reads every token
    plain = _model()
    plain.load_state_dict({k: v for k, v in m.state_dict().items() if k != "token_freq"})
    b = _batch(SEQS)
    assert torch.equal(m(b).logits, plain(b).logits)
    again = rebuild("SequenceClassifier", m.hparams)
    again.load_state_dict(m.state_dict())  # the counts travel with the weights
    assert again.token_freq.tolist() == freq


def test_word_dropout_counts_need_one_per_token():
    with pytest.raises(RnnlabError, match="one training count per token"):
        SequenceClassifier(V, K, word_dropout=0.25, token_freq=[1, 2])
