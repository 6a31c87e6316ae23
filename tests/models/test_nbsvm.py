"""NBSVM baseline: the NB log-count ratio against hand counts, predictions on separable data,
and its place beside the other baselines of a classify run."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("sklearn")

from rnnlab.models.nbsvm import log_count_ratio, nbsvm_predict  # noqa: E402


def test_log_count_ratio_matches_hand_counts():
    X = np.array([[1, 0, 1], [1, 1, 0], [0, 1, 0]], dtype=float)
    pos = np.array([True, True, False])
    # p = 1 + (2, 1, 1) = (3, 2, 2), |p| = 7; q = 1 + (0, 1, 0) = (1, 2, 1), |q| = 4
    want = [math.log(3 / 7) - math.log(1 / 4), math.log(2 / 7) - math.log(2 / 4),
            math.log(2 / 7) - math.log(1 / 4)]
    assert np.allclose(log_count_ratio(X, pos, 1.0), want, atol=1e-12)


@pytest.mark.parametrize("k", [2, 3])
def test_predicts_separable_words(k):
    words = ["good great", "bad awful", "meh so-so"][:k]
    train = [w for w in words for _ in range(5)]
    y = [i for i in range(k) for _ in range(5)]
    pred = nbsvm_predict(train, y, ["great", "awful", "so-so"][:k], k, "word")
    assert pred.tolist() == list(range(k))


def test_char_level_and_unseen_features():
    pred = nbsvm_predict(["aaaa", "aaab", "zzzz", "zzzy"], [0, 0, 1, 1], ["aa", "zz", "qq"],
                         2, "char")
    assert pred[:2].tolist() == [0, 1] and pred[2] in (0, 1)
