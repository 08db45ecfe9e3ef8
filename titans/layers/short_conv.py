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
    tail = ext[:, ext.shape[1] - (K - 1) :]
    if reset is None:
        return _windows(x, ext, weight), tail.clone()  # a copy: the caller's state must not keep ext alive
    # document index of every extended position; the tail belongs to the document in progress
    doc = torch.cat([reset.new_zeros(B, K - 1), reset], dim=1).to(torch.int32).cumsum(1)
    if torch.compiler.is_compiling():  # where the cut windows are depends on the data: cut every tap
        out = _windows(x, ext, weight, doc)
    else:
        # only the K - 1 windows after each document start reach across it (those whose farthest tap
        # lies in an earlier document): the others are summed whole and the few cut ones computed again,
        # instead of a mask on every tap of every token (the same values, element for element)
        rows, ends = (doc[:, :T] != doc[:, K - 1 :]).nonzero(as_tuple=True)
        out = _windows(x, ext, weight)
        if rows.numel():
            span = ends[:, None] + torch.arange(K, device=x.device)  # the extended positions of each window
            cut = _windows(x[rows, ends][:, None], ext[rows[:, None], span], weight, doc[rows[:, None], span])
            out = out.index_put((rows, ends), cut[:, 0])
    # every later token belongs to the last document (or a newer one): the tail keeps only that
    # document's inputs, so the next call needs no document index to cut the window
    tail = tail * (doc[:, doc.shape[1] - (K - 1) :] == doc[:, -1:]).unsqueeze(-1).to(x.dtype)
    return out, tail.clone()


def _windows(x: torch.Tensor, ext: torch.Tensor, weight: torch.Tensor, doc: torch.Tensor | None = None):
    """``out_t = sum_i w_i x_{t-i}`` over ``ext`` (the K - 1 inputs before x, then x): ``[B, T, C]``; with
    ``doc`` (the document index of ext's positions) a tap that reaches into an earlier document is dropped."""
    T, K = x.shape[1], weight.shape[1]
    out = x * weight[:, 0]
    for i in range(1, K):
        past = ext[:, K - 1 - i : K - 1 - i + T]  # x_{t-i}
        if doc is not None:
            past = past * (doc[:, K - 1 - i : K - 1 - i + T] == doc[:, K - 1 :]).unsqueeze(-1).to(x.dtype)
        out = out.addcmul(past, weight[:, i])
    return out
