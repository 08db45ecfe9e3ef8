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
    contexts = {v: json.loads((run / "context" / "context.json").read_text())["bins"]
                for v, run in runs.items() if (run / "context" / "context.json").is_file()}
    labels = [b_label(b) for b in next(iter(contexts.values()), [])]
    lines = ["## Bits per base (held-out genome NTUH-K2044 by context position; validation: training genomes' tails)",
             "", "| model | parameters | tokens | validation | " + " | ".join(labels) + " |",
             "|---|---|---|---|" + "---|" * len(labels)]
    for variant, run in runs.items():
        valid = last_validation(run)
        if valid is None:  # still in its first evaluation interval
            continue
        bits = " | ".join(f"{b['bits_per_base']:.4f}" for b in contexts.get(variant, []))
        lines.append(f"| {variant} | {_parameters(run)} | {valid['tokens']:,} | {valid['bits_per_byte']:.4f} | {bits} |")
    return lines


def b_label(b: dict) -> str:
    short = lambda n: f"{n // 1024}K" if n >= 1024 and n % 1024 == 0 else str(n)  # noqa: E731
    return f"{short(b['start'])}-{short(b['end'])}"


def _parameters(run: Path) -> str:
    log = RUNS / f"{run.name}.log"
    if log.is_file():
        for line in log.read_text().splitlines():
            if line.startswith("trained ") and "M parameters" in line:
                return line.split("(")[1].split(" ")[0]
    return "?"


def classification_table() -> list[str]:
    lines = ["## Splice junctions (StatLog split: 2,000 train / 1,186 test)", "",
             "| model | test accuracy % (mean ± std) | seeds | per seed | parameters |", "|---|---|---|---|---|"]
    for path in sorted(RUNS.glob("dna-splice-*/results.json")):
        results = json.loads(path.read_text())
        for model, entry in results["models"].items():
            s = entry["summary"]
            per_seed = ", ".join(f"{100 * a:.2f}" for a in s["accuracies"])
            lines.append(f"| {model} | {100 * s['mean']:.2f} ± {100 * s['std']:.2f} | {len(s['seeds'])} | "
                         f"{per_seed} | {entry['runs'][0]['parameters']:,} |")
    return lines


if __name__ == "__main__":
    print("\n".join(pretraining_table() + [""] + classification_table()))
