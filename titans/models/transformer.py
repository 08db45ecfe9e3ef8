"""Transformer++ (the full-attention baseline) and the attention block it shares with SWA."""

from __future__ import annotations

from torch import nn

from ..config import TitansConfig
from ..layers.attention import SlidingWindowAttention
from .common import FeedForward


class AttentionBlock(nn.Module):
    """Pre-norm causal attention (full, or windowed when ``window`` is set) and a SwiGLU sub-layer."""

    def __init__(self, config: TitansConfig, window: int | None):
        super().__init__()
        self.norm = nn.RMSNorm(config.dim, eps=config.norm_eps)
        self.attention = SlidingWindowAttention(config.dim, config.heads, config.kv_heads, window, config.rope_base)
        self.feed_forward = FeedForward(config)

    def forward(self, x, state=None, *, mask=None, reset=None):
        h, state = self.attention(self.norm(x), state, mask=mask, reset=reset)
        return self.feed_forward(x + h), state


class TransformerBlock(AttentionBlock):
    """Transformer++: full causal attention, RoPE, RMSNorm, SwiGLU (the Llama recipe)."""

    def __init__(self, config: TitansConfig):
        super().__init__(config, window=None)
