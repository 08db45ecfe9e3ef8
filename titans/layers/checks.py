"""Input checks that every sequence layer shares."""

from __future__ import annotations

import torch


def check_sequence(x: torch.Tensor, dim: int, mask: torch.Tensor | None, reset: torch.Tensor | None) -> None:
    """``x`` is ``[B, T, dim]`` with T > 0; ``mask`` and ``reset``, when given, are ``[B, T]``."""
    if x.dim() != 3 or x.shape[-1] != dim:
        raise ValueError(f"x: expected [batch, tokens, {dim}], got {tuple(x.shape)}")
    B, T, _ = x.shape
    if T == 0:
        raise ValueError("x has no tokens (T = 0): pass at least one token")
    for name, t in (("mask", mask), ("reset", reset)):
        if t is not None and t.shape != (B, T):
            raise ValueError(f"{name}: expected a [batch, tokens] = {[B, T]} bool tensor, got {tuple(t.shape)}")
