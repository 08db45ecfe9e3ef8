"""Where a training step's time goes, per variant: the memory op, attention, projections, norms and gates.

    python benchmarks/profile_step.py --lengths 4096 16384 --variants mac mag mal lmm transformer

One forward + backward (next-token cross-entropy on random bytes, batch 1) of each variant under
``torch.profiler``, after a warm-up step. Each CPU op's own time (self time, every thread) is put in
one category by what it is: inside the memory op's chunk walk (``ChunkedMemory`` forward and
backward), its matmuls and its other ops (elementwise work, reductions, copies); outside it, the
matmuls (projections, feed-forward, output head, and the blocked sliding-window attention of MAG, MAL
and SWA, which is matmuls and a softmax), PyTorch's fused attention kernels (SDPA: Transformer++ and
MAC's segment attention) and every other op (norms, gates, activations, softmax, copies). The
profiler adds its own cost per op, so the shares are what they are for, and the step time beside them
is the profiled one.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import torch
from torch.profiler import ProfilerActivity, profile

from model_speed import train_step as step

from titans.config import VARIANTS, TitansConfig
from titans.models.lm import TitansLM

MATMULS = {"aten::mm", "aten::bmm", "aten::addmm", "aten::baddbmm", "aten::matmul", "aten::linear"}
CATEGORIES = ("walk matmuls", "walk other ops", "matmuls", "SDPA attention", "other ops")



def categorise(events) -> dict[str, float]:
    """Self CPU seconds per category; an op belongs to the walk when a ChunkedMemory scope encloses it."""
    seconds = defaultdict(float)
    walks = [(e.time_range.start, e.time_range.end) for e in events if "ChunkedMemory" in e.name]

    def in_walk(e) -> bool:
        # the walk's rows run on worker threads (titans/ops/row_parallel.py): an op on any thread during a
        # walk belongs to it, as nothing else runs while the caller waits for its workers
        return any(lo <= e.time_range.start <= hi for lo, hi in walks)

    for e in events:
        if e.name.startswith("ProfilerStep") or "ChunkedMemory" in e.name:
            continue
        own = e.self_cpu_time_total / 1e6
        matmul = e.name.rstrip("_") in MATMULS  # baddbmm_ is the in-place baddbmm
        if in_walk(e):
            seconds["walk matmuls" if matmul else "walk other ops"] += own
        elif "scaled_dot_product" in e.name:
            seconds["SDPA attention"] += own
        else:
            seconds["matmuls" if matmul else "other ops"] += own
    return seconds


def microseconds(fn, reps: int = 300) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - start) / reps * 1e6


def walk_shapes() -> None:
    """One thread: is the walk's matmul compute-bound (a twice wider one costs twice), and what do
    strided halves cost the elementwise work (the joined [W | S] state tried for issue 26)?"""
    torch.set_num_threads(1)
    x, joined = torch.randn(2, 64, 64), torch.randn(2, 64, 512)
    w, a, out = joined[..., :256].contiguous(), torch.rand(2, 1, 1), torch.empty(2, 64, 512)
    mm = microseconds(lambda: torch.bmm(x, w))
    print(f"\none thread: bmm [2, 64, 64] @ [2, 64, 256] {mm:.0f} us ({2 * 2 * 64 * 64 * 256 / mm / 1e3:.0f} GFLOP/s); "
          f"@ [2, 64, 512] {microseconds(lambda: torch.bmm(x, joined)):.0f} us; multiply [2, 64, 256] "
          f"{microseconds(lambda: torch.mul(w, a)):.1f} us, into half of [2, 64, 512] "
          f"{microseconds(lambda: torch.mul(w, a, out=out[..., :256])):.1f} us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--variants", nargs="+", default=["mac", "mag", "mal", "lmm", "transformer"], choices=VARIANTS)
    parser.add_argument("--lengths", type=int, nargs="+", default=[4096, 16384])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--checkpointing", action="store_true", help="recompute every block in the backward")
    parser.add_argument("--walk-shapes", action="store_true", help="also time the walk's shapes on one thread")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    print("| variant | T | step (s) | " + " | ".join(CATEGORIES) + " |")
    print("|---|---|---|" + "---|" * len(CATEGORIES))
    for n in args.lengths:
        for variant in args.variants:
            torch.manual_seed(0)
            model = TitansLM(TitansConfig.from_name(args.preset, variant=variant))
            model.gradient_checkpointing = args.checkpointing
            tokens = torch.randint(0, model.config.vocab_size, (1, n + 1))
            step(model, tokens)
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                step(model, tokens)
            events = prof.events()
            seconds = categorise(events)
            total = sum(seconds.values())
            wall = max(e.time_range.end for e in events) - min(e.time_range.start for e in events)
            shares = " | ".join(f"{100 * seconds[c] / total:.0f} %" for c in CATEGORIES)
            print(f"| {variant} | {n} | {wall / 1e6:.2f} | {shares} |", flush=True)
    if args.walk_shapes:
        walk_shapes()


if __name__ == "__main__":
    main()
