"""MAG, memory as a gate (paper §4.2, Eqs. 26-28): sliding-window attention and the neural memory read
the same input side by side, and the memory's output gates the attention's."""

from __future__ import annotations

from torch import nn

from ..config import TitansConfig
from ..layers.attention import SlidingWindowAttention
from .common import FeedForward, GatedProduct, PersistentMemory, make_memory, prime_memory


class MAGBlock(nn.Module):
    """``y = SWA*([p || x])``, ``m = M([p || x])``, ``x + norm_a(y) * sigmoid(norm_b(m))``, then SwiGLU."""

    def __init__(self, config: TitansConfig):
        super().__init__()
        self.norm = nn.RMSNorm(config.dim, eps=config.norm_eps)
        self.persistent = PersistentMemory(config) if config.persistent else None
        self.attention = SlidingWindowAttention(
            config.dim, config.heads, config.kv_heads, config.window, config.rope_base
        )
        self.memory = make_memory(config)
        self.gate = GatedProduct(config)
        self.feed_forward = FeedForward(config)

    def forward(self, x, state=None, *, mask=None, reset=None):
        xn = self.norm(x)
        sinks = None if self.persistent is None else self.norm(self.persistent())
        if state is None:
            # the persistent tokens come first: the memory reads them before the sequence (Eq. 26)
            memory_state = None if sinks is None else prime_memory(self.memory, sinks, x.shape[0])[1]
            state = {"attention": None, "memory": memory_state}
        y, attention_state = self.attention(xn, state["attention"], mask=mask, sinks=sinks, reset=reset)
        m, memory_state = self.memory(xn, state["memory"], mask=mask, reset=reset)
        x = x + self.gate(y, m)
        return self.feed_forward(x), {"attention": attention_state, "memory": memory_state}
