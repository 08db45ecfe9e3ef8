"""The health of a training run from its metrics.jsonl: loss, gradient norm and, per memory layer, the
gates theta (inner learning rate), eta (momentum keep), alpha (forgetting) and the inner loss, by step;
and the steps skipped for a non-finite loss or gradient or never reached (a step with no training record).

    python experiments/stability/gates.py runs/main --out experiments/stability/gates.png
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from titans.cli.loading import run_train_config
from titans.train.metrics import read_metrics

GATES = ("theta", "eta", "alpha", "inner_loss")


def train_and_valid(run: Path) -> tuple[list[dict], list[dict]]:
    records = read_metrics(run / "metrics.jsonl")
    return [r for r in records if r["kind"] == "train"], [r for r in records if r["kind"] == "valid"]


def skipped_steps(train: list[dict], steps: int) -> list[int]:
    """Steps without a training record: the trainer logs none for a step it skipped (nor for the steps a
    diverged run never reached; ``steps`` is the run's planned count)."""
    logged = {r["step"] for r in train}
    return [step for step in range(1, steps + 1) if step not in logged]


def layers(train: list[dict]) -> list[str]:
    return sorted({key.split(".")[1] for key in train[0] if key.startswith("memory.")}, key=int)


def plot(train: list[dict], valid: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in train]
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
    loss_ax, norm_ax, *gate_axes = axes.flat
    loss_ax.plot(steps, [r["loss"] / math.log(2) for r in train], linewidth=0.6, label="training")
    loss_ax.plot([r["step"] for r in valid], [r["bits_per_byte"] for r in valid], "o-", label="validation")
    loss_ax.set_ylabel("bits per byte")
    loss_ax.legend(fontsize=7)
    norm_ax.plot(steps, [r["grad_norm"] for r in train], linewidth=0.6)
    norm_ax.set_ylabel("gradient norm (before clipping)")
    norm_ax.set_yscale("log")
    for ax, gate in zip(gate_axes, GATES):
        for layer in layers(train):
            ax.plot(steps, [r[f"memory.{layer}.{gate}"] for r in train], linewidth=0.8, label=f"layer {layer}")
        ax.set_ylabel(gate.replace("_", " ") + (" (mean per token)" if gate != "inner_loss" else ""))
        ax.set_yscale("linear" if gate == "eta" else "log")
    gate_axes[0].legend(fontsize=7)
    for ax in axes.flat:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="run folder holding metrics.jsonl")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    args = parser.parse_args()
    train, valid = train_and_valid(args.run)
    if not train:
        raise SystemExit(f"{args.run / 'metrics.jsonl'} has no training records yet")
    if not layers(train):
        raise SystemExit(f"{args.run} logged no memory gates: is it a model with a neural memory (mac, mag, mal, lmm)?")
    config = run_train_config(args.run)
    skipped = skipped_steps(train, train[-1]["step"] if config is None else config.steps)
    plot(train, valid, args.out, f"{args.run.name}: {len(train)} steps, {len(skipped)} skipped")
    last = train[-1]
    validation = f"; final validation {valid[-1]['bits_per_byte']:.3f} bits per byte" if valid else ""
    print(f"{args.run}: {last['step']} steps, skipped {len(skipped)}{': ' + str(skipped[:10]) if skipped else ''}"
          f"{validation}")
    for layer in layers(train):
        print(f"  layer {layer}: " + ", ".join(f"{g} {last[f'memory.{layer}.{g}']:.3g}" for g in GATES))


if __name__ == "__main__":
    main()
