"""The DNA tables of experiments/dna/README.md from the run folders that run_all.sh leaves in runs/."""

import json
import sys
from pathlib import Path

RUNS = Path(sys.argv[1] if len(sys.argv) > 1 else "runs")
VARIANTS = ("mag", "transformer", "swa")


def last_validation(run: Path) -> dict | None:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    valid = [r for r in records if r["kind"] == "valid"]
    return valid[-1] if valid else None


def pretraining_table() -> list[str]:
    runs = {v: RUNS / f"dna-{v}" for v in VARIANTS if (RUNS / f"dna-{v}" / "metrics.jsonl").is_file()}
    contexts = {v: [json.loads(p.read_text()) for p in sorted(run.glob("context*/context.json"))]
                for v, run in runs.items()}
    longest = max((c["bins"] for cs in contexts.values() for c in cs), key=len, default=[])
    labels = [b_label(b) for b in longest]
    legend = ("Validation: the training genomes' last 2 %, 1K context. Then the held-out genome NTUH-K2044, 4 "
              "stretches of the given length, by position in the stretch: bits per base with all the context read "
              "so far, and in brackets the gain of that context: the same bases' bits per base with the state reset "
              "every 1,024 bases minus those with all of it (positive: the longer context helped).")
    lines = ["## Bits per base", "", legend, "",
             "| model | parameters | tokens | validation | stretch | " + " | ".join(labels) + " |",
             "|---|---|---|---|---|" + "---|" * len(labels)]
    for variant, run in runs.items():
        valid = last_validation(run)
        if valid is None:  # still in its first evaluation interval
            continue
        head = f"| {variant} | {_parameters(run)} | {valid['tokens']:,} | {valid['bits_per_byte']:.4f}"
        for context in contexts[variant] or [{"length": None, "bins": []}]:
            bins = context["bins"]
            cells = [_cell(b) for b in bins] + ["-"] * (len(labels) - len(bins))
            stretch = f"{context['length'] // 1024}K" if context["length"] else "-"
            lines.append(f"{head} | {stretch} | " + " | ".join(cells) + " |")
    return lines


def _cell(b: dict) -> str:
    if "bits_per_base_limited" not in b:
        return f"{b['bits_per_base']:.4f}"
    return f"{b['bits_per_base']:.4f} ({b['bits_per_base_limited'] - b['bits_per_base']:+.4f})"


def b_label(b: dict) -> str:
    return f"{_short(b['start'])}-{_short(b['end'])}"


def _short(n: int) -> str:
    return f"{n // 1024}K" if n >= 1024 and n % 1024 == 0 else str(n)


def _parameters(run: Path) -> str:
    log = RUNS / f"{run.name}.log"
    if log.is_file():
        for line in log.read_text().splitlines():
            if line.startswith("trained ") and "M parameters" in line:
                return line.split("(")[1].split(" ")[0]
    return "?"


def classification_table() -> list[str]:
    lines = []
    for data, title in (("splice", "Splice junctions (StatLog split: 2,000 train / 1,186 test)"),
                        ("promoters", "E. coli promoters (86 train / 20 test: one error is 5 points)")):
        lines += ["", f"## {title}", "",
                  "| model | test accuracy % (mean ± std) | seeds | per seed | parameters |", "|---|---|---|---|---|"]
        for path in sorted(RUNS.glob(f"dna-{data}-*/results.json")):
            results = json.loads(path.read_text())
            for model, entry in results["models"].items():
                s = entry["summary"]
                name = model if not results["init"] or model == "cnn" else f"{model}, pre-trained ({results['init']})"
                per_seed = ", ".join(f"{100 * a:.2f}" for a in s["accuracies"])
                lines.append(f"| {name} | {100 * s['mean']:.2f} ± {100 * s['std']:.2f} | {len(s['seeds'])} | "
                             f"{per_seed} | {entry['runs'][0]['parameters']:,} |")
    return lines


if __name__ == "__main__":
    print("\n".join(pretraining_table() + classification_table()))
