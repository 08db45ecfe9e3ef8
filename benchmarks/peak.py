"""Peak memory that one piece of work adds, shared by the benchmarks (run after the caller's warm-up)."""

from __future__ import annotations

import ctypes

import torch


def _proc_status_mib(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"/proc/self/status has no {field}")


def peak_mib(work, device: str) -> float:
    """MiB that ``work()`` needs above the live memory: the CUDA allocator's peak, or on CPU (Linux) the
    rise of the resident set's high-water mark (VmHWM) after freed heap is handed back (malloc_trim)
    and the mark is reset (/proc/self/clear_refs)."""
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        work()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    base = _proc_status_mib("VmRSS")
    work()
    return _proc_status_mib("VmHWM") - base
