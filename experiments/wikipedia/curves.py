"""Loss curves of the Wikipedia comparison (issue 24 §3): training loss (a 25-step moving mean) and the
run's own validation, in bits per byte against tokens, one colour per run.

    python experiments/wikipedia/curves.py --out experiments/wikipedia/loss_curves.png
    python experiments/wikipedia/curves.py --tokenizer bpe-8192 --out experiments/wikipedia/bpe-8192/loss_curves.png

With subword tokens the training loss (nats per token) is put in bits per byte with the bytes per token of
the run's own validation text, an approximation for the training text (the validation is exact).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from table import ROOT, RUNS, TARGET_BPB, run_prefix

from titans.train.metrics import read_metrics

SMOOTHING = 25  # steps in the moving mean of the training loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    parser.add_argument("--tokenizer", default="bytes", help="the round of run_all.sh (its TOKENIZER)")
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (train_ax, valid_ax) = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for name in RUNS:
        records = read_metrics(ROOT / "runs" / f"{run_prefix(args.tokenizer)}-{name}" / "metrics.jsonl")
        if not records:
            continue
        train = [r for r in records if r["kind"] == "train"]
        valid = [r for r in records if r["kind"] == "valid"]
        if not valid:  # a subword run's bytes per token come from its validation
            continue
        # bits per byte = nats per token / ln 2 / bytes per token (1 for byte tokens)
        bytes_per_token = 1.0 if args.tokenizer == "bytes" else valid[-1]["bytes"] / valid[-1]["scored_tokens"]
        bits = [r["loss"] / math.log(2) / bytes_per_token for r in train]
        smooth = [sum(bits[max(0, i - SMOOTHING + 1):i + 1]) / len(bits[max(0, i - SMOOTHING + 1):i + 1])
                  for i in range(len(bits))]
        style = "--" if name.endswith("seed1") else "-"
        line, = train_ax.plot([r["tokens"] for r in train], smooth, style, label=name, linewidth=1.2)
        valid_ax.plot([r["tokens"] for r in valid], [r["bits_per_byte"] for r in valid], style, marker="o",
                      color=line.get_color(), label=name)
    for ax, title in ((train_ax, f"training loss ({SMOOTHING}-step moving mean)"),
                      (valid_ax, "validation on the held-out articles (the run's own)")):
        ax.axhline(TARGET_BPB, color="grey", linewidth=0.8, linestyle=":")
        ax.set_xlabel("tokens trained on" + (" (bytes)" if args.tokenizer == "bytes" else f" ({args.tokenizer})"))
        ax.set_title(title, fontsize=9)
        ax.set_ylim(1.8, 4.0)
        ax.grid(alpha=0.3)
    train_ax.set_ylabel("bits per byte")
    valid_ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
