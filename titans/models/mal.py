"""MAL, memory as a layer (paper §4.3, Eqs. 29-31): the neural memory reads the sequence first and
sliding-window attention reads the memory's output."""

from __future__ import annotations

import torch
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

    def forward(self, x, state=None, *, mask=None, reset=None):
        sinks = primed = None
        if self.persistent is not None:
            # the memory reads the persistent tokens first; what it makes of them (input-independent, so
            # one row serves the batch, and every packed document may see them) is what attention keeps
            # as sinks. While training they are recomputed at every call (N_p tokens), so that they
            # follow the parameters and keep their gradient after a detach; without gradients (decoding,
            # evaluation) the state keeps them and a decoded token does not re-read them.
            if state is not None and not torch.is_grad_enabled():
                sinks = state.get("sinks")
            if sinks is None or state is None:
                p = self.persistent()
                p_out, primed = prime_memory(self.memory, self.memory_norm(p), x.shape[0] if state is None else 1)
                sinks = self.attention_norm(p + p_out[0])
        if state is None:
            state = {"attention": None, "memory": primed}
        m, memory_state = self.memory(self.memory_norm(x), state["memory"], mask=mask, reset=reset)
        x = x + m
        h, attention_state = self.attention(
            self.attention_norm(x), state["attention"], mask=mask, sinks=sinks, reset=reset
        )
        new_state = {"attention": attention_state, "memory": memory_state}
        if sinks is not None:
            new_state["sinks"] = sinks
        return self.feed_forward(x + h), new_state
