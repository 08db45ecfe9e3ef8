"""The markdown table of the six Wikipedia runs: parameters, final validation loss and bits per byte, wall time."""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VARIANTS = ("transformer", "swa", "lmm", "mac", "mag", "mal")


def main() -> None:
    walls = {}
    wall_file = ROOT / "runs" / "wikipedia-wall-seconds.txt"
    if wall_file.exists():
        for line in wall_file.read_text().split("\n"):
            if line.strip():
                name, seconds = line.split()
                walls[name] = int(seconds)
    print("| model | parameters | tokens | validation loss (nats/token) | bits per byte | wall time |")
    print("|---|---|---|---|---|---|")
    for variant in VARIANTS:
        run = ROOT / "runs" / f"wikipedia-{variant}"
        if not (run / "metrics.jsonl").exists():
            print(f"| {variant} | – | – | not run | – | – |")
            continue
        records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        valid = [r for r in records if r["kind"] == "valid"][-1]
        config = json.loads(sorted((run / "checkpoints").glob("step_*"))[-1].joinpath("config.json").read_text())
        log = (ROOT / "runs" / f"wikipedia-{variant}.log").read_text()
        params = next((line.split("(")[1].split(" parameters")[0] for line in log.splitlines()
                       if line.startswith("trained ")), "?")
        wall = f"{walls[variant] / 60:.1f} min" if variant in walls else "?"
        print(f"| {variant} ({config['layers']} layers) | {params} | {valid['tokens']:,} | {valid['loss']:.4f} | "
              f"{valid['bits_per_byte']:.4f} | {wall} |")


if __name__ == "__main__":
    main()
