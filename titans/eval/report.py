"""Long-context results on disk: every cell as JSON, a markdown table, and a length x depth heatmap."""

from __future__ import annotations

import json
from pathlib import Path

from .grid import length_label
from .recall import CellResult


def by_length(cells: list[CellResult], count=lambda c: c.correct) -> dict[tuple[str, int], tuple[int, int]]:
    """(task, length) -> (count, total) over all depths: the headline numbers (``count`` another tally
    of a cell, such as its recency baseline, instead of its correct answers)."""
    totals: dict[tuple[str, int], list[int]] = {}
    for c in cells:
        t = totals.setdefault((c.task, c.length), [0, 0])
        t[0] += count(c)
        t[1] += c.total
    return {k: (v[0], v[1]) for k, v in totals.items()}


def markdown_table(cells: list[CellResult], model: str) -> str:
    """One row per task, one column per length: accuracy % (samples), depths pooled. A story task
    (bAbI) gets a second row: the recency baseline, answering the last fact's last word."""
    totals = by_length(cells)
    recency = by_length([c for c in cells if c.recency is not None], count=lambda c: c.recency)
    tasks = list(dict.fromkeys(c.task for c in cells))
    lengths = sorted({c.length for c in cells})
    lines = [f"| {model} | " + " | ".join(length_label(n) for n in lengths) + " |",
             "|---|" + "---|" * len(lengths)]

    def row(label: str, task: str, counts: dict) -> str:
        shown = [f"{100 * counts[task, n][0] / counts[task, n][1]:.1f} ({counts[task, n][1]})"
                 if (task, n) in counts else "—" for n in lengths]
        return f"| {label} | " + " | ".join(shown) + " |"

    for task in tasks:
        lines.append(row(task, task, totals))
        if any(key[0] == task for key in recency):
            lines.append(row(f"{task}: the last fact's word", task, recency))
    return "\n".join(lines) + "\n"


def heatmap(cells: list[CellResult], path: Path, title: str) -> None:
    """Accuracy of one task by length (x) and needle depth (y), as in the needle-in-a-haystack plots."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    lengths = sorted({c.length for c in cells})
    depths = sorted({c.depth for c in cells})
    grid = np.full((len(depths), len(lengths)), np.nan)
    for c in cells:
        grid[depths.index(c.depth), lengths.index(c.length)] = 100 * c.accuracy
    fig, ax = plt.subplots(figsize=(1.1 * len(lengths) + 2, 0.55 * len(depths) + 1.8))
    image = ax.imshow(grid, cmap="RdYlGn", vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(range(len(lengths)), [length_label(n) for n in lengths])
    ax.set_yticks(range(len(depths)), [f"{d:.0%}" for d in depths])
    ax.set_xlabel("context length (bytes = tokens)")
    ax.set_ylabel("needle depth")
    for (i, j), value in np.ndenumerate(grid):
        if not np.isnan(value):
            ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=8)
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="accuracy %")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_results(cells: list[CellResult], out: Path, model: str, meta: dict) -> list[Path]:
    """``results.json`` (every cell and ``meta``), ``results.md``, and ``heatmap-TASK.png`` per needle
    task; returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "results.json", out / "results.md"]
    (out / "results.json").write_text(json.dumps({**meta, "cells": [c.to_dict() for c in cells]}, indent=1))
    (out / "results.md").write_text(markdown_table(cells, model))
    for task in dict.fromkeys(c.task for c in cells):
        mine = [c for c in cells if c.task == task]
        if mine[0].depth is not None:
            path = out / f"heatmap-{task}.png"
            heatmap(mine, path, f"{model}: S-NIAH-{task.upper()}")
            written.append(path)
    return written
