"""LMM: the neural long-term memory as the sequence model, with no attention (paper §4, "LMM")."""

from __future__ import annotations

from torch import nn

from ..config import TitansConfig
from .common import FeedForward, make_memory


class LMMBlock(nn.Module):
    """Pre-norm neural memory and a SwiGLU sub-layer."""

    def __init__(self, config: TitansConfig):
        super().__init__()
        self.norm = nn.RMSNorm(config.dim, eps=config.norm_eps)
        self.memory = make_memory(config)
        self.feed_forward = FeedForward(config)

    def forward(self, x, state=None, *, mask=None, reset=None):
        h, state = self.memory(self.norm(x), state, mask=mask, reset=reset)
        return self.feed_forward(x + h), state
