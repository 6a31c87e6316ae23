"""NBSVM-style baseline: logistic regression on naive-Bayes-scaled binary n-gram features
(Wang & Manning 2012, "Baselines and Bigrams"), with scikit-learn (the optional extra
`pip install rnnlab[baselines]`; imported only when called).

Shapes: N documents, K classes, F distinct n-gram features of the training part.

    x_d   in {0, 1}^F                     binary bag of n-grams (the same n-grams as
                                          `naive_bayes.ngrams`: char 1-4 or word 1-2)
    p_k   = alpha + sum_{d: y_d = k} x_d  q_k = alpha + sum_{d: y_d != k} x_d
    r_k   = log (p_k / |p_k|_1) - log (q_k / |q_k|_1)           (F,)  NB log-count ratio
    s_k(d) = w_k . (r_k * x_d) + b_k      one-vs-rest logistic regression per class
    y^(d) = argmax_k s_k(d)

With two classes one regressor decides (the paper's setting). Wang & Manning fit an SVM with
interpolation beta = 0.25; this uses scikit-learn's L2 logistic regression (C = 1, liblinear)
unchanged, as a baseline with nothing tuned. Memory: the (N, F) sparse feature matrix and K
dense (F,) ratio vectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from rnnlab.errors import RnnlabError
from rnnlab.models.naive_bayes import ngrams

if TYPE_CHECKING:
    from scipy.sparse import spmatrix


def available() -> bool:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return False
    return True


def log_count_ratio(X: np.ndarray | spmatrix, positive: np.ndarray, alpha: float = 1.0
                    ) -> np.ndarray:
    """r (F,) of binary features X (N, F, sparse or dense) for the rows `positive` (N,) bool
    against the rest: log (p / |p|_1) - log (q / |q|_1), p and q smoothed by alpha."""
    p = alpha + np.asarray(X[positive].sum(0)).ravel()
    q = alpha + np.asarray(X[~positive].sum(0)).ravel()
    return np.log(p / p.sum()) - np.log(q / q.sum())


def nbsvm_predict(
    train_texts: Sequence[str], train_labels: Sequence[int], test_texts: Sequence[str],
    num_classes: int, level: str = "word", alpha: float = 1.0, C: float = 1.0,
) -> np.ndarray:
    """Predicted class ids (N_test,) of NB-scaled logistic regression fitted on the training
    part (raises RnnlabError without scikit-learn)."""
    try:
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        raise RnnlabError("the NBSVM baseline needs scikit-learn: pip install "
                          "'rnnlab[baselines]'") from None
    n_max = 4 if level == "char" else 2
    vec = CountVectorizer(analyzer=lambda t: ngrams(t, level, 1, n_max), binary=True)
    X = vec.fit_transform(train_texts).tocsr().astype(np.float64)  # (N, F)
    Xt = vec.transform(test_texts).tocsr().astype(np.float64)
    y = np.asarray(train_labels)
    present = np.unique(y)
    if len(present) < 2:
        raise RnnlabError("the NBSVM baseline needs two or more classes in the training part")
    # two classes: one regressor on r for the second class; more: one per present class
    targets = present[1:] if len(present) == 2 else present
    scores = np.full((len(test_texts), num_classes), -np.inf)
    for k in targets:
        pos = y == k
        r = log_count_ratio(X, pos, alpha)
        lr = LogisticRegression(C=C, solver="liblinear", max_iter=1000)
        lr.fit(X.multiply(r).tocsr(), pos.astype(int))
        scores[:, k] = lr.decision_function(Xt.multiply(r).tocsr())
    if len(present) == 2:  # the one decision: positive score -> second class
        scores[:, present[0]] = 0.0
    return scores.argmax(1)
