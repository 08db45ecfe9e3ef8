"""The LTSF protocol: chronological splits with the lookback overlap, training-only statistics, and
windows whose targets never overlap their inputs."""

import numpy as np
import pytest
import torch

from titans.forecast import Series, prepare
from titans.forecast.windows import split_ranges, split_rows, training_statistics


def clock_series(rows: int, split: str = "ratio") -> Series:
    """Channel 0 is the row number itself, channel 1 its double: a window's values say which rows it holds."""
    t = np.arange(rows, dtype=np.float64)
    return Series("clock", np.stack([t, 2 * t], axis=1), ("t", "2t"), period=24, horizons=(8,), split=split)


def rows_of(windows, data, channel: int = 0):
    """Undo the z-score: the series rows in every window's input and target."""
    x, y = windows.get(torch.arange(len(windows)))
    undo = lambda v: np.rint(v[..., channel].double().numpy() * data.std[channel] + data.mean[channel])  # noqa: E731
    return undo(x), undo(y)


def test_ratio_split_is_the_ltsf_codes():
    # int(0.7 n) training rows, int(0.2 n) test rows, the rest validation, in time order
    assert split_rows(1000) == {"train": (0, 700), "valid": (700, 800), "test": (800, 1000)}
    assert split_rows(8760) == {"train": (0, 6132), "valid": (6132, 7008), "test": (7008, 8760)}
    # validation and test windows start one lookback before their border
    assert split_ranges(1000, 96) == {"train": (0, 700), "valid": (604, 800), "test": (704, 1000)}


def test_ett_split_is_12_4_4_months_and_ignores_the_rest():
    assert split_rows(17420, "ett-hour") == {"train": (0, 8640), "valid": (8640, 11520), "test": (11520, 14400)}
    assert split_rows(69680, "ett-minute")["test"] == (46080, 57600)
    assert split_ranges(17420, 96, "ett-hour")["test"] == (11424, 14400)
    with pytest.raises(ValueError, match="needs 20 months = 14,400 rows"):
        split_rows(14000, "ett-hour")


def test_windows_are_chronological_and_targets_never_overlap_inputs():
    rows, L, H = 1000, 48, 24
    data = prepare(clock_series(rows), L, H)
    bounds = split_rows(rows)
    for name in ("train", "valid", "test"):
        windows = getattr(data, name)
        x, y = rows_of(windows, data)
        assert (np.diff(x, axis=1) == 1).all() and (np.diff(y, axis=1) == 1).all()  # consecutive rows
        assert (y[:, 0] == x[:, -1] + 1).all()  # the target starts right after the input ...
        assert (y.min(axis=1) > x.max(axis=1)).all()  # ... so no target row is an input row
        start, end = bounds[name]
        first_target = start + L if name == "train" else start  # training targets need a full input first
        assert y.min() == first_target and y.max() == end - 1  # the split's rows, and only those
        assert len(windows) == (end - L - H + 1 if name == "train" else end - start - H + 1)
        assert list(windows.target_rows(0)) == list(y[0].astype(int))
    # the first validation / test input comes from the split before (the lookback overlap)
    assert rows_of(data.valid, data)[0][0, 0] == bounds["valid"][0] - L
    assert rows_of(data.test, data)[0][0, 0] == bounds["test"][0] - L


def test_normalisation_uses_training_rows_only():
    rows, L, H = 600, 32, 16
    series = clock_series(rows)
    data = prepare(series, L, H)
    train = series.values[:420]
    np.testing.assert_allclose(data.mean, train.mean(axis=0))
    np.testing.assert_allclose(data.std, train.std(axis=0))
    # whatever happens after the training rows changes neither the statistics nor the training windows
    changed = series.values.copy()
    changed[420:] = changed[420:] * 100 + 7
    other = prepare(Series("changed", changed, series.channels, 24, (H,)), L, H)
    np.testing.assert_array_equal(other.mean, data.mean)
    np.testing.assert_array_equal(other.std, data.std)
    np.testing.assert_array_equal(other.train.segment.numpy(), data.train.segment.numpy())
    # z-scored training rows have mean 0 and std 1 per channel
    segment = data.train.segment.double().numpy()
    np.testing.assert_allclose(segment.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(segment.std(axis=0), 1, atol=1e-6)


def test_a_channel_constant_in_training_gets_std_one():
    values = np.ones((10, 2))
    values[:, 1] = np.arange(10)
    mean, std = training_statistics(values, (0, 7))
    assert std[0] == 1.0 and mean[0] == 1.0


def test_too_short_a_series_names_the_split():
    with pytest.raises(ValueError, match=r"too few for lookback 96 \+ horizon 720: the valid split has 200 rows"):
        prepare(clock_series(2000), 96, 720)
    with pytest.raises(ValueError, match=r"the train split has 70 rows and needs at least 112"):
        prepare(clock_series(100), 96, 16)
