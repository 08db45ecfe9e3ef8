"""The LTSF protocol (SPEC §5): chronological splits, z-scores from the training rows, sliding windows.

It follows the code every LTSF paper's numbers come from (Informer's ``data_loader.py``, kept by
Autoformer, DLinear and PatchTST):

- rows split in time order, 70 / 10 / 20 % (``int`` of 70 % and of 20 %, the rest validation), or for
  the ETT files the first 12 / 4 / 4 months of 30 days;
- the validation and test segments start one lookback *before* their border, so their first window's
  target is the first row of the split while its input comes from the split before (the usual
  convention; no target row is ever outside its split);
- every channel z-scored with the mean and standard deviation of the *training rows only* (no
  look-ahead), the metrics reported on that normalised scale;
- every window of the segment, stride 1: input rows ``[i, i + L)``, target rows ``[i + L, i + L + H)``,
  all channels in and all channels out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from .series import Series

SPLITS = ("train", "valid", "test")
_ETT_MONTH = {"ett-hour": 30 * 24, "ett-minute": 30 * 24 * 4}  # rows per 30-day month


def split_rows(rows: int, scheme: str = "ratio") -> dict[str, tuple[int, int]]:
    """Each split's own rows ``[start, end)`` (before the lookback overlap)."""
    if scheme == "ratio":
        n_train, n_test = int(rows * 0.7), int(rows * 0.2)
        n_valid = rows - n_train - n_test
    elif scheme in _ETT_MONTH:
        month = _ETT_MONTH[scheme]
        n_train, n_valid, n_test = 12 * month, 4 * month, 4 * month
        if rows < n_train + n_valid + n_test:
            raise ValueError(f"the ETT split ({scheme}) needs 20 months = {20 * month:,} rows, the file has "
                             f"{rows:,}; rename the file (not ETTh*/ETTm*) to use the 70/10/20 split instead")
    else:
        raise ValueError(f"unknown split scheme {scheme!r}: use ratio, ett-hour or ett-minute")
    return {"train": (0, n_train), "valid": (n_train, n_train + n_valid),
            "test": (n_train + n_valid, n_train + n_valid + n_test)}


def split_ranges(rows: int, lookback: int, scheme: str = "ratio") -> dict[str, tuple[int, int]]:
    """The rows ``[start, end)`` each split's windows are cut from: validation and test start one
    lookback before their border, so that their first target is the split's first row."""
    own = split_rows(rows, scheme)
    if own["train"][1] < lookback:
        raise ValueError(f"{rows:,} rows leave {own['train'][1]:,} training rows, fewer than lookback {lookback}")
    return {name: (start if name == "train" else start - lookback, end) for name, (start, end) in own.items()}


def training_statistics(values: np.ndarray, train_rows: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation (population, as sklearn's StandardScaler) of the training
    rows. A channel constant over them gets std 1, as the scaler does, instead of a division by zero."""
    train = values[train_rows[0]:train_rows[1]]
    mean, std = train.mean(axis=0), train.std(axis=0)
    return mean, np.where(std > 0, std, 1.0)


class Windows:
    """All windows of one split: ``x: [B, L, C]`` inputs and ``y: [B, H, C]`` targets, stride 1.

    segment: ``[S, C]`` normalised rows; first_row: the row of the whole series ``segment[0]`` is, so
    that window i's target starts at series row ``first_row + i + L``.
    """

    def __init__(self, segment: np.ndarray, lookback: int, horizon: int, first_row: int = 0):
        self.segment = torch.as_tensor(segment, dtype=torch.float32)
        self.lookback, self.horizon, self.first_row = lookback, horizon, first_row
        self._offsets = torch.arange(lookback + horizon)

    def __len__(self) -> int:
        return max(0, self.segment.shape[0] - self.lookback - self.horizon + 1)

    def target_rows(self, i: int) -> range:
        """The series rows window i forecasts."""
        start = self.first_row + i + self.lookback
        return range(start, start + self.horizon)

    def get(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The windows at ``index`` ``[B]``: x ``[B, L, C]``, y ``[B, H, C]``."""
        rows = self.segment[index[:, None] + self._offsets]  # [B, L + H, C]
        return rows[:, :self.lookback], rows[:, self.lookback:]

    def batches(self, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Every window once, in order."""
        for lo in range(0, len(self), batch_size):
            yield self.get(torch.arange(lo, min(lo + batch_size, len(self))))


@dataclass
class ForecastData:
    """One series ready for one horizon: the three splits' windows and the training statistics."""

    series: Series
    train: Windows
    valid: Windows
    test: Windows
    mean: np.ndarray
    std: np.ndarray

    @property
    def lookback(self) -> int:
        return self.train.lookback

    @property
    def horizon(self) -> int:
        return self.train.horizon

    def sizes(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in SPLITS}


def prepare(series: Series, lookback: int, horizon: int) -> ForecastData:
    """Split, normalise with the training rows' statistics, and window ``series``; a ValueError naming
    the split when the series is too short for ``lookback + horizon``."""
    rows = series.values.shape[0]
    own = split_rows(rows, series.split)
    for name, (start, end) in own.items():
        need = horizon + (lookback if name == "train" else 0)
        if end - start < need:
            raise ValueError(
                f"{series.name}: {rows:,} rows are too few for lookback {lookback} + horizon {horizon}: the "
                f"{name} split has {end - start:,} rows and needs at least {need} (about "
                f"{_rows_needed(lookback, horizon, series.split):,} rows in all); use a shorter horizon or "
                f"lookback, or a longer series")
    ranges = split_ranges(rows, lookback, series.split)
    mean, std = training_statistics(series.values, own["train"])
    normalised = (series.values - mean) / std
    windows = {name: Windows(normalised[start:end], lookback, horizon, first_row=start)
               for name, (start, end) in ranges.items()}
    return ForecastData(series, windows["train"], windows["valid"], windows["test"], mean, std)


def _rows_needed(lookback: int, horizon: int, scheme: str) -> int:
    """The fewest rows whose split leaves every split enough rows (for the error message)."""
    if scheme != "ratio":
        return 20 * _ETT_MONTH[scheme]
    rows = lookback + horizon
    while True:
        own = split_rows(rows)
        if (own["train"][1] >= lookback + horizon and own["valid"][1] - own["valid"][0] >= horizon
                and own["test"][1] - own["test"][0] >= horizon):
            return rows
        rows += 1
