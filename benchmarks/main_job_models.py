"""The main job's training step with some of its model's fields changed: which model shape is fastest.

    python benchmarks/main_job_models.py "memory_depth=2" "" "memory_chunk=64" "memory_heads=2"
    python benchmarks/main_job_models.py "" "memory_layers=[1,3]" "memory_layers=[3]" \\
        "layers=5 memory_layers=[1,3]" "layers=6 memory_layers=[1,3,5]"

Each argument is one model: space-separated FIELD=VALUE changes to the main job's model (configs/main.toml:
the cpu preset, its vocabulary, its rows of 256 tokens (16 until session 14, 8 now); "" is the main job itself), as `titans train --set`
takes them, and variant=NAME for another variant of the same preset. One training step is forward, backward and AdamW on random tokens. The models live in one
process and run in turn, --rounds times, so that machine noise hits them alike; each round times --reps
steps per model, and the median over all of them is printed with the parameters and the ratio to the
first model. Whether a faster model learns as well in the same minutes is a training question:
benchmarks/README.md, "Memory in some blocks" and "A linear memory".
"""

from __future__ import annotations

import argparse
import functools

import torch
from main_job import MAIN_CONFIG, interleaved, timed_vocab_size, training_step

from titans.cli.fields import parse_assignments
from titans.models.lm import TitansLM
from titans.train import TrainConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help='FIELD=VALUE changes per model, "" for the main job itself')
    parser.add_argument("--reps", type=int, default=4, help="timed steps per model and round (default: 4)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over the models (default: 3)")
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    main_job = TrainConfig.from_file(str(MAIN_CONFIG), TrainConfig())
    vocab = timed_vocab_size(main_job)
    tokens = torch.randint(0, vocab, (main_job.rows, main_job.context + 1), generator=torch.Generator().manual_seed(0))
    runs = []
    for text in args.models:
        torch.manual_seed(0)
        changes = parse_assignments(text.split(), "main_job_models.py: a model")
        variant = changes.pop("variant", main_job.variant)  # a TrainConfig field, not a model field
        job = main_job.replace(variant=variant, model={**main_job.model, **changes})
        model = TitansLM(job.model_config(vocab))
        runs.append((text or "(the main job)", model, torch.optim.AdamW(model.parameters(), lr=main_job.lr)))
    timings = interleaved([functools.partial(training_step, model, optimizer, tokens) for _, model, optimizer in runs],
                          args.rounds, args.reps)
    print(f"{main_job.rows} x {main_job.context} tokens a step, {main_job.tokenizer_name}, "
          f"{torch.get_num_threads()} threads, median of {args.rounds} x {args.reps} steps\n")
    print("| model fields | block kinds | parameters | step (s) | against the first |")
    print("|---|---|---|---|---|")
    first = timings[0].median
    for (text, model, _), timing in zip(runs, timings):
        kinds = " ".join("M" if hasattr(block, "memory") else "S" for block in model.blocks)
        print(f"| {text} | {kinds} | {model.num_parameters() / 1e6:.2f}M | {timing.median:.3f} | "
              f"{timing.median / first:.2f}x |")

if __name__ == "__main__":
    main()
