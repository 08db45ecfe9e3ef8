"""The trainer's step with each micro-batch's rows on one thread against its rows in shares on threads.

    python benchmarks/row_threads.py --rounds 4 --reps 2

For the main job's MAC model and the Transformer++ of its parameter count (benchmarks/main_job.py), the
trainer's own step (``Trainer._step``: forward, loss, backward, clipping, AdamW, on the run's batches with
their document resets) at ``row_threads = 1`` (one forward over all the rows, torch's intra-op threads
inside each op) and at the default (the rows in as many shares as torch has threads, one thread each:
TrainConfig.row_threads). The four trainers run in turn, --rounds times; printed: each one's median step
and the CPU time it used per second of wall time (2.0 is both cores busy on two cores). The main job's
data must be cached (run ``titans train`` once), and the machine quiet.
"""

from __future__ import annotations

from pathlib import Path

import torch
from main_job import MAIN_CONFIG, interleaved, row_settings, settings_trainers, timing_parser, trainer_steps, with_baseline

from titans.train import TrainConfig


def main() -> None:
    parser = timing_parser(__doc__, "runs/row-threads")
    args = parser.parse_args()
    main_job = TrainConfig.from_file(str(MAIN_CONFIG), TrainConfig())
    models = with_baseline(main_job)
    labels, trainers = [], []
    for label, config in models.items():  # one share first, then the default
        trainers += settings_trainers(row_settings(config)[::-1], Path(args.out) / label)
        labels += [label, label]
    timings = interleaved([trainer_steps(t) for t in trainers], args.rounds, args.reps)
    print(f"{main_job.rows} x {main_job.context} tokens a step, {torch.get_num_threads()} threads, median of "
          f"{args.rounds} x {args.reps} steps\n")
    print("| model | row shares | step (s) | CPU s per wall s | against one share |")
    print("|---|---|---|---|---|")
    for i, (label, trainer, timing) in enumerate(zip(labels, trainers, timings)):
        one = timings[i - i % 2].median
        print(f"| {label} | {trainer.row_shares} | {timing.median:.3f} | {sum(timing.cpu) / sum(timing.wall):.2f} | "
              f"{timing.median / one:.2f}x |")


if __name__ == "__main__":
    main()
