"""The combined table of every evaluated recall model: accuracy % (samples) by task and length.

A bAbI cell also gives, after "last fact", how often the story's last fact's last word is the answer
(the recency baseline `titans eval babilong` records) when every sample pooled in it has that count.

    python experiments/long_context/table.py        # after evaluate.sh
"""

import json
import sys
from pathlib import Path

from titans.eval.grid import length_label

RESULTS = Path(__file__).parent / "results"
VARIANTS = ("mac", "mag", "mal", "lmm", "lmm-long", "lmm-mix", "lmm-w", "swa", "transformer")


def main() -> None:
    rows, lengths = {}, set()
    for variant in VARIANTS:
        for path in sorted((RESULTS / variant).glob("*/results.json")):
            for cell in json.loads(path.read_text())["cells"]:
                counts = rows.setdefault((cell["task"], variant), {}).setdefault(
                    cell["length"], {"correct": 0, "total": 0, "recent": 0, "with_baseline": 0})
                counts["correct"] += cell["correct"]
                counts["total"] += cell["total"]
                if "recency_baseline" in cell:
                    counts["recent"] += cell["recency_baseline"]
                    counts["with_baseline"] += cell["total"]
                lengths.add(cell["length"])
    if not rows:
        sys.exit(f"no results under {RESULTS}: run experiments/long_context/evaluate.sh first")
    lengths = sorted(lengths)
    print("Exact match % (samples) by task, model and prompt length in bytes. In a bAbI cell, \"last fact\" is how"
          " often the story's last fact's last word is the answer (the recency baseline).\n")
    print("| task | model | " + " | ".join(length_label(n) for n in lengths) + " |")
    print("|---|---|" + "---|" * len(lengths))
    for (task, variant), by_length in sorted(rows.items(), key=lambda kv: (kv[0][0], VARIANTS.index(kv[0][1]))):
        cells = []
        for n in lengths:
            counts = by_length.get(n)
            if counts is None:
                cells.append("—")
                continue
            total = counts["total"]
            baseline = (f"; last fact {100 * counts['recent'] / total:.0f} %"
                        if counts["with_baseline"] == total else "")
            cells.append(f"{100 * counts['correct'] / total:.1f} ({total}{baseline})")
        print(f"| {task} | {variant} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
