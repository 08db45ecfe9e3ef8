"""The surprise map over the document as a PNG: one column per memory layer, one row per recorded
quantity (surprise, weight change, theta, eta, alpha), one line per head: over a long document the
per-token values are drawn faint and their running mean (over 1 % of the document) on top."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..layers.write_record import FIELDS
from .surprise import SurpriseMap

_ROW_LABELS = {"inner_loss": "surprise\n||M(k)-v||²", "weight_change": "||W_t - W_t-1||",
               "theta": "theta", "eta": "eta", "alpha": "alpha"}


def plot_gates(surprise: SurpriseMap, path: str | Path, title: str,
               spans: list[tuple[int, int, str]] | None = None) -> None:
    """Write the figure to ``path``; ``spans`` ``(start, end, label)`` shade stretches of the document (token
    positions), e.g. the two copies of a repeated passage."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = len(surprise.layers)
    fig, axes = plt.subplots(len(FIELDS), columns, figsize=(3.6 * columns + 1, 8.5), sharex=True, squeeze=False)
    for col, layer in enumerate(surprise.layers):
        for row, field in enumerate(FIELDS):
            ax = axes[row][col]
            for head, values in enumerate(surprise.values[field][col]):
                window = len(values) // 100
                if window < 2:
                    ax.plot(values, linewidth=0.5, alpha=0.8, color=f"C{head}", label=f"head {head}")
                    continue
                ax.plot(values, linewidth=0.3, alpha=0.2, color=f"C{head}")
                running = np.convolve(values, np.ones(window) / window, mode="valid")
                ax.plot(np.arange(len(running)) + window - 1, running, linewidth=1.0, color=f"C{head}",
                        label=f"head {head}")
            for i, (start, end, label) in enumerate(spans or []):
                ax.axvspan(start, end, color=f"C{i + 2}", alpha=0.12, label=label)
            if field in ("inner_loss", "weight_change", "theta") and (surprise.values[field][col] > 0).any():
                ax.set_yscale("log")
            if row == 0:
                ax.set_title(layer, fontsize=9)
            if col == 0:
                ax.set_ylabel(_ROW_LABELS[field], fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
        axes[-1][col].set_xlabel("token", fontsize=8)
    axes[0][0].legend(fontsize=6, loc="upper right")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
