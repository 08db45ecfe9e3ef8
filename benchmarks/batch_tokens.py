"""Tokens per second of the trainer's step at several batch sizes: what a smaller batch costs.

    python benchmarks/batch_tokens.py 4096 2048 1024 --rounds 4 --reps 2

For the main job's MAC model and the Transformer++ of its parameter count (benchmarks/main_job.py), the
trainer's own step (``Trainer._step`` on the run's batches, its row shares and document resets included) at
each ``batch_tokens`` given, the context kept. The trainers run in turn, --rounds times, so that machine
noise hits them alike; printed: each one's median step, its tokens per second and the ratio of those to
the first batch size's. Whether the smaller batch learns more in the same minutes is a training question:
benchmarks/README.md, "Half the batch, a higher floor". The main job's data must be cached (run ``titans
train`` once), and the machine quiet.
"""

from __future__ import annotations

from pathlib import Path

import torch
from main_job import MAIN_CONFIG, interleaved, settings_trainers, timing_parser, trainer_steps, with_baseline

from titans.train import TrainConfig


def main() -> None:
    parser = timing_parser(__doc__, "runs/batch-tokens")
    parser.add_argument("batch_tokens", nargs="+", type=int, help="tokens per step, a multiple of the context")
    args = parser.parse_args()
    main_job = TrainConfig.from_file(str(MAIN_CONFIG), TrainConfig())
    models = with_baseline(main_job)
    labels, configs = [], []
    for label, config in models.items():
        for tokens in args.batch_tokens:
            labels.append(label)
            configs.append(config.replace(batch_tokens=tokens))
    trainers = settings_trainers(configs, Path(args.out))
    timings = interleaved([trainer_steps(t) for t in trainers], args.rounds, args.reps)
    print(f"context {main_job.context}, {torch.get_num_threads()} threads, median of {args.rounds} x {args.reps} "
          f"steps\n")
    print("| model | batch tokens | row shares | step (s) | tokens/s | against the first |")
    print("|---|---|---|---|---|---|")
    per_model = len(args.batch_tokens)
    for i, (label, config, trainer, timing) in enumerate(zip(labels, configs, trainers, timings)):
        rate = config.batch_tokens / timing.median
        first = configs[i - i % per_model].batch_tokens / timings[i - i % per_model].median
        print(f"| {label} | {config.batch_tokens} | {trainer.row_shares} | {timing.median:.3f} | {rate:.0f} | "
              f"{rate / first:.2f}x |")


if __name__ == "__main__":
    main()
