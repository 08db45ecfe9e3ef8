"""Zeroing padded positions, which every layer that takes a ``mask`` does to its input or output."""

from __future__ import annotations

import torch


def zero_padding(t: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """t ``[B, T, C]`` with the positions where mask ``[B, T]`` is False zeroed (t itself when mask is None)."""
    return t if mask is None else t * mask.unsqueeze(-1).to(t.dtype)
