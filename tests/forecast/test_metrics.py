"""MSE / MAE against hand-computed values, and the early stopping of the training loop."""

import numpy as np
import pytest
import torch
from torch import nn

from titans.forecast import ForecastConfig, Series, prepare
from titans.forecast.metrics import evaluate, mse_mae
from titans.forecast.models import SeasonalNaive
from titans.forecast.train import fit
from titans.forecast.windows import Windows


def test_mse_and_mae_by_hand():
    prediction = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    target = torch.tensor([[1.5, 2.0], [1.0, 5.0]])
    # errors -0.5, 0, 2, -1: squares 0.25, 0, 4, 1 -> 5.25 / 4; absolutes 0.5, 0, 2, 1 -> 3.5 / 4
    assert mse_mae(prediction, target) == (1.3125, 0.875)


class Zero(nn.Module):
    def forward(self, x):
        return torch.zeros(x.shape[0], 2, x.shape[2])


def test_evaluate_averages_over_every_window_step_and_channel():
    segment = np.array([[0.0, 1.0], [1.0, -1.0], [2.0, 3.0], [-3.0, 0.5], [4.0, 2.0]])
    windows = Windows(segment, lookback=2, horizon=2)  # windows' targets: rows 2-3 and 3-4
    targets = np.concatenate([segment[2:4], segment[3:5]])
    scores = evaluate(Zero(), windows, batch_size=1)
    assert scores["windows"] == 2
    assert scores["mse"] == pytest.approx(np.mean(targets ** 2))
    assert scores["mae"] == pytest.approx(np.mean(np.abs(targets)))


def test_naive_is_exact_on_a_periodic_series():
    t = np.arange(400)
    series = Series("wave", np.stack([np.sin(2 * np.pi * t / 8)], axis=1), ("wave",), period=8, horizons=(12,))
    data = prepare(series, 16, 12)
    assert evaluate(SeasonalNaive(16, 12, 8), data.test)["mse"] < 1e-10
    assert evaluate(SeasonalNaive(16, 12, 5), data.test)["mse"] > 0.1


def test_the_best_validation_epoch_is_kept():
    t = np.arange(600)
    rng = np.random.default_rng(0)
    values = np.stack([np.sin(2 * np.pi * t / 24) + 0.3 * rng.normal(size=600)], axis=1)
    data = prepare(Series("noisy", values, ("x",), period=24, horizons=(8,)), 32, 8)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(1), nn.Linear(32, 8), nn.Unflatten(1, (8, 1)))
    config = ForecastConfig(lookback=32, epochs=6, patience=2, lr=0.05, lr_decay=1.0, epoch_windows=64)
    result = fit(model, data, config, seed=0)
    valid = [h["valid_mse"] for h in result.history]
    assert result.valid_mse == min(valid) and result.best_epoch == 1 + valid.index(min(valid))
    assert evaluate(model, data.valid)["mse"] == pytest.approx(result.valid_mse)
    assert result.epochs == len(valid) and result.epochs - result.best_epoch <= config.patience
