"""The combined table of every evaluated recall model: accuracy % (samples) by task and length.

A bAbI cell also gives, after "last fact", how often the story's last fact's last word is the answer
(the recency baseline `titans eval babilong` records) when every sample pooled in it has that count.

    python experiments/long_context/table.py        # after evaluate.sh
"""

import json
import sys
from pathlib import Path

from titans.eval.grid import length_label
from titans.eval.recall import CellResult
from titans.eval.report import by_length

RESULTS = Path(__file__).parent / "results"
VARIANTS = ("mac", "mac-n", "mag", "mag-8k", "mag-32k", "mal", "mal-8k", "mal-16k", "lmm", "lmm-long", "lmm-mix",
            "lmm-w", "swa", "transformer")


def main() -> None:
    rows, lengths = {}, set()  # (task, variant) -> length -> (correct, total, recency baseline or None)
    for variant in VARIANTS:
        cells = [CellResult.from_dict(cell) for path in sorted((RESULTS / variant).glob("*/results.json"))
                 for cell in json.loads(path.read_text())["cells"]]
        recency = by_length([c for c in cells if c.recency is not None], count=lambda c: c.recency)
        for (task, length), (correct, total) in by_length(cells).items():
            recent, with_baseline = recency.get((task, length), (0, 0))
            baseline = recent if with_baseline == total else None  # only when every pooled sample has one
            rows.setdefault((task, variant), {})[length] = (correct, total, baseline)
            lengths.add(length)
    if not rows:
        sys.exit(f"no results under {RESULTS}: run experiments/long_context/evaluate.sh first")
    lengths = sorted(lengths)
    print("Exact match % (samples) by task, model and prompt length in bytes. In a bAbI cell, \"last fact\" is how"
          " often the story's last fact's last word is the answer (the recency baseline).\n")
    print("| task | model | " + " | ".join(length_label(n) for n in lengths) + " |")
    print("|---|---|" + "---|" * len(lengths))
    for (task, variant), by_cell in sorted(rows.items(), key=lambda kv: (kv[0][0], VARIANTS.index(kv[0][1]))):
        cells = []
        for n in lengths:
            if n not in by_cell:
                cells.append("—")
                continue
            correct, total, baseline = by_cell[n]
            shown = "" if baseline is None else f"; last fact {100 * baseline / total:.0f} %"
            cells.append(f"{100 * correct / total:.1f} ({total}{shown})")
        print(f"| {task} | {variant} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
