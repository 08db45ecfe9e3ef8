"""A whole forecasting run: every model x horizon x seed on one series, trained, scored on the test
windows, saved (safetensors), and reported (``results.json``, ``results.md``, ``forecast-H*.png``);
and the re-scoring of a finished run from its saved weights."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .config import ForecastConfig
from .metrics import evaluate
from .models import build_model
from .report import markdown, plot_forecasts, write_json
from .series import Series
from .sources import load_series
from .train import fit
from .windows import ForecastData, prepare


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def train_run(config: ForecastConfig, *, log=_log, progress=None) -> dict:
    """Train and score every model, horizon and seed of ``config``; returns what results.json holds.

    The files are rewritten after every run, so an interrupted table keeps what it finished. progress: a
    tqdm bar (or None), reset to the epochs of all runs once the series (hence the horizons) is read; a
    run that stops early (or has nothing to train) skips its remaining epochs.
    """
    series = load_series(config.data, target=config.target, period=config.period)
    horizons = list(config.horizons or series.horizons)
    out = Path(config.out)
    (out / "models").mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", config.replace(horizons=tuple(horizons)).to_dict())
    results = _header(series, config, horizons)
    log(f"{series.description}; models {', '.join(config.models)}; horizons {horizons}; seeds {list(config.seeds)}")
    if progress is not None:
        progress.reset(total=len(horizons) * len(config.models) * len(config.seeds) * config.epochs)
    for horizon in horizons:
        data = prepare(series, config.lookback, horizon)
        results["windows"][str(horizon)] = data.sizes()
        shown = {}
        for name in config.models:
            for seed in config.seeds:
                torch.manual_seed(seed)  # the initialisation; fit's generator orders the windows
                model = build_model(name, config, horizon=horizon, period=series.period).to(config.device)
                log(f"{series.name} H={horizon} {name} seed {seed}")
                fitted = fit(model, data, config, seed, lr=config.lr_of(name), log=log,
                             progress=None if progress is None else progress.update)
                if progress is not None:
                    progress.update(config.epochs - fitted.epochs)
                test = evaluate(model, data.test, device=config.device)
                parameters = sum(p.numel() for p in model.parameters())
                if parameters:
                    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
                              str(_weights(out, name, horizon, seed)))
                results["runs"].append({
                    "model": name, "horizon": horizon, "seed": seed, "mse": test["mse"], "mae": test["mae"],
                    "valid_mse": fitted.valid_mse, "epochs": fitted.epochs, "best_epoch": fitted.best_epoch,
                    "seconds": round(fitted.seconds, 2), "parameters": parameters, "history": fitted.history})
                log(f"  test mse {test['mse']:.4f}, mae {test['mae']:.4f} ({fitted.epochs} epochs, "
                    f"{fitted.seconds:.1f} s)")
                if seed == config.seeds[0]:
                    shown[name] = _forecast_shown(model, data, config)
                _write_reports(out, results, config, horizons)
        _plot(out, data, shown, config)
    return results


def eval_run(run_dir: str | Path, *, device: str = "cpu", log=_log, progress=None) -> dict:
    """Re-score every saved model of a finished run on its test windows (``eval.json``, ``eval.md``,
    and the forecast PNGs redrawn from the saved weights). progress: a tqdm bar (or None), reset to the
    number of saved runs (models x horizons x seeds) and advanced after each."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise FileNotFoundError(f"{run_dir} has no config.json: not a `titans forecast train` run folder")
    config = ForecastConfig.from_dict(json.loads((run_dir / "config.json").read_text())).replace(
        device=device, out=str(run_dir))
    series = load_series(config.data, target=config.target, period=config.period)
    horizons = list(config.horizons)
    results = _header(series, config, horizons)
    if progress is not None:
        progress.reset(total=len(horizons) * len(config.models) * len(config.seeds))
    for horizon in horizons:
        data = prepare(series, config.lookback, horizon)
        results["windows"][str(horizon)] = data.sizes()
        shown = {}
        for name in config.models:
            for seed in config.seeds:
                model = build_model(name, config, horizon=horizon, period=series.period)
                parameters = sum(p.numel() for p in model.parameters())
                path = _weights(run_dir, name, horizon, seed)
                if parameters and not path.is_file():
                    log(f"skipped {name} H={horizon} seed {seed}: no {path}")
                else:
                    if parameters:
                        model.load_state_dict(load_file(str(path)))
                    test = evaluate(model.to(device), data.test, device=device)
                    results["runs"].append({"model": name, "horizon": horizon, "seed": seed, "mse": test["mse"],
                                            "mae": test["mae"], "epochs": 0, "seconds": 0.0,
                                            "parameters": parameters})
                    if seed == config.seeds[0]:
                        shown[name] = _forecast_shown(model, data, config)
                if progress is not None:
                    progress.update(1)
        _plot(run_dir, data, shown, config)
    write_json(run_dir / "eval.json", results)
    (run_dir / "eval.md").write_text(markdown(results["runs"], list(config.models), horizons,
                                              f"{series.name}: test scores of the saved models"))
    return results


def _header(series: Series, config: ForecastConfig, horizons: list[int]) -> dict:
    return {"data": config.data, "series": series.description, "channels": list(series.channels),
            "period": series.period, "lookback": config.lookback, "horizons": horizons, "windows": {},
            "config": config.to_dict(), "started": time.strftime("%Y-%m-%d %H:%M:%S"), "runs": []}


def _weights(out: Path, name: str, horizon: int, seed: int) -> Path:
    return out / "models" / f"{name}-H{horizon}-seed{seed}.safetensors"


def _shown_windows(data: ForecastData, count: int) -> torch.Tensor:
    """``count`` test windows spread evenly from the first to the last."""
    n = len(data.test)
    return torch.linspace(0, n - 1, min(count, n)).round().long().unique()


@torch.no_grad()
def _forecast_shown(model, data: ForecastData, config: ForecastConfig) -> np.ndarray:
    """The model's forecast of the target (last) channel for the plotted windows, ``[W, H]``."""
    if config.plot_windows == 0:
        return np.empty(0)
    model.eval()
    x, _ = data.test.get(_shown_windows(data, config.plot_windows))
    return model(x.to(config.device))[..., -1].cpu().numpy()


def _write_reports(out: Path, results: dict, config: ForecastConfig, horizons: list[int]) -> None:
    write_json(out / "results.json", results)
    (out / "results.md").write_text(markdown(results["runs"], list(config.models), horizons,
                                             f"{results['series']}; lookback {config.lookback}"))


def _plot(out: Path, data: ForecastData, shown: dict, config: ForecastConfig) -> None:
    """forecast-H{horizon}.png: the target channel in its own units (the z-score undone)."""
    if config.plot_windows == 0:
        return
    x, y = data.test.get(_shown_windows(data, config.plot_windows))
    mean, std = data.mean[-1], data.std[-1]
    plot_forecasts(out / f"forecast-H{data.horizon}.png", history=x[..., -1].numpy() * std + mean,
                   truth=y[..., -1].numpy() * std + mean,
                   forecasts={name: pred * std + mean for name, pred in shown.items()},
                   channel=data.series.channels[-1],
                   title=f"{data.series.name}: test forecasts, horizon {data.horizon} (seed {config.seeds[0]})")
