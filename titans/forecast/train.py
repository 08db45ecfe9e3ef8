"""One training loop for every forecaster (the LTSF code's ``exp_main.train``): Adam on the MSE of
z-scored targets, the learning rate decayed after every epoch (halved by default, "type1"), early
stopping on the validation MSE, and the best epoch's weights kept."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..train import TrainingDiverged
from .config import ForecastConfig
from .metrics import evaluate
from .windows import ForecastData


@dataclass
class FitResult:
    """epochs: run; best_epoch: whose weights were kept (1-based, 0 for an untrained model);
    history: per epoch ``{"epoch", "lr", "train_mse", "valid_mse"}``."""

    epochs: int
    best_epoch: int
    valid_mse: float
    seconds: float
    history: list[dict] = field(default_factory=list)


def fit(model: nn.Module, data: ForecastData, config: ForecastConfig, seed: int, *, lr: float | None = None,
        log: Callable[[str], None] | None = None, progress: Callable[[int], None] | None = None) -> FitResult:
    """Train ``model`` in place on ``data.train``; the seed orders the windows (the caller seeds the
    initialisation); lr defaults to ``config.lr``. A model without parameters (the naive forecast) is
    only validated. progress: called with 1 after every epoch (a progress bar's ``update``), or None."""
    start = time.perf_counter()
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        valid = evaluate(model, data.valid, device=config.device)["mse"]
        return FitResult(0, 0, valid, time.perf_counter() - start)
    lr0 = config.lr if lr is None else lr
    optimizer = torch.optim.Adam(params, lr=lr0)
    generator = torch.Generator().manual_seed(seed)
    best, best_epoch, best_state, bad, history = math.inf, 0, None, 0, []
    for epoch in range(1, config.epochs + 1):
        lr = lr0 * config.lr_decay ** (epoch - 1)
        for group in optimizer.param_groups:
            group["lr"] = lr
        train_mse = _train_epoch(model, data, config, optimizer, generator)
        if not math.isfinite(train_mse):
            raise TrainingDiverged(f"the training loss became {train_mse} in epoch {epoch}; try a lower "
                                   f"learning rate (now {lr0}; --lr, --model-lr)")
        valid = evaluate(model, data.valid, device=config.device)["mse"]
        history.append({"epoch": epoch, "lr": lr, "train_mse": train_mse, "valid_mse": valid})
        if log:
            log(f"  epoch {epoch}: train mse {train_mse:.4f}, valid mse {valid:.4f}")
        if progress:
            progress(1)
        if valid < best:
            best, best_epoch, bad = valid, epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad += 1
            if bad >= config.patience:
                break
    model.load_state_dict(best_state)
    return FitResult(len(history), best_epoch, best, time.perf_counter() - start, history)


def _train_epoch(model, data: ForecastData, config: ForecastConfig, optimizer, generator) -> float:
    """One pass over the training windows (or ``epoch_windows`` of them); their mean MSE."""
    model.train()
    windows = data.train
    order = torch.randperm(len(windows), generator=generator)
    if config.epoch_windows:
        order = order[:config.epoch_windows]
    total, count = 0.0, 0
    for lo in range(0, len(order), config.batch_size):
        x, y = windows.get(order[lo:lo + config.batch_size])
        loss = F.mse_loss(model(x.to(config.device)), y.to(config.device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(x)
        count += len(x)
    return total / count
