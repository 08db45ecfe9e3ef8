"""The forecasters: shapes, the baselines against hand computation, causality of the memory mixers, and
the channel independence of the patch models."""

import pytest
import torch

from titans.forecast import ForecastConfig
from titans.forecast.models import DLinear, SeasonalNaive, build_model
from titans.forecast.models.dlinear import moving_average
from titans.forecast.models.memory import MemoryMixer, memory_config

TINY = ForecastConfig(lookback=32, dim=16, layers=2, heads=2, patch_len=8, stride=4, memory_chunk=4, window=3,
                      dropout=0.0)


@pytest.mark.parametrize("name", ["naive", "dlinear", "patchtst", "memory", "mag"])
@pytest.mark.parametrize("horizon", [8, 40])  # shorter and longer than the lookback
def test_every_model_maps_lookback_to_horizon(name, horizon):
    torch.manual_seed(0)
    model = build_model(name, TINY, horizon=horizon, period=12)
    x = torch.randn(3, 32, 5)
    y = model(x)
    assert y.shape == (3, horizon, 5) and torch.isfinite(y).all()
    if name != "naive":
        y.square().mean().backward()
        assert all(p.grad is not None for p in model.parameters())


def test_seasonal_naive_repeats_the_last_season():
    x = torch.arange(10.0).view(1, 10, 1)
    y = SeasonalNaive(lookback=10, horizon=7, period=3)(x)
    assert y.flatten().tolist() == [7, 8, 9, 7, 8, 9, 7]
    with pytest.raises(ValueError, match="period 11"):
        SeasonalNaive(10, 5, 11)


def test_dlinear_trend_is_the_edge_padded_moving_average():
    x = torch.tensor([1.0, 2.0, 4.0, 8.0, 16.0]).view(1, 5, 1)
    trend = moving_average(x, 3).flatten()
    expected = [(1 + 1 + 2) / 3, (1 + 2 + 4) / 3, (2 + 4 + 8) / 3, (4 + 8 + 16) / 3, (8 + 16 + 16) / 3]
    torch.testing.assert_close(trend, torch.tensor(expected))


def test_dlinear_is_two_linear_maps_over_time():
    torch.manual_seed(0)
    model = DLinear(lookback=6, horizon=2, kernel=3)
    x = torch.randn(2, 6, 3)
    trend = moving_average(x, 3)
    by_hand = (torch.einsum("blc,hl->bhc", x - trend, model.seasonal.weight) + model.seasonal.bias[:, None]
               + torch.einsum("blc,hl->bhc", trend, model.trend.weight) + model.trend.bias[:, None])
    torch.testing.assert_close(model(x), by_hand)
    with pytest.raises(ValueError, match="odd kernel"):
        DLinear(6, 2, kernel=4)


@pytest.mark.parametrize("variant", ["lmm", "mag"])
def test_memory_mixers_are_causal_over_patches(variant):
    torch.manual_seed(0)
    mixer = MemoryMixer(memory_config(variant, dim=16, layers=2, heads=2, memory_chunk=4, memory_expansion=2,
                                      window=3)).double()
    x = torch.randn(2, 11, 16, dtype=torch.float64)  # 11 patches: not a multiple of the chunk
    y = mixer(x)
    for t in (0, 5, 10):
        changed = x.clone()
        changed[:, t] += torch.randn(2, 16, dtype=torch.float64)
        z = mixer(changed)
        torch.testing.assert_close(z[:, :t], y[:, :t], rtol=0, atol=1e-12)  # nothing before t moves
        assert (z[:, t] - y[:, t]).abs().max() > 1e-6


@pytest.mark.parametrize("name", ["dlinear", "patchtst", "memory", "mag"])
def test_channels_and_windows_are_forecast_independently(name):
    # channel independence (PatchTST's design, kept by the memory models); DLinear shares one map
    torch.manual_seed(0)
    model = build_model(name, TINY, horizon=8, period=12).eval()
    x = torch.randn(3, 32, 4)
    y = model(x)
    changed = x.clone()
    changed[1, :, 2] += 5 * torch.randn(32)
    z = model(changed)
    moved = (z - y).abs().amax(dim=1) > 1e-6  # [B, C]
    assert moved.nonzero().tolist() == [[1, 2]]
