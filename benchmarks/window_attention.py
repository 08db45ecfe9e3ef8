"""Sliding-window attention on the CPU: the blocked path against SDPA's dense masked kernel, by shape.

    python benchmarks/window_attention.py            # one thread, as each row share of the trainer runs
    python benchmarks/window_attention.py --threads 2

Forward and backward of `sliding_window_attention` with 4 persistent tokens (their own queries, as the
models pass them) for 4 rows of 4 heads of width 32, each backend in turn in the same rounds; then one
decoded token against a full cache, forward only. The ratio column is what `_dense_is_cheaper` in
`titans/ops/attention.py` turns into its rule: `auto` takes SDPA where its T x L scores are at most a
quarter more than the blocked path's N s K, the last column.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from titans.ops.attention import _dense_is_cheaper, sliding_window_attention

SHAPES = [(128, 128), (256, 128), (512, 128), (1024, 128), (2048, 128), (256, 64), (512, 256), (1024, 256),
          (1024, 512), (2048, 512)]  # (T, w)
ROWS, HEADS, WIDTH, SINKS = 4, 4, 32, 4


def time_backends(run, rounds: int, reps: int) -> dict[str, float]:
    """Median milliseconds of ``run(backend)`` for each backend, alternated over the rounds."""
    times = {"blocked": [], "sdpa": []}
    for backend in times:
        run(backend)  # warm-up
    for _ in range(rounds):
        for backend, seen in times.items():
            start = time.perf_counter()
            for _ in range(reps):
                run(backend)
            seen.append((time.perf_counter() - start) / reps * 1e3)
    return {backend: statistics.median(seen) for backend, seen in times.items()}


def training_shape(T: int, w: int, rounds: int) -> dict[str, float]:
    def leaf(*shape):
        return torch.randn(*shape, requires_grad=True)

    q, k, v, sink_q = (leaf(ROWS, HEADS, T, WIDTH) for _ in range(4))
    sink_k, sink_v = leaf(1, HEADS, SINKS, WIDTH), leaf(1, HEADS, SINKS, WIDTH)
    grad = torch.randn(ROWS, HEADS, T, WIDTH)

    def run(backend):
        sliding_window_attention(q, k, v, window=w, sink_k=sink_k, sink_v=sink_v, sink_q=sink_q,
                                 backend=backend).backward(grad)

    return time_backends(run, rounds, reps=max(1, 2**20 // (T * min(T, 2 * w))))


def decoding_shape(w: int, rounds: int) -> dict[str, float]:
    q = torch.randn(1, HEADS, 1, WIDTH)
    k, v = torch.randn(1, HEADS, w, WIDTH), torch.randn(1, HEADS, w, WIDTH)
    sink_k, sink_v = torch.randn(1, HEADS, SINKS, WIDTH), torch.randn(1, HEADS, SINKS, WIDTH)

    @torch.no_grad()
    def run(backend):
        sliding_window_attention(q, k, v, window=w, sink_k=sink_k, sink_v=sink_v, sink_q=q, backend=backend)

    return time_backends(run, rounds, reps=200)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds over the two backends (default: 5)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"{args.threads} thread(s), {ROWS} rows x {HEADS} heads of width {WIDTH}, {SINKS} sinks, "
          f"median of {args.rounds} rounds\n")
    print("| queries T | window w | cached | blocked (ms) | sdpa (ms) | sdpa / blocked | auto takes sdpa |")
    print("|---|---|---|---|---|---|---|")
    rows = [(T, w, 0, training_shape(T, w, args.rounds)) for T, w in SHAPES]
    rows += [(1, w, w - 1, decoding_shape(w, args.rounds)) for w in (128, 512)]
    for T, w, cached, ms in rows:
        print(f"| {T} | {w} | {cached} | {ms['blocked']:.3f} | {ms['sdpa']:.3f} | {ms['sdpa'] / ms['blocked']:.2f} | "
              f"{'yes' if _dense_is_cheaper(T, cached + T, w) else 'no'} |")


if __name__ == "__main__":
    main()
