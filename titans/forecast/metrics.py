"""MSE and MAE over every test window, step and channel, on the z-scored scale (SPEC §5)."""

from __future__ import annotations

import torch
from torch import nn

from .windows import Windows


def mse_mae(prediction: torch.Tensor, target: torch.Tensor) -> tuple[float, float]:
    """Mean squared and mean absolute error over all elements, accumulated in float64."""
    error = prediction.double() - target.double()
    return error.square().mean().item(), error.abs().mean().item()


@torch.no_grad()
def evaluate(model: nn.Module, windows: Windows, *, batch_size: int = 256, device: str = "cpu") -> dict[str, float]:
    """``{"mse", "mae", "windows"}`` of ``model`` over all of ``windows`` (each window weighs the same)."""
    model.eval()
    squared = absolute = 0.0
    elements = 0
    for x, y in windows.batches(batch_size):
        error = model(x.to(device)).double() - y.to(device).double()
        squared += error.square().sum().item()
        absolute += error.abs().sum().item()
        elements += error.numel()
    if elements == 0:
        raise ValueError("no windows to evaluate")
    return {"mse": squared / elements, "mae": absolute / elements, "windows": len(windows)}
