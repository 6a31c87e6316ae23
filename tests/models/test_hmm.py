"""HMMTagger against enumeration of all K^T tag paths, hand counts, and a checkpoint round
trip, for order 1 and order 2."""

from __future__ import annotations

import io
import itertools
import math

import numpy as np
import pytest
import torch

from rnnlab.errors import RnnlabError
from rnnlab.models.hmm import HMMTagger, decode_strings, encode_strings

D, N, V = 0, 1, 2  # determiner, noun, verb; S = 3 is the boundary tag
CORPUS = [
    ("the dog runs".split(), [D, N, V]),
    ("the cat runs".split(), [D, N, V]),
    ("Dogs run".split(), [N, V]),
    ("the run".split(), [D, N]),
]
# known, unknown, capitalized unknown and ambiguous words, lengths 1..4
SENTENCES = [["run"], ["the", "cats"], ["Rex", "run", "runs"], ["the", "dog", "bats", "run"],
             ["runs", "the", "Dogs", "zzz"]]


def _fit(order: int, **kw) -> HMMTagger:
    model = HMMTagger(3, order=order, **kw)
    model.fit_counts(CORPUS)
    return model


def _enumerate(model: HMMTagger, words: list[str]):
    paths = list(itertools.product(range(3), repeat=len(words)))
    return paths, np.array([model.joint_log_prob(words, p) for p in paths])


@pytest.mark.parametrize("order", [1, 2])
def test_viterbi_likelihood_and_posteriors_equal_brute_force(order):
    model = _fit(order)
    for words in SENTENCES:
        paths, logp = _enumerate(model, words)
        assert model.tag([words]) == [list(paths[int(logp.argmax())])]
        total = np.logaddexp.reduce(logp)
        assert model.log_likelihood(words) == pytest.approx(total, abs=1e-10)
        post = model.posteriors(words)
        expected = np.zeros((len(words), 3))
        for path, lp in zip(paths, logp, strict=True):
            expected[np.arange(len(words)), path] += np.exp(lp - total)
        np.testing.assert_allclose(post, expected, rtol=0, atol=1e-12)
        np.testing.assert_allclose(post.sum(1), 1.0, rtol=0, atol=1e-12)
    assert model.tag([[]]) == [[]]
    assert model.posteriors([]).shape == (0, 3)


def test_lambdas_equal_hand_deleted_interpolation():
    # Order 1, bigrams (y2 y3) with counts: (S D) 3, (D N) 3, (N V) 3, (V S) 3 vote for l2;
    # (S N) 1 and (N S) 1 have (1 - 1) / (f(y2) - 1) = 0 < (f(y3) - 1) / 13 and vote for l1.
    np.testing.assert_allclose(_fit(1).lambdas.numpy(), [2 / 14, 12 / 14, 0.0], atol=1e-15)
    # Order 2: (S S D) 3 ties l2/l3 (2/3, 2/3), (S D N) 3 ties (1, 1), (N V S) 3 ties (1, 1),
    # (D N V) 2 -> l2 (2/3 > 1/2), (S N V) 1 -> l2, (S S N) 1 and (D N S) 1 -> l1.
    lam = _fit(2).lambdas.numpy()
    np.testing.assert_allclose(lam, [2 / 14, 7.5 / 14, 4.5 / 14], atol=1e-15)
    assert lam.sum() == pytest.approx(1.0, abs=1e-15)


def test_probabilities_equal_hand_counts():
    S = 3
    m1, m2 = _fit(1), _fit(2)
    # emissions: f(dog, N) / f(N) = 1/4, f(runs, V) / f(V) = 2/3, "run" is N once and V once
    e = m2.log_emissions(["dog", "runs", "run"])
    np.testing.assert_allclose(np.exp(e), [[0, 1 / 4, 0], [0, 0, 2 / 3], [0, 1 / 4, 1 / 3]],
                               atol=1e-15)
    # unigram f(N) / N = 4/14 (14 predicted tags: 10 tokens + 4 ends), bigram f(D N)/f(D) = 1
    l1, l2, l3 = m2.lambdas.tolist()
    assert m2._tables()["trans"][S, D, N] == pytest.approx(l1 * 4 / 14 + l2 * 1 + l3 * 1)
    # trigram f(S S N) / f(S S) = 1/4, bigram f(S N) / f(S) = 1/4, unigram 4/14
    assert m2._tables()["trans"][S, S, N] == pytest.approx(l1 * 4 / 14 + l2 / 4 + l3 / 4)
    # order 1: p(V | N) = 1/7 * 3/14 + 6/7 * f(N V) / f(N) = 3/4; p(S | V) has f(V S) / f(V) = 1
    assert m1._tables()["trans"][N, V] == pytest.approx(1 / 7 * 3 / 14 + 6 / 7 * 3 / 4)
    assert m1._tables()["trans"][V, S] == pytest.approx(1 / 7 * 4 / 14 + 6 / 7 * 1)
    # every transition row is a distribution over the K+1 next tags
    np.testing.assert_allclose(m1._tables()["trans"].sum(-1), 1.0, atol=1e-15)
    np.testing.assert_allclose(m2._tables()["trans"].sum(-1), 1.0, atol=1e-15)
    # joint: p(D | S S) p(the | D) p(N | S D) p(run | N) p(S | D N)
    t = m2._tables()["trans"]
    expected = math.log(t[S, S, D] * 1 * t[S, D, N] * 1 / 4 * t[D, N, S])
    assert m2.joint_log_prob(["the", "run"], [D, N]) == pytest.approx(expected, abs=1e-12)


def test_unknown_words_use_the_suffix_model():
    model = _fit(2)
    assert model.is_known("Dogs") and not model.is_known("dogs") and not model.is_known("bats")
    # an unseen form whose lowercased form is known takes that word's emissions
    assert model.is_known("CAT")
    np.testing.assert_array_equal(model.log_emissions(["CAT"]), model.log_emissions(["cat"]))
    # Every word has frequency <= 10, so all are rare. Lower-case class: the (D 3), dog, cat,
    # run (N), runs (V 2), run (V): base (3, 3, 3) / 9; suffix "s": runs V 2 -> (0, 0, 1);
    # "ts" was never seen, so "bats" stops at "s". ("Dogs" is the capitalized class.) theta
    # is the std of the tag probabilities of all tokens, (3, 4, 3) / 10.
    prior = np.array([3, 4, 3]) / 10
    theta = np.std(prior, ddof=1)
    base = np.ones(3) / 3
    expected = (np.array([0.0, 0.0, 1.0]) + theta * base) / (1 + theta)
    np.testing.assert_allclose(model.suffix_distribution("bats"), expected, atol=1e-15)
    # the capitalized class has seen only "Dogs" (N): its base is (0, 1, 0)
    np.testing.assert_allclose(model.suffix_distribution("Zzz"), [0, 1, 0], atol=1e-15)
    for w in ["bats", "zzz", "Zzz", "x", "ÜBER"]:
        p = model.suffix_distribution(w)
        assert np.all(p >= 0) and p.sum() == pytest.approx(1.0, abs=1e-12)
    # Bayes' rule: p(x | y) proportional to P(y | suffix) / P(y)
    e = np.exp(model.log_emissions(["bats"])[0])
    np.testing.assert_allclose(e / e.sum(), (expected / prior) / (expected / prior).sum(),
                               atol=1e-12)


def test_long_sentences_do_not_underflow():
    model = _fit(2)
    words = (["the", "dog", "runs", "bats"] * 60)[:240]
    post = model.posteriors(words)
    assert np.all(np.isfinite(post))
    np.testing.assert_allclose(post.sum(1), 1.0, atol=1e-10)
    ll = model.log_likelihood(words)
    assert np.isfinite(ll) and ll < -300  # far below float64's exp range of a product


@pytest.mark.parametrize("order", [1, 2])
def test_state_dict_round_trip_gives_identical_results(order):
    from rnnlab.models import MODEL_MODULES, rebuild

    model = _fit(order, max_suffix=3, rare_threshold=1)
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    # rebuild() finds the class by its checkpoint name once the tagging task registers it
    if "HMMTagger" in MODEL_MODULES:
        loaded = rebuild("HMMTagger", model.hparams)
    else:
        loaded = HMMTagger(**model.hparams)
    loaded.load_state_dict(state)
    assert loaded.tag(SENTENCES) == model.tag(SENTENCES)
    for words in SENTENCES:
        np.testing.assert_array_equal(loaded.posteriors(words), model.posteriors(words))
    assert loaded.is_known("cat") and not loaded.is_known("bats")
    assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_string_buffers_round_trip():
    words = ["", "naïve", "日本", "a b"]
    assert decode_strings(*encode_strings(words)) == words


def test_bad_arguments_are_refused():
    with pytest.raises(RnnlabError, match="order"):
        HMMTagger(3, order=3)
    with pytest.raises(RnnlabError, match="max_suffix"):
        HMMTagger(3, max_suffix=-1)
    with pytest.raises(RnnlabError, match="no counts yet"):
        HMMTagger(3).tag([["a"]])
    with pytest.raises(RnnlabError, match="outside 0..2"):
        HMMTagger(3).fit_counts([(["a"], [3])])
    with pytest.raises(RnnlabError, match="2 words but 1 tags"):
        HMMTagger(3).fit_counts([(["a", "b"], [0])])
    with pytest.raises(RnnlabError, match="one tag per word"):
        _fit(2).joint_log_prob(["a"], [0, 1])
