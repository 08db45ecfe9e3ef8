"""How much a training step slows down when another job competes for the cores, per variant.

    python benchmarks/under_load.py                       # cpu preset, 16 x 256 tokens, all six variants
    python benchmarks/under_load.py --preset tiny --batch 2 --length 32 --reps 2 --load-threads 1

A step of the memory variants is hundreds of small ops; with intra-op threads each is a parallel
region that waits for all threads, so a descheduled thread stalls every one of them (issue 26 measured
a MAC step 30x slower beside a 2-thread job, Transformer++ about 3x). Each variant's training step
(forward + backward, next-token cross-entropy on random tokens) is timed on the quiet machine, then
while a separate process runs float32 matmuls on --load-threads threads without pause, then quiet
again (the quiet figure is the median of both quiet rounds, so that a drift of the machine shows).
Prints one row per variant: quiet and loaded seconds per step (medians of --reps) and the slowdown.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time

import torch

from titans.config import VARIANTS, TitansConfig
from model_speed import train_step as step

from titans.models.lm import TitansLM


def competing_load(threads: int, stop) -> None:
    """Matmuls without pause until ``stop`` is set: a stand-in for another user's training job."""
    torch.set_num_threads(threads)
    a = torch.randn(1024, 1024)
    while not stop.is_set():
        a = torch.tanh(a @ a)



def timed_steps(models, tokens, reps: int) -> dict[str, list[float]]:
    """Seconds per step, the variants alternating so that the machine's drift hits them alike."""
    times = {v: [] for v in models}
    for _ in range(reps):
        for v, model in models.items():
            start = time.perf_counter()
            step(model, tokens[v])
            times[v].append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--reps", type=int, default=5, help="timed steps per variant and round")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the timed process")
    parser.add_argument("--load-threads", type=int, default=2, help="threads of the competing process")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    models, tokens = {}, {}
    for v in args.variants:
        torch.manual_seed(0)
        models[v] = TitansLM(TitansConfig.from_name(args.preset, variant=v))
        tokens[v] = torch.randint(0, models[v].config.vocab_size, (args.batch, args.length + 1))
        step(models[v], tokens[v])  # warm-up

    quiet = timed_steps(models, tokens, args.reps)
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    load = ctx.Process(target=competing_load, args=(args.load_threads, stop), daemon=True)
    load.start()
    time.sleep(2.0)  # let the competitor reach its steady state
    try:
        loaded = timed_steps(models, tokens, args.reps)
    finally:
        stop.set()
        load.join(timeout=30)
    time.sleep(1.0)
    for v, seconds in timed_steps(models, tokens, args.reps).items():
        quiet[v] += seconds

    print(f"preset {args.preset}, batch {args.batch} x {args.length} tokens, {args.threads} threads against a "
          f"{args.load_threads}-thread matmul loop, medians of {args.reps} (loaded) and {2 * args.reps} (quiet) steps\n")
    print("| variant | quiet s/step | loaded s/step | slowdown |\n|---|---|---|---|")
    for v in args.variants:
        q, busy = statistics.median(quiet[v]), statistics.median(loaded[v])
        print(f"| {v} | {q:.3f} | {busy:.3f} | {busy / q:.2f}x |")


if __name__ == "__main__":
    main()
