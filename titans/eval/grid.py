"""A long-context evaluation grid: task x length x depth cells of seeded samples, scored by exact match.

Sample ``i`` of a cell is drawn with ``sample_seed(task, length, depth, i, seed)``: a cell's samples do
not depend on which other cells are run, so a partial grid reproduces the same cells of a full one.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from .recall import CellResult, run_cell
from .tasks import Task, sample_seed


def parse_length(text: str) -> int:
    """``"16K"`` -> 16384, ``"1M"`` -> 1048576, ``"1000000"`` -> 1000000 (bytes: one token each)."""
    text = text.strip().upper()
    scale = {"K": 2**10, "M": 2**20}.get(text[-1:], 1)
    digits = text[:-1] if scale > 1 else text
    if not digits.isdigit() or int(digits) < 1:
        raise ValueError(f"a length is a positive number of bytes such as 2048, 16K or 1M; got {text!r}")
    return int(digits) * scale


def length_label(length: int) -> str:
    for unit, size in (("M", 2**20), ("K", 2**10)):
        if length % size == 0:
            return f"{length // size}{unit}"
    return f"{length:,}"


def cell_samples(task: Task, length: int, depth: float | None, count: int, seed: int):
    return [task.sample(length, depth, sample_seed(task.name, length, depth, i, seed)) for i in range(count)]


def grid_cells(tasks: dict[str, Task], lengths: list[int], depths: list[float],
               max_length: dict[str, int] | None = None) -> list[tuple[str, Task, int, float | None]]:
    """The (task name, task, length, depth) cells :func:`run_grid` runs, in its order."""
    return [(name, task, length, depth) for name, task in tasks.items() for length in lengths
            if not (max_length and length > max_length.get(name, length))
            for depth in (depths if task.needs_depth else [None])]


def run_grid(model, tasks: dict[str, Task], lengths: list[int], depths: list[float], samples: int, *,
             seed: int = 0, batch: int = 8, block: int = 4096, device="cpu",
             max_length: dict[str, int] | None = None,
             say: Callable[[str], None] = lambda m: print(m, file=sys.stderr, flush=True),
             progress: Callable[[int], None] | None = None) -> list[CellResult]:
    """Every (task, length, depth) cell; tasks that scatter their facts (bAbI) ignore depths.

    max_length: per-task caps (a full-attention baseline stops where the CPU cannot afford it).
    progress: called with the prompt bytes each block read (in all, ``samples`` x the sum of the cells'
    lengths; a progress bar's ``update``), or None.
    """
    cells = []
    for name, task, length, depth in grid_cells(tasks, lengths, depths, max_length):
        result = run_cell(model, cell_samples(task, length, depth, samples, seed), batch=batch, block=block,
                          device=device, on_block=None if progress is None else _bytes_read(progress, samples, batch))
        where = "" if depth is None else f" depth {depth:.0%}"
        recency = "" if result.recency is None else f"; the last fact's word: {result.recency}/{result.total}"
        say(f"{name} {length_label(length)}{where}: {result.correct}/{result.total} "
            f"({result.seconds:.0f} s, peak RSS {result.peak_rss_mib:.0f} MiB{recency})")
        cells.append(result)
    return cells


def _bytes_read(progress: Callable[[int], None], samples: int, batch: int) -> Callable[[int], None]:
    """run_cell's on_block (bytes read so far in each prompt of the current batch, starting over with every
    batch) turned into ``progress(prompt bytes read since the last call)``: rows x new positions."""
    rows = iter([min(batch, samples - i) for i in range(0, samples, batch)])
    current, last = 0, None

    def on_block(read: int) -> None:
        nonlocal current, last
        if last is None or read <= last:  # the next batch has begun
            current, last = next(rows), 0
        progress(current * (read - last))
        last = read

    return on_block
