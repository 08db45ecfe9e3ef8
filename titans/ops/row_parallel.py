"""The chunk walk's rows (batch x heads) split over threads, one intra-op thread each.

The walk is a sequence of small ops (about 30 per chunk and layer forward, 80 backward). With
PyTorch's intra-op parallelism every one of them is a parallel region that waits for all threads; when
another process holds a core, each region waits for a descheduled thread, and a MAC training step was
measured 30x slower under a competing 2-thread job. Rows of the walk are independent, so here each
thread walks its own slice of rows from start to end, and the threads meet once per walk: a busy core
slows its own slice only. Each row is computed by the same ops on the same shapes as a single walk
would (per-row batched matmuls and elementwise work), so the result does not depend on the split.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import torch

_pool: ThreadPoolExecutor | None = None
_pool_workers = 0
_pool_lock = threading.Lock()
_local = threading.local()


def row_parts(rows: int, device: torch.device) -> list[slice]:
    """``rows`` cut into ``min(torch.get_num_threads(), rows)`` contiguous slices of near-equal size; one
    slice on a GPU, where threads would only launch the same kernels on thinner slices (on an H100 the
    walk split over 16 threads ran at 1,350 tokens/s, the same at every width: launch-bound)."""
    on_cpu = device.type == "cpu"
    parts = 1 if getattr(_local, "inside", False) or not on_cpu else max(1, min(torch.get_num_threads(), rows))
    return even_slices(rows, parts)


def even_slices(rows: int, parts: int) -> list[slice]:
    """``rows`` cut into ``parts`` contiguous slices whose sizes differ by at most one."""
    edges = [round(i * rows / parts) for i in range(parts + 1)]
    return [slice(lo, hi) for lo, hi in zip(edges[:-1], edges[1:])]


def _executor(workers: int) -> ThreadPoolExecutor:
    global _pool, _pool_workers
    with _pool_lock:
        if _pool is None or _pool_workers < workers:
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="titans-rows")
            _pool_workers = workers
        return _pool


def in_parallel(fn, items: list) -> list:
    """``[fn(item) for item in items]``, the items on separate threads, each with one intra-op thread.

    The calling thread's grad and inference modes are carried into the workers (both are thread-local).
    """
    if len(items) == 1:
        return [fn(items[0])]
    grad, inference = torch.is_grad_enabled(), torch.is_inference_mode_enabled()

    def run(item):
        _local.inside = True  # a walk inside a walk (never expected) stays on its thread
        try:
            with torch.inference_mode(inference), torch.set_grad_enabled(grad):
                return fn(item)
        finally:
            _local.inside = False

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        futures = [_executor(len(items) - 1).submit(run, item) for item in items[1:]]
        results = [run(items[0])]  # the calling thread walks the first slice itself
        return results + [f.result() for f in futures]
    finally:
        torch.set_num_threads(threads)
