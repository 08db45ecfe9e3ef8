"""Causal depthwise convolution with a carried tail and document-boundary cuts (SPEC §2)."""

from __future__ import annotations

import torch
from torch import nn


class ShortConv(nn.Module):
    """``out_t = sum_i w_i * x_{t-i}`` per channel, for i < kernel_size, left-padded with the tail.

    The tail (the last ``kernel_size - 1`` inputs of the previous call, zeros at the start) makes a
    split sequence equal one call. A tap that reaches across a document start (``reset``) is dropped,
    so a packed document sees exactly what it would see alone; the tail is cut the same way.
    """

    def __init__(self, channels: int, kernel_size: int = 4):
        super().__init__()
        if kernel_size < 1:
            raise ValueError(f"kernel_size must be >= 1, got {kernel_size}")
        self.kernel_size = kernel_size
        # identity at the first tap plus a little of the past: starts close to the unconvolved input
        weight = torch.randn(channels, kernel_size) * 0.02
        weight[:, 0] += 1.0
        self.weight = nn.Parameter(weight)  # [C, K], tap i multiplies x_{t-i}

    def forward(
        self, x: torch.Tensor, tail: torch.Tensor | None = None, reset: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x: ``[B, T, C]``; tail: ``[B, K-1, C]`` or None; reset: ``[B, T]`` bool or None.
        Returns the output ``[B, T, C]`` and the new tail ``[B, K-1, C]``.
        """
        return causal_conv(x, self.weight, tail, reset)


def causal_conv(
    x: torch.Tensor, weight: torch.Tensor, tail: torch.Tensor | None = None, reset: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``ShortConv``'s computation with the weight ``[C, K]`` passed in: channels are independent, so
    several convolutions run as one over their concatenated channels (the memory's q, k and v: one
    pass instead of three, which is most of a decoded token's conv cost)."""
    B, T, C = x.shape
    K = weight.shape[1]
    if tail is None:
        tail = x.new_zeros(B, K - 1, C)
    ext = torch.cat([tail.to(x.dtype), x], dim=1)  # [B, K-1+T, C]
    weight = weight.to(x.dtype)
    if reset is not None:
        # document index of every extended position; the tail belongs to the document in progress
        doc = torch.cat([reset.new_zeros(B, K - 1), reset], dim=1).to(torch.int32).cumsum(1)
    out = x * weight[:, 0]
    for i in range(1, K):
        past = ext[:, K - 1 - i : K - 1 - i + T]  # x_{t-i}
        if reset is not None:
            same_doc = doc[:, K - 1 - i : K - 1 - i + T] == doc[:, K - 1 :]
            past = past * same_doc.unsqueeze(-1).to(x.dtype)
        out = out.addcmul(past, weight[:, i])
    tail = ext[:, ext.shape[1] - (K - 1) :]
    if reset is not None:
        # every later token belongs to the last document (or a newer one): the tail keeps only that
        # document's inputs, so the next call needs no document index to cut the window
        tail = tail * (doc[:, doc.shape[1] - (K - 1) :] == doc[:, -1:]).unsqueeze(-1).to(x.dtype)
    return out, tail.clone()  # a copy: the caller's state must not keep all of ext alive
