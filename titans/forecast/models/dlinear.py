"""DLinear (Zeng et al., "Are Transformers Effective for Time Series Forecasting?", AAAI 2023).

The input is split into a trend, its moving average (kernel 25, the series padded at both ends by
repeating its first and last values so the average keeps length L), and the remainder; one linear map
``L -> H`` over time for each, shared by all channels (the paper's default, ``individual=False``), and
the two forecasts are added. Axes: B batch, L lookback, H horizon, C channels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def moving_average(x: torch.Tensor, kernel: int) -> torch.Tensor:
    """``[B, L, C]`` -> its centred moving average ``[B, L, C]``, edges padded with the edge values."""
    pad = (kernel - 1) // 2
    padded = torch.cat([x[:, :1].expand(-1, pad, -1), x, x[:, -1:].expand(-1, pad, -1)], dim=1)
    return F.avg_pool1d(padded.transpose(1, 2), kernel, stride=1).transpose(1, 2)


class DLinear(nn.Module):
    def __init__(self, lookback: int, horizon: int, kernel: int = 25):
        super().__init__()
        if kernel % 2 == 0:
            raise ValueError(f"DLinear's moving average needs an odd kernel (centred), got {kernel}")
        self.kernel = kernel
        self.seasonal = nn.Linear(lookback, horizon)
        self.trend = nn.Linear(lookback, horizon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        trend = moving_average(x, self.kernel)  # [B, L, C]
        seasonal = x - trend
        y = self.seasonal(seasonal.transpose(1, 2)) + self.trend(trend.transpose(1, 2))  # [B, C, H]
        return y.transpose(1, 2)
