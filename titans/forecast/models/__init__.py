"""The forecasters, all ``[B, L, C] -> [B, H, C]`` on z-scored series, built by name."""

from __future__ import annotations

from torch import nn

from ..config import ForecastConfig
from .dlinear import DLinear
from .memory import MemoryMixer, memory_config
from .naive import SeasonalNaive
from .patching import PatchForecaster
from .patchtst import TSTEncoder

__all__ = ["DLinear", "MemoryMixer", "PatchForecaster", "SeasonalNaive", "TSTEncoder", "build_model"]


def build_model(name: str, config: ForecastConfig, *, horizon: int, period: int) -> nn.Module:
    """Model ``name`` (``titans.forecast.config.MODELS``) for ``config.lookback`` -> ``horizon`` steps."""
    L, c = config.lookback, config
    if name == "naive":
        return SeasonalNaive(L, horizon, period)
    if name == "dlinear":
        return DLinear(L, horizon, c.moving_average)
    if name == "patchtst":
        mixer = TSTEncoder(c.dim, c.heads, c.layers, c.dropout)
    elif name in ("memory", "mag"):
        variant = "lmm" if name == "memory" else "mag"
        mixer = MemoryMixer(memory_config(variant, dim=c.dim, layers=c.layers, heads=c.heads,
                                          memory_chunk=c.memory_chunk, memory_expansion=c.memory_expansion,
                                          window=c.window))
    else:
        raise ValueError(f"unknown model {name!r}")
    return PatchForecaster(mixer, lookback=L, horizon=horizon, dim=c.dim, patch_len=c.patch_len, stride=c.stride,
                           dropout=c.dropout)
