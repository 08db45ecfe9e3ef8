"""The main job's training step with the memory in every block, or in some blocks and SWA in the others.

    python benchmarks/memory_layers.py                       # the main job's MAC against 4 hybrid stacks
    python benchmarks/memory_layers.py --stacks "4:1,3" "5:1,3" --reps 7

Each stack is LAYERS:BLOCKS (the blocks that carry the memory, 0-based; ``all`` for every block), built
from the main job's configuration (configs/main.toml: the cpu preset, its vocabulary, 16 rows of 256
tokens). One training step is forward, backward and AdamW on random tokens. The models live in one
process and run in turn, so that machine noise hits them alike; the median of --reps steps per stack
is printed with the parameters and the ratio to the first stack. Whether a faster stack learns as well
in the same minutes is a training question: benchmarks/README.md, "Memory in some blocks".
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from main_job import MAIN_CONFIG, training_step, vocab_size

from titans.models.lm import TitansLM
from titans.train import TrainConfig


def parse_stack(text: str) -> tuple[int, list[int] | None]:
    layers, _, blocks = text.partition(":")
    return int(layers), None if blocks in ("", "all") else [int(i) for i in blocks.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stacks", nargs="+", default=["4:all", "4:1,3", "4:3", "5:1,3", "6:1,3,5"],
                        help="LAYERS:BLOCKS per stack (default: %(default)s)")
    parser.add_argument("--reps", type=int, default=5, help="timed steps per stack (default: 5)")
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    main_job = TrainConfig.from_file(str(MAIN_CONFIG), TrainConfig())
    vocab = vocab_size(main_job)
    tokens = torch.randint(0, vocab, (main_job.rows, main_job.context + 1), generator=torch.Generator().manual_seed(0))
    runs = []
    for text in args.stacks:
        layers, blocks = parse_stack(text)
        torch.manual_seed(0)
        model = TitansLM(main_job.replace(model={**main_job.model, "layers": layers, "memory_layers": blocks})
                         .model_config(vocab))
        runs.append((text, model, torch.optim.AdamW(model.parameters(), lr=main_job.lr), []))

    for _, model, optimizer, _ in runs:  # warm-up
        training_step(model, optimizer, tokens)
    for _ in range(args.reps):
        for _, model, optimizer, times in runs:
            start = time.perf_counter()
            training_step(model, optimizer, tokens)
            times.append(time.perf_counter() - start)
    print(f"{main_job.variant}, {main_job.rows} x {main_job.context} tokens a step, {main_job.tokenizer_name}, "
          f"{torch.get_num_threads()} threads, median of {args.reps}\n")
    print("| layers:memory blocks | block kinds | parameters | step (s) | against the first |")
    print("|---|---|---|---|---|")
    first = statistics.median(runs[0][3])
    for text, model, _, times in runs:
        kinds = " ".join("M" if hasattr(block, "memory") else "S" for block in model.blocks)
        seconds = statistics.median(times)
        print(f"| {text} | {kinds} | {model.num_parameters() / 1e6:.2f}M | {seconds:.3f} | {seconds / first:.2f}x |")


if __name__ == "__main__":
    main()
