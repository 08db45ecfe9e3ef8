"""MAC's training step with consecutive whole segments in one call, against every segment on its own.

    python benchmarks/mac_segments.py

The main job (configs/main.toml: the cpu preset's MAC, its BPE vocabulary, rows of 256 tokens, two segments of
128 a row) takes the trainer's own step (its data, its row shares on threads, AdamW), timed three ways in turn
(benchmarks/main_job.py's ``interleaved``), so that the machine's drift hits them alike:
``MACBlock.whole_segments_at_once`` (the default: one memory projection and output and one attention call
over a block's whole segments), the same model with every segment on its own (the reference; the same result,
tests/models/test_mac_whole_segments.py), and the main job's Transformer++ baseline (width 144, as in
benchmarks/main_job.py). Prints each median step and its ratio to the first.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from main_job import MAIN_CONFIG, interleaved, settings_trainers, trainer_steps, with_baseline

from titans.train import TrainConfig

LABELS = ("mac, whole segments at once", "mac, segment by segment", "transformer++")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=4, help="rounds over the three (default: 4)")
    parser.add_argument("--reps", type=int, default=3, help="timed steps per model and round (default: 3)")
    parser.add_argument("--out", default="runs/mac-segments", help="the trainers' run folders (default: %(default)s)")
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    main_job = TrainConfig.from_file(str(MAIN_CONFIG), TrainConfig())
    mac, baseline = with_baseline(main_job).values()
    trainers = settings_trainers([mac, mac, baseline], Path(args.out))
    for block in trainers[1].module.blocks:
        block.whole_segments_at_once = False
    timings = interleaved([trainer_steps(t) for t in trainers], args.rounds, args.reps, warmup=2)
    print(f"{main_job.rows} x {main_job.context} tokens a step, {torch.get_num_threads()} threads, row shares "
          f"{trainers[0].row_shares}, median of {args.rounds} x {args.reps} steps each\n")
    print("| model | step (s) | against the first |")
    print("|---|---|---|")
    for label, timing in zip(LABELS, timings):
        print(f"| {label} | {timing.median:.3f} | {timing.median / timings[0].median:.2f}x |")


if __name__ == "__main__":
    main()
