"""rnnlab/data/series.py: the scaler is fitted on the training part only, the split is
chronological, windows never cross it, window batching by hand."""

from __future__ import annotations

import math

import numpy as np
import torch

from rnnlab.data.series import Scaler, SeriesWindows, split_series


def test_scaler_is_fitted_on_the_training_part_only():
    values = [1.0, 2.0, 3.0, 6.0, 100.0, 200.0]
    a, b = split_series(len(values), 1, 1)
    assert (a, b) == (4, 5)
    s = Scaler.fit(values[:a])
    assert s.mean == 3.0  # (1 + 2 + 3 + 6) / 4; the 100 and 200 are not seen
    assert math.isclose(s.std, math.sqrt((4 + 1 + 0 + 9) / 4))
    assert np.allclose(s.inverse(s.transform(values)), values)
    assert Scaler.from_dict(s.to_dict()).std == s.std


def test_split_is_chronological_and_windows_never_cross_it():
    values = np.arange(20, dtype=float)
    a, b = split_series(20, 4, 4)
    assert (a, b) == (12, 16)
    train = SeriesWindows(values, 3, 2, 0, a, batch_size=4, shuffle=True, seed=1)
    val = SeriesWindows(values, 3, 2, a, b, batch_size=4)
    for src, lo, hi in ((train, 0, a), (val, a, b)):
        for batch in src.epoch(epoch=3):
            x, y = batch.inputs.numpy(), batch.targets.numpy()
            # each row is consecutive in time: shuffling moves whole windows only
            assert np.all(np.diff(np.concatenate([x, y], axis=1), axis=1) == 1)
            assert y.min() >= lo and y.max() < hi  # targets belong to the split
    assert train.origins.tolist() == list(range(3, 11))
    assert val.origins.tolist() == [12, 13, 14]  # inputs reach back into train
    # exact resume: batches from `start` equal the tail of the full epoch
    full = list(train.epoch(2))
    tail = list(train.epoch(2, start=1))
    assert all(torch.equal(p.inputs, q.inputs) for p, q in zip(full[1:], tail, strict=True))


def test_window_batching_values_by_hand():
    values = np.arange(10, dtype=float) * 10  # 0, 10, ..., 90
    w = SeriesWindows(values, context=3, horizon=2, lo=0, hi=10, batch_size=100)
    (batch,) = list(w.epoch())
    assert batch.reset is True
    assert batch.inputs[0].tolist() == [0, 10, 20] and batch.targets[0].tolist() == [30, 40]
    assert batch.inputs[-1].tolist() == [50, 60, 70] and batch.targets[-1].tolist() == [80, 90]
    assert batch.inputs.shape == (6, 3) and batch.targets.shape == (6, 2)
