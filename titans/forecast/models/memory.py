"""The neural-memory forecasters: Titans blocks as the sequence mixer over patch tokens.

The paper (§5.6, Table 3) runs its memory on forecasting by taking Simba (Patro & Agneeswaran 2024; a
Mamba-based forecaster on PatchTST-style channel-independent patches) and replacing the Mamba module
with the neural memory. Here that is: the shared patch front end and head of ``patching.py`` (RevIN,
patches of 16 every 8 steps, a flatten head), and between them

- ``memory``: LMM blocks (``titans.models.lmm``: pre-norm neural memory, then SwiGLU), i.e. the memory
  in the place of Mamba, and
- ``mag``: MAG blocks (``titans.models.mag``, Eqs. 26-28: sliding-window attention over the last
  ``window`` patches, gated by the memory's output, then SwiGLU), the memory beside attention.

A design choice: tokens are patches of one channel (not one token per channel), so the memory reads a
channel's history in time order and learns, at test time, how this window's patches map to each other.
Left out of Simba: its EinFFT channel mixing (the channels stay independent, as in PatchTST) and of
MAG: persistent tokens (0 here, so that the two variants differ only by the attention branch).
With 12 patches and chunk size 4 the memory takes three inner gradient steps per window.
"""

from __future__ import annotations

import torch
from torch import nn

from ...config import TitansConfig
from ...models.lmm import LMMBlock
from ...models.mag import MAGBlock

_BLOCKS = {"lmm": LMMBlock, "mag": MAGBlock}


class MemoryMixer(nn.Module):
    """``config.layers`` LMM or MAG blocks and a final RMSNorm: ``[N, T, D] -> [N, T, D]``, causal in T."""

    def __init__(self, config: TitansConfig):
        super().__init__()
        self.blocks = nn.ModuleList(_BLOCKS[config.variant](config) for _ in range(config.layers))
        self.norm = nn.RMSNorm(config.dim, eps=config.norm_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x, _ = block(x)  # every window starts with the memory's learned initial weights
        return self.norm(x)


def memory_config(variant: str, *, dim: int, layers: int, heads: int, memory_chunk: int, memory_expansion: int,
                  window: int) -> TitansConfig:
    """The blocks' settings: heads serve both the attention and the memory; depth-2 memory (Table 5)."""
    return TitansConfig(variant=variant, dim=dim, layers=layers, heads=heads, window=window, persistent=0,
                        memory_heads=heads, memory_chunk=memory_chunk, memory_depth=2,
                        memory_expansion=memory_expansion)
