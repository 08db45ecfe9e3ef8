"""Subnormal float32 outputs of every op while NeuralMemory(256, heads=4, chunk_size=64) reads 8,192 random
tokens (batch 2): a no-grad forward, then a forward + backward (issue 26's denormal check).

    python benchmarks/subnormal_count.py

One thread, so that the chunk walk runs on this thread: a dispatch mode sees only its own thread's ops.
"""

from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from titans.layers.neural_memory import NeuralMemory

TINY = torch.finfo(torch.float32).tiny


class CountSubnormal(TorchDispatchMode):
    """Counts the nonzero entries below float32's smallest normal in every floating-point op output."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.is_floating_point():
                self.count += int(((t != 0) & (t.abs() < TINY)).sum())
        return out


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    memory = NeuralMemory(256, heads=4, chunk_size=64)
    x = torch.randn(2, 8192, 256)
    with torch.no_grad(), CountSubnormal() as counted:
        memory(x)
    print(f"no-grad forward: {counted.count:,} subnormal outputs")
    x.requires_grad_(True)
    with CountSubnormal() as counted:
        y, _ = memory(x)
        y.sum().backward()
    print(f"forward + backward: {counted.count:,} subnormal outputs")


if __name__ == "__main__":
    main()
