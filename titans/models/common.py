"""Pieces every block shares: the memory layer from a config, persistent memory, the gated product."""

from __future__ import annotations

import torch
from torch import nn

from ..config import TitansConfig
from ..layers import NeuralMemory
from ..layers.feedforward import SwiGLU
from ..layers.write_record import not_recorded


def make_memory(config: TitansConfig) -> NeuralMemory:
    # inside a model the input is the model's own hidden state (the LM checks the tokens), so the
    # per-call finiteness check, a host sync on CUDA at every layer and decoded token, is left off
    return NeuralMemory(
        config.dim, heads=config.memory_heads, chunk_size=config.memory_chunk, depth=config.memory_depth,
        expansion=config.memory_expansion, activation=config.memory_activation,
        theta_max=config.memory_theta_max, alpha_init=config.memory_alpha_init,
        normalize_values=config.memory_normalize_values, forget_to=config.memory_forget_to, check_finite=False,
    )


class FeedForward(nn.Module):
    """The pre-norm SwiGLU residual sub-layer that closes every block."""

    def __init__(self, config: TitansConfig):
        super().__init__()
        self.norm = nn.RMSNorm(config.dim, eps=config.norm_eps)
        self.mlp = SwiGLU(config.dim, config.hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mlp(self.norm(x))


class PersistentMemory(nn.Module):
    """N_p learned, input-independent tokens (Eq. 19): task knowledge that does not depend on the context.

    Each block holds its own; in attention they are sinks every query can see, whatever the window.
    """

    def __init__(self, config: TitansConfig):
        super().__init__()
        self.tokens = nn.Parameter(torch.randn(config.persistent, config.dim) * config.init_std)

    def forward(self) -> torch.Tensor:
        return self.tokens


class GatedProduct(nn.Module):
    """``norm_a(y) * sigmoid(norm_b(m))``: the attention branch gated by the memory branch (Eqs. 25, 28)."""

    def __init__(self, config: TitansConfig):
        super().__init__()
        self.norm_a = nn.RMSNorm(config.dim, eps=config.norm_eps)
        self.norm_b = nn.RMSNorm(config.dim, eps=config.norm_eps)

    def forward(self, y: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        return self.norm_a(y) * torch.sigmoid(self.norm_b(m))


def prime_memory(memory: NeuralMemory, tokens: torch.Tensor, batch_size: int):
    """The memory's state after reading the persistent tokens, which come before the sequence ([p || x]).

    Returns the memory's outputs at those positions ``[B, N_p, dim]`` and its state.

    Only a fresh row is primed: a document start inside a packed row (``reset``) restarts the memory
    at W0 with S = 0 (SPEC §2), so a packed document's first memory chunk does without the persistent
    tokens that a document read alone has seen. Re-reading them there would need a reset to a
    mid-chunk state (their pending tokens and conv tail), which the memory op does not offer.
    """
    with not_recorded(memory):  # an inspection records the document's tokens, not these
        return memory(tokens.unsqueeze(0).expand(batch_size, -1, -1))
