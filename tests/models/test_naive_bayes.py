"""NaiveBayes against hand counts, n-gram extraction by hand, serialization, and (when
scikit-learn is installed) MultinomialNB on the same features."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from rnnlab.errors import RnnlabError
from rnnlab.models import naive_bayes, rebuild
from rnnlab.models.naive_bayes import END, START, NaiveBayes, majority_class, ngrams

# class 1: good good fun | good plot;  class 0: bad fun
TEXTS = ["good good fun", "bad fun", "good plot"]
LABELS = [1, 0, 1]


def _fit(**kw) -> NaiveBayes:
    return NaiveBayes(level="word", n_min=1, n_max=1, **kw).fit(TEXTS, LABELS, 2)


def test_log_probabilities_equal_hand_counts():
    nb = _fit()
    # F = 4 features {good, fun, bad, plot}; class 1 has 5 tokens, class 0 has 2 (alpha = 1)
    p1 = {"good": Fraction(3 + 1, 5 + 4), "fun": Fraction(1 + 1, 9), "plot": Fraction(2, 9),
          "bad": Fraction(1, 9)}
    p0 = {"good": Fraction(1, 2 + 4), "fun": Fraction(2, 6), "bad": Fraction(2, 6),
          "plot": Fraction(1, 6)}
    for f in p1:
        col = nb.index[f]
        assert nb.log_theta()[1, col] == pytest.approx(math.log(p1[f]), abs=1e-15)
        assert nb.log_theta()[0, col] == pytest.approx(math.log(p0[f]), abs=1e-15)
    # "good bad": P(1) P(good|1) P(bad|1) against P(0) P(good|0) P(bad|0), priors 2/3 and 1/3
    joint1 = Fraction(2, 3) * p1["good"] * p1["bad"]
    joint0 = Fraction(1, 3) * p0["good"] * p0["bad"]
    expected = [math.log(joint0 / (joint0 + joint1)), math.log(joint1 / (joint0 + joint1))]
    got = nb.predict_log_proba(["good bad"])[0]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-14)
    # counts enter as multiplicities: "good good" squares P(good | k)
    joint1 = Fraction(2, 3) * p1["good"] ** 2
    joint0 = Fraction(1, 3) * p0["good"] ** 2
    got = nb.predict_log_proba(["good good"])[0]
    np.testing.assert_allclose(got, [math.log(joint0 / (joint0 + joint1)),
                                     math.log(joint1 / (joint0 + joint1))], atol=1e-14)
    assert nb.predict(["good bad", "bad bad fun"]).tolist() == [1, 0]


def test_alpha_enters_the_smoothing():
    nb = _fit(alpha=0.5)
    col = nb.index["plot"]
    assert nb.log_theta()[0, col] == pytest.approx(math.log(0.5 / (2 + 0.5 * 4)), abs=1e-15)


def test_probabilities_are_normalized():
    nb = NaiveBayes("char", 1, 3).fit(["anna", "bob", "otto", "bert", "ann"], [0, 1, 0, 1, 2], 3)
    logp = nb.predict_log_proba(["an", "bo", "zzz", "", "robert"])
    assert logp.shape == (5, 3)
    np.testing.assert_allclose(np.exp(logp).sum(1), np.ones(5), rtol=0, atol=1e-12)


def test_unseen_features_are_ignored():
    nb = _fit()
    base = nb.predict_log_proba(["good fun"])
    np.testing.assert_array_equal(nb.predict_log_proba(["good zzz fun qqq"]), base)
    # a text of unseen features only gets the class priors
    np.testing.assert_allclose(nb.predict_log_proba(["zzz"])[0], np.log([1 / 3, 2 / 3]),
                               atol=1e-15)


def test_empty_class_is_never_predicted():
    nb = NaiveBayes("word", 1, 1).fit(TEXTS, LABELS, 3)
    logp = nb.predict_log_proba(["good", "bad"])
    assert np.all(np.isneginf(logp[:, 2]))
    np.testing.assert_allclose(np.exp(logp).sum(1), [1.0, 1.0])


def test_char_ngrams_by_hand():
    assert ngrams("ab", "char", 1, 2) == ["a", "b", START + "a", "ab", "b" + END]
    assert ngrams("abc", "char", 3, 3) == [START + "ab", "abc", "bc" + END]
    assert ngrams("a", "char", 1, 3) == ["a", START + "a", "a" + END, START + "a" + END]
    assert ngrams("", "char", 1, 3) == []


def test_word_ngrams_by_hand():
    assert ngrams("the cat  sat", "word", 1, 2) == ["the", "cat", "sat", "the cat", "cat sat"]
    assert ngrams("the cat sat", "word", 2, 2) == ["the cat", "cat sat"]
    assert ngrams("one", "word", 2, 2) == []


def test_buffer_flushes_do_not_change_counts(monkeypatch):
    texts = ["anna", "bob", "otto", "bert", "ann", "bobby"] * 3
    labels = [0, 1, 0, 1, 0, 1] * 3
    ref = NaiveBayes().fit(texts, labels, 2)
    monkeypatch.setattr(naive_bayes, "COUNT_BUFFER", 5)
    monkeypatch.setattr(naive_bayes, "SCORE_BUFFER", 3)
    small = NaiveBayes().fit(texts, labels, 2)
    assert small.index == ref.index
    np.testing.assert_array_equal(small.counts, ref.counts)
    np.testing.assert_array_equal(small.predict_log_proba(texts), ref.predict_log_proba(texts))


def test_to_dict_round_trip(tmp_path):
    nb = NaiveBayes("char", 1, 3, alpha=0.5).fit(["anna", "bob", "otto"], [0, 1, 0], 2)
    texts = ["ann", "bobo", "xyz"]
    path = tmp_path / "nb.pt"
    torch.save({"nb": nb.to_dict()}, path)
    d = torch.load(path, weights_only=True)["nb"]  # plain Python only
    again = NaiveBayes.from_dict(d)
    np.testing.assert_array_equal(again.predict_log_proba(texts), nb.predict_log_proba(texts))
    # the same tables through the checkpoint path of every model
    torch.save({"hparams": nb.hparams, "state": nb.state_dict()}, path)
    payload = torch.load(path, weights_only=True)
    rebuilt = rebuild("NaiveBayes", payload["hparams"])
    rebuilt.load_state_dict(payload["state"])
    np.testing.assert_array_equal(rebuilt.predict_log_proba(texts), nb.predict_log_proba(texts))


def test_majority_class():
    assert majority_class([2, 1, 2, 0]) == 2
    assert majority_class([2, 1, 2, 1, 0]) == 1  # ties go to the smallest id
    with pytest.raises(RnnlabError):
        majority_class([])


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"level": "byte"}, "'char' or 'word'"),
        ({"n_min": 3, "n_max": 2}, "n_min <= n_max"),
        ({"alpha": 0.0}, "alpha > 0"),
    ],
)
def test_user_errors(kw, match):
    with pytest.raises(RnnlabError, match=match):
        NaiveBayes(**kw)


def test_unfitted_and_bad_labels():
    with pytest.raises(RnnlabError, match="not fitted"):
        NaiveBayes().predict(["a"])
    with pytest.raises(RnnlabError, match="labels must lie"):
        NaiveBayes().fit(["a", "b"], [0, 2], 2)


def test_equals_sklearn_multinomial_nb():
    fe = pytest.importorskip("sklearn.feature_extraction.text")
    nbm = pytest.importorskip("sklearn.naive_bayes")
    texts = ["anna", "bob", "otto", "bert", "ann", "bobby", "hanna", "robert"]
    labels = [0, 1, 0, 1, 0, 1, 2, 2]
    ours = NaiveBayes("char", 1, 3).fit(texts, labels, 3)
    vec = fe.CountVectorizer(analyzer=lambda t: ngrams(t, "char", 1, 3))
    ref = nbm.MultinomialNB(alpha=1.0).fit(vec.fit_transform(texts), labels)
    test = ["anne", "roberta", "zz"]
    np.testing.assert_allclose(ours.predict_log_proba(test),
                               ref.predict_log_proba(vec.transform(test)), atol=1e-10)
