"""The patch front end and head that PatchTST and the neural-memory forecasters share, so that those
models differ only in their sequence mixer (attention or memory) and the comparison is about it.

PatchTST (Nie et al., ICLR 2023, §3.1): each channel separately (channel independence) is
instance-normalised (RevIN, Kim et al., ICLR 2022), cut into patches of ``patch_len`` steps every
``stride`` steps (the series padded at the end by repeating its last value ``stride`` times, PatchTST's
``padding_patch="end"``: 12 patches of 16 for L = 96, stride 8), each patch embedded by one linear map
plus a learned position; the mixer's outputs for all patches are flattened and one linear map gives the
horizon, which is then de-normalised.

Axes: B batch, L lookback, H horizon, C channels, N patches, P patch length, D model width.
"""

from __future__ import annotations

import torch
from torch import nn


class PatchForecaster(nn.Module):
    """``[B, L, C] -> [B, H, C]`` through patches of each channel and ``mixer: [B*C, N, D] -> [B*C, N, D]``."""

    def __init__(self, mixer: nn.Module, *, lookback: int, horizon: int, dim: int, patch_len: int, stride: int,
                 dropout: float):
        super().__init__()
        self.patch_len, self.stride = patch_len, stride
        self.num_patches = (lookback - patch_len) // stride + 2  # +1: the end padding adds one patch
        self.embed = nn.Linear(patch_len, dim)
        self.position = nn.Parameter(torch.empty(self.num_patches, dim).uniform_(-0.02, 0.02))  # PatchTST's init
        self.dropout = nn.Dropout(dropout)
        self.mixer = mixer
        self.head = nn.Linear(self.num_patches * dim, horizon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, L, C = x.shape
        # RevIN without the affine part (PatchTST's default): each window and channel on its own scale
        mean = x.mean(dim=1, keepdim=True)  # [B, 1, C]
        scale = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + 1e-5)
        x = ((x - mean) / scale).transpose(1, 2).reshape(B * C, L)  # one row per channel
        x = torch.cat([x, x[:, -1:].expand(-1, self.stride)], dim=1)  # [B*C, L + stride]
        patches = x.unfold(1, self.patch_len, self.stride)  # [B*C, N, P]
        h = self.mixer(self.dropout(self.embed(patches) + self.position))  # [B*C, N, D]
        y = self.head(h.flatten(1)).view(B, C, -1).transpose(1, 2)  # [B, H, C]
        return y * scale + mean
