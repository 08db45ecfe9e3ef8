"""Speed and peak memory of titans.NeuralMemory against titans-pytorch, forward + backward.

    python benchmarks/memory_speed.py                 # T = 1K, 4K, 16K; needs `pip install -e .[bench]`
    python benchmarks/memory_speed.py --lengths 1024 --reps 3

Timings: both layers live in one process and run alternately, so that machine noise hits both alike;
the median over repetitions is reported. Peak memory: each layer in its own subprocess (one process
cannot split its peak), after one warm-up step, as the rise of the resident set's high-water mark
above the live memory (CPU, Linux; freed heap is first returned with malloc_trim) or of the CUDA
allocator's peak above what was allocated. The op's FLOP rate uses SPEC §1's count (forward 22 D Dh + 4 b (D + Dh)
per token and head, forward + backward 3x) and is set against a float32 2048^2 matmul timed here.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from peak import peak_mib

BATCH, DIM, HEADS, DIM_HEAD, CHUNK, EXPANSION = 2, 256, 4, 64, 64, 4


def build(impl: str, device: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if impl == "titans":
        from titans import NeuralMemory

        return NeuralMemory(DIM, heads=HEADS, chunk_size=CHUNK, depth=2, expansion=EXPANSION).to(device)
    from titans_pytorch import NeuralMemory as TPNeuralMemory

    # batch_size is its paper-b; chunk_size its update granularity; the residual + LayerNorm wrapper
    # is switched off so that the memory is the plain 64 -> 256 -> 64 MLP of the paper
    return TPNeuralMemory(
        dim=DIM, heads=HEADS, dim_head=DIM_HEAD, chunk_size=CHUNK, batch_size=CHUNK,
        mem_model_norm_add_residual=False,
        default_model_kwargs=dict(depth=2, expansion_factor=float(EXPANSION)),
    ).to(device)


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def step(layer: torch.nn.Module, x: torch.Tensor) -> None:
    out, _ = layer(x)
    out.float().square().mean().backward()


def timed(fn, device: str) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def matmul_rate(device: str, reps: int = 7) -> float:
    a = torch.randn(2048, 2048, device=device)
    a @ a
    times = [timed(lambda: a @ a, device) for _ in range(reps)]
    return 2 * 2048**3 / statistics.median(times)


def op_rate(T: int, device: str, reps: int) -> float:
    """FLOP/s of chunk_memory_update alone, forward + backward, in the benchmark configuration."""
    from titans.ops import chunk_memory_update

    g = torch.Generator(device=device).manual_seed(0)
    shape = (BATCH, HEADS, T, DIM_HEAD)
    hidden = EXPANSION * DIM_HEAD
    leaves = [
        F.normalize(torch.randn(shape, generator=g, device=device), dim=-1),
        F.normalize(torch.randn(shape, generator=g, device=device), dim=-1),
        torch.randn(shape, generator=g, device=device),
        torch.full(shape[:3], 0.01, device=device),
        torch.full(shape[:3], -0.1, device=device),
        torch.full(shape[:3], -0.01, device=device),
        torch.randn(BATCH, HEADS, DIM_HEAD, hidden, generator=g, device=device) / DIM_HEAD**0.5,
        torch.randn(BATCH, HEADS, hidden, DIM_HEAD, generator=g, device=device) / hidden**0.5,
    ]
    for t in leaves:
        t.requires_grad_()

    def run():
        y, _, _ = chunk_memory_update(*leaves[:6], tuple(leaves[6:]), chunk_size=CHUNK, log_gates=True)
        y.square().mean().backward()

    run()
    seconds = statistics.median(timed(run, device) for _ in range(reps))
    flops = 3 * (22 * DIM_HEAD * hidden + 4 * CHUNK * (DIM_HEAD + hidden)) * BATCH * HEADS * T
    return flops / seconds


def subnormal_state(device: str, T: int) -> int:
    """Entries of the final memory state that are subnormal floats (0 when the op flushes them)."""
    layer = build("titans", device)
    with torch.no_grad():
        _, state = layer(torch.randn(BATCH, T, DIM, device=device))
    tiny = torch.finfo(torch.float32).tiny
    return sum(int(((t != 0) & (t.abs() < tiny)).sum()) for t in (*state.weights, *state.momentum))


def peak_memory_worker(impl: str, T: int, device: str) -> None:
    """Run in a subprocess: print the peak memory (MiB) that one training step adds."""
    layer = build(impl, device)
    x = torch.randn(BATCH, T, DIM, device=device)
    step(layer, x)  # warm-up: one-time allocations (thread pools, lazy init) are not the step's
    layer.zero_grad(set_to_none=True)
    print(json.dumps({"peak_mib": peak_mib(lambda: step(layer, x), device)}))


def peak_memory(impl: str, T: int, device: str, runs: int) -> float:
    """Median over ``runs`` fresh subprocesses."""
    peaks = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, __file__, "--worker", impl, "--lengths", str(T), "--device", device],
            capture_output=True, text=True, check=True,
        )
        peaks.append(json.loads(out.stdout.strip().splitlines()[-1])["peak_mib"])
    return statistics.median(peaks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=int, nargs="+", default=[1024, 4096, 16384], help="sequence lengths T")
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions per length and layer")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cpu or cuda")
    parser.add_argument("--memory-runs", type=int, default=3, help="subprocesses per peak-memory figure")
    parser.add_argument("--no-baseline", action="store_true", help="skip titans-pytorch")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()
    if args.worker:
        peak_memory_worker(args.worker, args.lengths[0], args.device)
        return

    impls = ["titans"] if args.no_baseline else ["titans", "titans-pytorch"]
    layers = {impl: build(impl, args.device) for impl in impls}
    rows = []
    for T in args.lengths:
        x = torch.randn(BATCH, T, DIM, device=args.device)
        for impl in impls:  # warm-up (first-call allocations, lazy init)
            step(layers[impl], x)
        times = {impl: [] for impl in impls}
        for _ in range(args.reps):
            for impl in impls:
                times[impl].append(timed(lambda: step(layers[impl], x), args.device))
        # the matmul reference is timed right next to the op, so that both see the same machine
        row = {"T": T, "op_gflops": op_rate(T, args.device, args.reps) / 1e9,
               "matmul_gflops": matmul_rate(args.device) / 1e9}
        for impl in impls:
            row[f"{impl}_tok_s"] = BATCH * T / statistics.median(times[impl])
            row[f"{impl}_peak_mib"] = peak_memory(impl, T, args.device, args.memory_runs)
        rows.append(row)
        print(json.dumps(row), flush=True)

    print(f"\ndevice {args.device}, {torch.get_num_threads()} threads, torch {torch.__version__}\n")
    header = "| T | titans tok/s | titans peak MiB | op GFLOP/s (share of a 2048^2 matmul timed beside it) |"
    sep = "|---|---|---|---|"
    if not args.no_baseline:
        header += " titans-pytorch tok/s | titans-pytorch peak MiB | speed ratio | memory ratio |"
        sep += "---|---|---|---|"
    print(header + "\n" + sep)
    for r in rows:
        line = (f"| {r['T']} | {r['titans_tok_s']:.0f} | {r['titans_peak_mib']:.0f} | "
                f"{r['op_gflops']:.1f} ({r['op_gflops'] / r['matmul_gflops']:.0%}) |")
        if not args.no_baseline:
            line += (f" {r['titans-pytorch_tok_s']:.0f} | {r['titans-pytorch_peak_mib']:.0f} | "
                     f"{r['titans_tok_s'] / r['titans-pytorch_tok_s']:.2f}x | "
                     f"{r['titans_peak_mib'] / r['titans-pytorch_peak_mib']:.2f} |")
        print(line)
    by_T = {r["T"]: r for r in rows}
    if 4096 in by_T and 16384 in by_T:
        # the op must stay linear in T: a state decaying into subnormal floats broke this once (issue 26)
        growth = (16384 / by_T[16384]["titans_tok_s"]) / (4096 / by_T[4096]["titans_tok_s"])
        print(f"\ntitans time from T=4096 to T=16384: x{growth:.2f} (linear: x4; target <= x4.4: "
              f"{'met' if growth <= 4.4 else 'MISSED'})")
    print(f"subnormal entries in the layer's state after T={rows[-1]['T']}: {subnormal_state(args.device, rows[-1]['T'])}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
