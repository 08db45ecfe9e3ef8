"""MAL, memory as a layer (paper §4.3, Eqs. 29-31): the neural memory reads the sequence first and
sliding-window attention reads the memory's output."""

from __future__ import annotations

from torch import nn

from ..config import TitansConfig
from ..layers.attention import SlidingWindowAttention
from .common import FeedForward, PersistentMemory, make_memory, prime_memory


class MALBlock(nn.Module):
    """``y = x + M([p || x])``, ``y + SWA(y)`` (persistent positions as sinks), then SwiGLU."""

    def __init__(self, config: TitansConfig):
        super().__init__()
        self.memory_norm = nn.RMSNorm(config.dim, eps=config.norm_eps)
        self.attention_norm = nn.RMSNorm(config.dim, eps=config.norm_eps)
        self.persistent = PersistentMemory(config) if config.persistent else None
        self.memory = make_memory(config)
        self.attention = SlidingWindowAttention(
            config.dim, config.heads, config.kv_heads, config.window, config.rope_base
        )
        self.feed_forward = FeedForward(config)

    def forward(self, x, state=None, *, mask=None):
        if state is None:
            memory_state, sinks = None, None
            if self.persistent is not None:
                # the memory reads the persistent tokens first; what it makes of them (input-independent,
                # so one row serves the batch) is what attention keeps as sinks
                p = self.persistent()
                p_out, memory_state = prime_memory(self.memory, self.memory_norm(p), x.shape[0])
                sinks = p + p_out[0]
            state = {"attention": None, "memory": memory_state, "sinks": sinks}
        m, memory_state = self.memory(self.memory_norm(x), state["memory"], mask=mask)
        x = x + m
        sinks = None if state["sinks"] is None else self.attention_norm(state["sinks"])
        h, attention_state = self.attention(self.attention_norm(x), state["attention"], mask=mask, sinks=sinks)
        new_state = {"attention": attention_state, "memory": memory_state, "sinks": state["sinks"]}
        return self.feed_forward(x + h), new_state
