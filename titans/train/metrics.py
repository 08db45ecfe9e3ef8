"""Run metrics: one JSON object per line in ``metrics.jsonl``, and the curves as ``loss.png``."""

from __future__ import annotations

import json
import os
from pathlib import Path

from torch import nn

from ..layers import NeuralMemory


def memory_gate_means(model: nn.Module) -> dict[str, float]:
    """Per-layer means of the memory's gates and inner loss from the last forward pass (SPEC §2:
    theta = step size, eta = momentum keep, alpha = forgetting), keyed ``memory.L.name``: L is the block's
    index (``blocks.L.memory``; with ``memory_layers`` not every block has one), else the memory's rank."""
    stats = {}
    memories = [(name, m) for name, m in model.named_modules() if isinstance(m, NeuralMemory)]
    for rank, (path, memory) in enumerate(memories):
        parts = path.split(".")
        layer = parts[parts.index("blocks") + 1] if "blocks" in parts[:-1] else str(rank)
        for name, value in memory.last_stats.items():
            stats[f"memory.{layer}.{name}"] = float(value)
    return stats


def read_metrics(path: Path) -> list[dict]:
    """The records of a ``metrics.jsonl``; a line that is not a JSON object is skipped, since a process
    killed while appending (SIGKILL, power loss) can leave its last line cut short."""
    path = Path(path)
    if not path.exists():
        return []
    records = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


class MetricsLog:
    """Appends records to ``metrics.jsonl`` (kept across resumes) and redraws ``loss.png`` on demand."""

    def __init__(self, run_dir: Path, *, resume_step: int = 0):
        self.path = Path(run_dir) / "metrics.jsonl"
        self.png = Path(run_dir) / "loss.png"
        if self.path.exists():
            # a resumed run rewrites the steps after its checkpoint rather than listing them twice
            kept = [r for r in read_metrics(self.path) if r.get("step", 0) <= resume_step]
            self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))

    def write(self, record: dict) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")

    def records(self) -> list[dict]:
        return read_metrics(self.path)

    def plot(self) -> None:
        """Training and validation loss against tokens, and the memory gates of every layer."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        records = self.records()
        train = [r for r in records if r.get("kind") == "train"]
        valid = [r for r in records if r.get("kind") == "valid"]
        if not train:
            return
        gate_keys = sorted({k for r in train for k in r if k.startswith("memory.")})
        fig, axes = plt.subplots(1, 2 if gate_keys else 1, figsize=(12 if gate_keys else 6, 4), squeeze=False)
        ax = axes[0, 0]
        ax.plot([r["tokens"] for r in train], [r["loss"] for r in train], label="train loss", lw=1)
        if valid:
            ax.plot([r["tokens"] for r in valid], [r["loss"] for r in valid], "o-", label="validation loss")
        ax.set_xlabel("tokens")
        ax.set_ylabel("loss (nats / token)")
        ax.legend()
        ax.grid(alpha=0.3)
        if gate_keys:
            ax = axes[0, 1]
            for key in gate_keys:
                if key.endswith(("theta", "alpha")):
                    ax.plot([r["tokens"] for r in train], [r.get(key) for r in train], lw=1, label=key)
            ax.set_yscale("log")
            ax.set_xlabel("tokens")
            ax.set_title("memory step size theta and forgetting alpha, per layer")
            ax.legend(fontsize=6, ncol=2)
            ax.grid(alpha=0.3)
        fig.tight_layout()
        tmp = self.png.with_name(self.png.name + ".tmp")  # replaced whole: a kill mid-write leaves the old one
        fig.savefig(tmp, dpi=100, format="png")
        plt.close(fig)
        os.replace(tmp, self.png)
