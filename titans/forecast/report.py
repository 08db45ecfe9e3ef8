"""What a forecasting run leaves behind: the results as JSON, markdown tables (mean ± std over seeds),
and a PNG per horizon of a few test forecasts against the ground truth."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import numpy as np


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.replace(path)  # a reader never sees half a file


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1; 0 for a single value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summarise(runs: list[dict], models: list[str], horizons: list[int]) -> dict:
    """Per model: ``{horizon or "avg": {"mse": (mean, std), "mae": (mean, std), "seeds": n}}``.

    "avg" is taken per seed over the horizons (only for seeds that ran every horizon), then mean and
    std over those seeds: the spread that a comparison of the horizon averages must beat.
    """
    table = {}
    for model in models:
        rows = [r for r in runs if r["model"] == model]
        entry = {}
        for h in horizons:
            at = [r for r in rows if r["horizon"] == h]
            if at:
                entry[h] = {m: mean_std([r[m] for r in at]) for m in ("mse", "mae")} | {"seeds": len(at)}
        seeds = sorted({r["seed"] for r in rows})
        complete = [s for s in seeds if all(any(r["seed"] == s and r["horizon"] == h for r in rows) for h in horizons)]
        if complete:
            per_seed = {m: [statistics.fmean(r[m] for r in rows if r["seed"] == s) for s in complete]
                        for m in ("mse", "mae")}
            entry["avg"] = {m: mean_std(v) for m, v in per_seed.items()} | {"seeds": len(complete)}
        table[model] = entry
    return table


def markdown(runs: list[dict], models: list[str], horizons: list[int], title: str) -> str:
    """An MSE table, an MAE table (models x horizons + the average) and the training cost per model."""
    table = summarise(runs, models, horizons)
    columns = [*horizons, "avg"]
    lines = [f"# {title}", ""]
    for metric in ("mse", "mae"):
        lines += [f"## {metric.upper()} (normalised scale; mean ± std over seeds)", "",
                  "| model | " + " | ".join(f"H={c}" if c != "avg" else "average" for c in columns) + " |",
                  "|---" * (len(columns) + 1) + "|"]
        for model in models:
            cells = []
            for c in columns:
                cell = table[model].get(c)
                cells.append(f"{cell[metric][0]:.4f} ± {cell[metric][1]:.4f}" if cell else "—")
            lines.append(f"| {model} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## Training", "", "| model | parameters | runs | epochs (mean) | seconds per run (mean) |",
              "|---|---|---|---|---|"]
    for model in models:
        rows = [r for r in runs if r["model"] == model]
        if rows:
            lines.append(f"| {model} | {rows[0]['parameters']:,} | {len(rows)} | "
                         f"{statistics.fmean(r['epochs'] for r in rows):.1f} | "
                         f"{statistics.fmean(r['seconds'] for r in rows):.1f} |")
    return "\n".join(lines) + "\n"


def plot_forecasts(path: Path, *, history: np.ndarray, truth: np.ndarray, forecasts: dict[str, np.ndarray],
                   channel: str, title: str) -> None:
    """One panel per window: ``history: [W, L]``, ``truth: [W, H]``, ``forecasts: model -> [W, H]``."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    windows, lookback = history.shape
    horizon = truth.shape[1]
    fig, axes = plt.subplots(windows, 1, figsize=(10, 2.6 * windows), squeeze=False)
    past, future = np.arange(-lookback, 0), np.arange(horizon)
    for w, ax in enumerate(axes[:, 0]):
        ax.plot(past, history[w], color="0.5", lw=1, label="input")
        ax.plot(future, truth[w], color="black", lw=1.5, label="truth")
        for name, pred in forecasts.items():
            ax.plot(future, pred[w], lw=1, label=name)
        ax.axvline(0, color="0.8", lw=0.8)
        ax.set_ylabel(channel)
    axes[0, 0].set_title(title)
    axes[0, 0].legend(loc="upper left", fontsize=8, ncol=math.ceil((len(forecasts) + 2) / 2))
    axes[-1, 0].set_xlabel("steps from the forecast origin")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
