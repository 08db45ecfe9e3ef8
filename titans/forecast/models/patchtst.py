"""PatchTST's encoder (Nie et al., ICLR 2023): a bidirectional Transformer over the patch tokens of one
channel. As in its code (``PatchTST_backbone.TSTEncoderLayer``): post-norm, BatchNorm over the model
width instead of LayerNorm (the paper's choice for time series), a GELU feed-forward of ``2 x dim``
(its weather setting, d_ff = 256 at d_model = 128), dropout after attention and feed-forward. Left
out: its residual attention (each layer adds the previous layer's attention scores to its own, on by
default in its code), a refinement the paper does not discuss; PyTorch's attention is used as is.

Axes: N sequences (batch x channels), T patches, D model width.
"""

from __future__ import annotations

import torch
from torch import nn


class BatchNormTokens(nn.Module):
    """BatchNorm1d over the width of ``[N, T, D]`` tokens (statistics over sequences and patches)."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.BatchNorm1d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


class TSTEncoderLayer(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.attention = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm_attention = BatchNormTokens(dim)
        self.feed_forward = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * dim, dim))
        self.norm_feed_forward = BatchNormTokens(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm_attention(x + self.dropout(self.attention(x, x, x, need_weights=False)[0]))
        return self.norm_feed_forward(x + self.dropout(self.feed_forward(x)))


class TSTEncoder(nn.Sequential):
    """``layers`` encoder layers: ``[N, T, D] -> [N, T, D]``, every patch sees every other."""

    def __init__(self, dim: int, heads: int, layers: int, dropout: float):
        super().__init__(*(TSTEncoderLayer(dim, heads, dropout) for _ in range(layers)))
