"""The table of the Wikipedia comparison (issue 24 §3) from the runs of run_all.sh, in Markdown on stdout.

    python experiments/wikipedia/table.py > experiments/wikipedia/table.md
    python experiments/wikipedia/table.py --tokenizer bpe-8192 > experiments/wikipedia/bpe-8192/table.md
    python experiments/wikipedia/table.py --tokenizer bpe-8192 --previous experiments/wikipedia/bpe-8192/table.md \
        > table.md   # runs trained since, over the rows of runs no longer in runs/

Per run: parameters, tokens, the run's own final validation (state carried through each held-out page,
or fresh windows for Transformer++, which carries none), the same bytes read afresh per 512-byte window
(``fresh.json``; 512 tokens of a subword round), the tokens at which the validation first fell below 2.5 bits per byte, the wall time and
the by-position gain over the Austen novels at 16-64K; then the two-seed means and spreads.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from titans import TitansConfig, TitansLM
from titans.cli.loading import run_train_config
from titans.data.subword import subword_vocab_size
from titans.train.metrics import read_metrics

ROOT = Path(__file__).resolve().parents[2]
RUNS = ("transformer", "transformer-seed1", "swa", "lmm", "mac", "mac-seed1", "mag", "mal", "mal-seed1")
TARGET_BPB = 2.5
LONG_BINS = (16384, 65536)  # the span of issue 24 §2's gain target


def validations(run: Path) -> list[dict]:
    return [r for r in read_metrics(run / "metrics.jsonl") if r["kind"] == "valid"]


def run_prefix(tokenizer: str) -> str:
    """The runs/ name prefix of run_all.sh's round for ``tokenizer``."""
    return "wikipedia" if tokenizer == "bytes" else f"wikipedia-{tokenizer}"


def model_config(config) -> TitansConfig:
    return config.model_config(vocab_size=subword_vocab_size(config.tokenizer_name) or 256)


def long_gain(run: Path) -> float | None:
    path = run / "by_position" / "by_position.json"
    if not path.exists():
        return None
    bins = [b for b in json.loads(path.read_text())["bins"] if LONG_BINS[0] <= b["start"] < LONG_BINS[1]]
    if not bins:  # read over shorter documents
        return None
    return sum(b["gain"] * b["bytes"] for b in bins) / sum(b["bytes"] for b in bins)


def wall_seconds(prefix: str) -> dict[str, int]:
    path = ROOT / "runs" / f"{prefix}-wall-seconds.txt"
    lines = path.read_text().split("\n") if path.exists() else []
    return {name: int(seconds) for name, seconds in (line.split() for line in lines if line.strip())}


def previous_rows(path: Path | None) -> dict[str, list[str]]:
    """The cells of each run's row in an earlier table printed by this script (none without ``path``)."""
    if path is None:
        return {}
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in path.read_text().splitlines()
            if line.startswith("| ")]
    return {cells[0]: cells for cells in rows if len(cells) > 4 and cells[4].startswith("**")}  # finished runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", default="bytes", help="the round of run_all.sh (its TOKENIZER)")
    parser.add_argument("--previous", type=Path,
                        help="an earlier table of this round: the rows of runs that runs/ no longer holds come from it")
    args = parser.parse_args()
    prefix = run_prefix(args.tokenizer)
    walls, finals, previous = wall_seconds(prefix), {}, previous_rows(args.previous)
    print("| run | layers | parameters | tokens | validation, bits per byte (the run's own) "
          f"| read afresh per 512 tokens | first below {TARGET_BPB} at | wall time | gain at 16-64K (Austen) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in RUNS:
        run = ROOT / "runs" / f"{prefix}-{name}"
        if not run.exists() and name in previous:
            cells = previous[name]
            finals[name] = float(cells[4].strip("*"))
            print("| " + " | ".join(cells) + " |")
            continue
        valid = validations(run)
        if not valid:
            print(f"| {name} | no validation yet |" + " |" * 7)
            continue
        last = valid[-1]
        train_config = run_train_config(run)
        steps = train_config.steps
        if last["step"] < steps:  # still training (or stopped early): not a final figure
            print(f"| {name} | unfinished: validation {last['bits_per_byte']:.3f} at step {last['step']} of {steps} |"
                  + " |" * 7)
            continue
        finals[name] = last["bits_per_byte"]
        fresh = run / "fresh.json"
        fresh_bpb = f"{json.loads(fresh.read_text())['bits_per_byte']:.3f}" if fresh.exists() else "–"
        below = next((r["tokens"] for r in valid if r["bits_per_byte"] < TARGET_BPB), None)
        gain = long_gain(run)
        config = model_config(train_config)
        cells = [name, str(config.layers), f"{TitansLM(config).num_parameters() / 1e6:.2f}M", f"{last['tokens']:,}",
                 f"**{last['bits_per_byte']:.3f}**", fresh_bpb,
                 "not reached" if below is None else f"{below:,} tokens",
                 f"{walls[name] / 60:.1f} min" if name in walls else "?",
                 "–" if gain is None else f"{gain:+.3f}"]
        print("| " + " | ".join(cells) + " |")
    print()
    for base in ("mac", "mal", "transformer"):
        pair = [finals[n] for n in (base, f"{base}-seed1") if n in finals]
        if len(pair) == 2:
            print(f"- {base}, seeds 0 and 1: mean {statistics.mean(pair):.3f}, spread {abs(pair[0] - pair[1]):.3f} "
                  "bits per byte")


if __name__ == "__main__":
    main()
