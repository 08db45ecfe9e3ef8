"""The seasonal naive forecast: the last season of the input, repeated (``y[t + h] = x[t + h - k * m]``
for the smallest k that lands inside the input; m = 24 for hourly, 48 half-hourly, 7 daily data).
Hard to beat on strongly periodic series; any trained model should."""

from __future__ import annotations

import torch
from torch import nn


class SeasonalNaive(nn.Module):
    def __init__(self, lookback: int, horizon: int, period: int):
        super().__init__()
        if not 1 <= period <= lookback:
            raise ValueError(f"the naive forecast's period {period} must lie in [1, lookback = {lookback}]")
        self.register_buffer("source", lookback - period + torch.arange(horizon) % period, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, L, C] -> [B, H, C]``."""
        return x[:, self.source]
