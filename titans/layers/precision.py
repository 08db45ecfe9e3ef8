"""Float32 islands inside mixed-precision (autocast) training.

Autocast runs matmuls in bfloat16 or float16. The memory must not: its weights and momentum are
carried from chunk to chunk (one rounding per chunk, compounding over the sequence), and its gate
products are exponentials of sums of log-gates over a chunk, where bfloat16's 8-bit mantissa moves
``(1 - alpha)^b`` by a few per cent. So the memory op and the gate projection run with autocast off;
the op casts its inputs to float32 itself (``titans.ops.inputs.compute_dtype``), and the layers
around it (projections, attention, the feed-forward) keep autocast's speed.
"""

from __future__ import annotations

import functools

import torch


def autocast_off(fn):
    """``fn`` run with autocast disabled on the device of its first argument (a tensor)."""

    @functools.wraps(fn)
    def run(first: torch.Tensor, *args, **kwargs):
        with torch.autocast(first.device.type, enabled=False):
            return fn(first, *args, **kwargs)

    return run
