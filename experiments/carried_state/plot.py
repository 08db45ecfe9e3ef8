"""One figure and one table for several `titans eval ppl --by-position` results (issue 24 §2).

    python experiments/carried_state/plot.py LABEL=DIR [LABEL=DIR ...] --out experiments/carried_state

Each DIR holds a ``by_position.json``. Writes ``by_position.png`` (bits per byte by position, state carried
and reset every 1K, one colour per model), ``gain.png`` (the gain of the longer context per bin) and prints
the gain table in Markdown.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from titans.cli.by_position import plot_by_position
from titans.eval.by_position import short_count


def load(pairs: list[str]) -> dict[str, dict]:
    results = {}
    for pair in pairs:
        label, _, folder = pair.partition("=")
        if not folder:
            raise SystemExit(f"expected LABEL=DIR, got {pair!r}")
        results[label] = json.loads((Path(folder) / "by_position.json").read_text())
    return results


def unit(result: dict) -> str:
    """What a reading's positions count: bytes for a byte model, tokens for a subword one."""
    return "bytes" if all(b["bytes"] == b["tokens"] for b in result["bins"]) else "tokens"


def gain_table(results: dict[str, dict]) -> list[str]:
    labels = list(results)
    first = results[labels[0]]
    limit = f"reset every {short_count(first['limit'])}"
    lines = [f"| position ({unit(first)}) | " + " | ".join(f"{label}: carried / {limit} / gain" for label in labels)
             + " |",
             "|---|" + "---|" * len(labels)]
    for i, b in enumerate(first["bins"]):
        cells = []
        for label in labels:
            r = results[label]["bins"][i]
            cells.append(f"{r['bits_per_byte']:.3f} / {r['bits_per_byte_limited']:.3f} / **{r['gain']:+.3f}**")
        lines.append(f"| {short_count(b['start'])}-{short_count(b['end'])} | " + " | ".join(cells) + " |")
    return lines


def plot_gain(results: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for label, result in results.items():
        bins = [b for b in result["bins"] if b["start"] >= result["limit"]]
        ax.plot([(b["start"] + b["end"]) / 2 for b in bins], [b["gain"] for b in bins], marker="o", label=label)
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_xscale("log", base=2)
    first = next(iter(results.values()))
    ax.set_xlabel(f"position in the document ({unit(first)} of context)")
    ax.set_ylabel("bits per byte saved by the carried state")
    ax.set_title(f"gain of the state carried from the document's start over a reset every "
                 f"{short_count(first['limit'])} {unit(first)}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="LABEL=DIR, DIR holding by_position.json")
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNGs and the JSON copies")
    args = parser.parse_args()
    results = load(args.results)
    args.out.mkdir(parents=True, exist_ok=True)
    for pair in args.results:
        label, _, folder = pair.partition("=")
        shutil.copyfile(Path(folder) / "by_position.json", args.out / f"{label}.json")
    first = next(iter(results.values()))
    title = (f"bits per byte by position: {len(first['documents'])} novels of {first['data']}, "
             f"{first['length']:,} {unit(first)} each")
    plot_by_position(results, args.out / "by_position.png", title)
    plot_gain(results, args.out / "gain.png")
    print("\n".join(gain_table(results)))


if __name__ == "__main__":
    main()
