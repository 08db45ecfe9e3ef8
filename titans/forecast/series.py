"""A multivariate time series as the forecasting code sees it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPLIT_SCHEMES = ("ratio", "ett-hour", "ett-minute")


@dataclass(frozen=True)
class Series:
    """values: ``[N, C]`` float64, rows in time order, one column per channel.

    period: the seasonal period in steps (the naive forecast repeats the last one). horizons: the
    default forecast horizons. split: how the rows are split (``titans.forecast.windows.split_ranges``):
    ``ratio`` (70/10/20) or the ETT files' fixed 12/4/4 months (``ett-hour``, ``ett-minute``).
    """

    name: str
    values: np.ndarray
    channels: tuple[str, ...]
    period: int
    horizons: tuple[int, ...]
    split: str = "ratio"
    description: str = ""

    def __post_init__(self):
        if self.values.ndim != 2 or self.values.shape[1] != len(self.channels):
            raise ValueError(f"{self.name}: values {self.values.shape} do not match {len(self.channels)} channels")
        if self.split not in SPLIT_SCHEMES:
            raise ValueError(f"{self.name}: unknown split {self.split!r}; use one of {SPLIT_SCHEMES}")
        if not np.isfinite(self.values).all():
            raise ValueError(f"{self.name}: the series holds NaN or inf values")

