"""Pass keys with all-different digits against keys holding a digit twice (issue 25, "What caps MAC").

MAC's wrong answers in the committed grid are all at a repeated digit: it copies the key up to the
digit's second occurrence, then continues from the first (" 6716016016..." for 6716019). That is what
a copy does that finds the next digit by the last digit alone. This reads each model on S-NIAH-PK
samples whose keys are all-different (``distinct``) or hold some digit twice or more (``repeated``),
at the same lengths and depth (the keys and haystacks differ: each kind draws its own), so that the
gap between the two is the cost of that shortcut.

    python experiments/long_context/repeat_probe.py experiments/long_context/checkpoints/{mac,lmm} \\
        --lengths 512,4K --samples 40 --json experiments/long_context/results/repeat_probe.json
"""

from __future__ import annotations

import argparse
import json

import torch

from titans.cli.loading import load_trained
from titans.eval.grid import cell_samples, length_label, parse_length
from titans.eval.needles import PassKey
from titans.eval.recall import run_cell

KINDS = ("distinct", "repeated")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--lengths", default="512,4K")
    parser.add_argument("--depth", type=float, default=0.5)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    lengths = [parse_length(x) for x in args.lengths.split(",")]
    rows = []
    for path in args.checkpoints:
        model, _ = load_trained(path)
        for length in lengths:
            row = {"checkpoint": path, "length": length, "depth": args.depth}
            for kind in KINDS:
                samples = cell_samples(PassKey(part="eval", keys=kind), length, args.depth, args.samples, args.seed)
                cell = run_cell(model, samples, batch=8, block=4096)
                row[kind] = {"correct": cell.correct, "total": cell.total}
            rows.append(row)
            print(f"{path} {length_label(length)}: distinct {row['distinct']['correct']}/{args.samples}, "
                  f"repeated {row['repeated']['correct']}/{args.samples}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"seed": args.seed, "samples": args.samples, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
