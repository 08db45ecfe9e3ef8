"""Rotary position embedding (RoPE, Su et al. 2021) in the half-split GPT-NeoX / Llama convention.

Axes: B batch, H heads, T tokens, Dh width per head (even).
"""

from __future__ import annotations

import torch
from torch import nn


class RotaryEmbedding(nn.Module):
    """Rotates each head's feature pairs ``(x_i, x_{i + Dh/2})`` by the angle ``position * base^(-2i/Dh)``.

    A query rotated at position p and a key rotated at position p' then score
    ``q R(p)^T R(p') k = q R(p' - p) k``: attention sees only the distance between tokens.

    The angles are computed in float64 and only cos / sin are cast to the input's dtype: in float32,
    ``position * frequency`` at position 1e6 is already off by ~0.03 rad (SPEC §3). The frequencies are
    not a buffer, so that ``model.to(float32)`` cannot round them; they cost ``Dh / 2`` values per call.
    """

    def __init__(self, head_dim: int, base: float = 10000.0):
        super().__init__()
        if head_dim < 2 or head_dim % 2:
            raise ValueError(f"RoPE rotates feature pairs: head_dim must be even and >= 2, got {head_dim}")
        if base <= 1.0:
            raise ValueError(f"RoPE base must be > 1, got {base}")
        self.head_dim, self.base = head_dim, float(base)

    def extra_repr(self) -> str:
        return f"head_dim={self.head_dim}, base={self.base}"

    def cos_sin(self, positions: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin of the angles, each ``[T, Dh/2]`` in ``dtype``, for int ``positions: [T]``."""
        half = self.head_dim // 2
        inv_freq = self.base ** (
            -torch.arange(half, dtype=torch.float64, device=positions.device) * (2.0 / self.head_dim)
        )
        angles = positions.to(torch.float64)[:, None] * inv_freq  # [T, Dh/2], exact for |p| < 2^53
        return angles.cos().to(dtype), angles.sin().to(dtype)

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """x: ``[B, H, T, Dh]``; positions: ``[T]`` int64 absolute positions (any start). Returns x rotated."""
        if x.dim() != 4 or x.shape[-1] != self.head_dim:
            raise ValueError(f"x: expected [batch, heads, tokens, {self.head_dim}], got {tuple(x.shape)}")
        if positions.dim() != 1 or positions.shape[0] != x.shape[2]:
            raise ValueError(f"positions: expected [tokens] = [{x.shape[2]}], got {tuple(positions.shape)}")
        if positions.is_floating_point():
            raise ValueError("positions must be integers (int64): float positions lose precision past 2^24")
        cos, sin = self.cos_sin(positions, x.dtype)
        x1, x2 = x.chunk(2, dim=-1)  # [B, H, T, Dh/2] each: the half-split pairs (x_i, x_{i + Dh/2})
        return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)
