"""LinearChainCRF against brute-force enumeration of all K^T paths (float64), gradcheck of
the nll, and padding invariance."""

from __future__ import annotations

import itertools

import pytest
import torch

from rnnlab.errors import RnnlabError
from rnnlab.models.crf import LinearChainCRF

K = 3
LENGTHS = [4, 1, 3, 2]  # one batch with different real lengths


def _crf(seed: int = 0) -> LinearChainCRF:
    torch.manual_seed(seed)
    crf = LinearChainCRF(K).double()
    with torch.no_grad():  # non-zero scores, so every term of s(x, y) matters
        crf.transitions.normal_()
        crf.start.normal_()
        crf.end.normal_()
    return crf


def _batch(lengths=LENGTHS, T: int | None = None, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    T = T or max(lengths)
    emissions = torch.randn(len(lengths), T, K, generator=g, dtype=torch.float64)
    mask = torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]
    return emissions, mask


def _path_score(crf: LinearChainCRF, e: torch.Tensor, path: tuple[int, ...]) -> torch.Tensor:
    """s(x, y) written out term by term for one unpadded sequence e (L, K)."""
    s = crf.start[path[0]] + e[0, path[0]]
    for t in range(1, len(path)):
        s = s + crf.transitions[path[t - 1], path[t]] + e[t, path[t]]
    return s + crf.end[path[-1]]


def _all_paths(crf, e):
    """Every path of length L = e.shape[0] and its score, all K^L at once."""
    paths = list(itertools.product(range(K), repeat=e.shape[0]))
    y = torch.tensor(paths)  # (K^L, L)
    scores = (crf.start[y[:, 0]] + e[torch.arange(e.shape[0]), y].sum(1)
              + crf.transitions[y[:, :-1], y[:, 1:]].sum(1) + crf.end[y[:, -1]])
    assert scores[-1].item() == pytest.approx(_path_score(crf, e, paths[-1]).item(), abs=1e-12)
    return paths, scores


def test_log_partition_decode_and_marginals_equal_brute_force():
    crf = _crf()
    emissions, mask = _batch()
    log_z = crf.log_partition(emissions, mask)
    best = crf.decode(emissions, mask)
    marg = crf.marginals(emissions, mask)
    for b, L in enumerate(LENGTHS):
        paths, scores = _all_paths(crf, emissions[b, :L])
        assert log_z[b].item() == pytest.approx(torch.logsumexp(scores, 0).item(), abs=1e-12)
        assert best[b, :L].tolist() == list(paths[int(scores.argmax())])
        assert best[b, L:].tolist() == [0] * (max(LENGTHS) - L)
        p = torch.softmax(scores, 0)
        expected = torch.zeros(L, K, dtype=torch.float64)
        for path, pk in zip(paths, p, strict=True):
            expected[torch.arange(L), torch.tensor(path)] += pk
        torch.testing.assert_close(marg[b, :L], expected, rtol=0, atol=1e-12)
        assert torch.all(marg[b, L:] == 0)
    torch.testing.assert_close(marg.sum(2), mask.double(), rtol=0, atol=1e-12)


def test_score_and_nll_equal_the_written_out_sum():
    crf = _crf(2)
    emissions, mask = _batch(seed=3)
    g = torch.Generator().manual_seed(4)
    tags = torch.randint(0, K, mask.shape, generator=g)
    score = crf.score(emissions, tags, mask)
    nll = crf.nll(emissions, tags, mask)
    for b, L in enumerate(LENGTHS):
        path = tuple(tags[b, :L].tolist())
        s = _path_score(crf, emissions[b, :L], path)
        assert score[b].item() == pytest.approx(s.item(), abs=1e-12)
        _, scores = _all_paths(crf, emissions[b, :L])
        assert nll[b].item() == pytest.approx((torch.logsumexp(scores, 0) - s).item(), abs=1e-12)
    assert torch.all(nll > 0)  # -log p(y | x) of a normalized distribution over K^L paths


def test_nll_gradients_match_finite_differences():
    crf = _crf(5)
    emissions, mask = _batch([3, 1, 2], seed=6)
    tags = torch.tensor([[0, 2, 1], [1, 0, 0], [2, 2, 0]])
    emissions.requires_grad_(True)

    def f(e, trans, start, end):
        params = {"transitions": trans, "start": start, "end": end}
        return torch.func.functional_call(crf, params, (e, tags, mask))  # forward = nll

    params = [p.detach().clone().requires_grad_(True)
              for p in (crf.transitions, crf.start, crf.end)]
    assert torch.autograd.gradcheck(f, (emissions, *params), eps=1e-6, atol=1e-7)


def test_gradient_of_log_partition_is_the_marginals():
    # d log Z / d e_t(k) = p(y_t = k | x): forward-backward agrees with autograd.
    crf = _crf(7)
    emissions, mask = _batch(seed=8)
    emissions.requires_grad_(True)
    crf.log_partition(emissions, mask).sum().backward()
    torch.testing.assert_close(emissions.grad, crf.marginals(emissions.detach(), mask),
                               rtol=0, atol=1e-12)


def test_padding_changes_nothing():
    crf = _crf(9)
    emissions, mask = _batch([3, 2], seed=10)
    tags = torch.tensor([[1, 0, 2], [2, 1, 0]])
    # The same sequences inside a longer batch, with garbage scores and tags in the padding.
    pad_e = torch.randn(2, 3, K, dtype=torch.float64) * 100
    long_e = torch.cat([emissions, pad_e], 1)
    long_e[1, 2:] = 50.0
    long_mask = torch.cat([mask, torch.zeros(2, 3, dtype=torch.bool)], 1)
    long_tags = torch.cat([tags, torch.full((2, 3), 2)], 1)
    long_tags[1, 2] = 1
    for short, long in [
        (crf.nll(emissions, tags, mask), crf.nll(long_e, long_tags, long_mask)),
        (crf.log_partition(emissions, mask), crf.log_partition(long_e, long_mask)),
        (crf.marginals(emissions, mask), crf.marginals(long_e, long_mask)[:, :3]),
        (crf.decode(emissions, mask), crf.decode(long_e, long_mask)[:, :3]),
    ]:
        torch.testing.assert_close(short, long, rtol=0, atol=1e-12)
    # and each sequence alone gives what it gives in the batch
    alone = crf.nll(emissions[1:, :2], tags[1:, :2], mask[1:, :2])
    torch.testing.assert_close(alone, crf.nll(long_e, long_tags, long_mask)[1:], rtol=0,
                               atol=1e-12)


def test_bad_shapes_and_masks_are_refused():
    crf = LinearChainCRF(K)
    e = torch.zeros(2, 3, K)
    with pytest.raises(RnnlabError, match="emissions must be"):
        crf.log_partition(torch.zeros(2, 3, K + 1), torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(RnnlabError, match="mask must be"):
        crf.log_partition(e, torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(RnnlabError, match=r"mask\[:, 0\]"):
        crf.decode(e, torch.tensor([[True, True, False], [False, True, True]]))
    with pytest.raises(RnnlabError, match="num_tags"):
        LinearChainCRF(0)
