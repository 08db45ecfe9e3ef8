"""Forward FLOPs per token, counted from the configuration (multiply-adds x 2; elementwise work left out)."""

from __future__ import annotations

from .config import MEMORY_VARIANTS, TitansConfig


def memory_op_flops(config: TitansConfig) -> int:
    """The chunked memory update and read, per token, all heads (SPEC §1: 22 D Dh + 4 b (D + Dh))."""
    D = config.dim // config.memory_heads
    Dh = config.memory_expansion * D
    return config.memory_heads * (22 * D * Dh + 4 * config.memory_chunk * (D + Dh))


def flops_per_token(config: TitansConfig, context: int) -> int:
    """Forward FLOPs for one token at ``context`` tokens of context (attention spans grow with it)."""
    blocks = sum(_block_flops(config, config.block_variant(i), context)
                 for i in range(config.layers))
    return int(blocks + 2 * config.dim * config.vocab_size)


def _block_flops(config: TitansConfig, variant: str, context: int) -> float:
    """One block of ``variant`` (a memory variant's block, or an SWA block where it has no memory)."""
    d, kv = config.dim, config.n_kv_heads * (config.dim // config.heads)
    flops = 2 * d * 3 * config.hidden  # SwiGLU
    attention_projections = 2 * d * (2 * d + 2 * kv)
    span = {"transformer": context / 2, "mac": min(config.window, config.segment) / 2}.get(
        variant, min(config.window, context))
    if variant != "lmm":
        keys = span + config.persistent
        if variant == "mac":
            keys += span  # h sits beside S
            attention_projections += 2 * d * 2 * kv  # keys and values of h
        flops += attention_projections + 2 * 2 * d * keys
    if variant in MEMORY_VARIANTS:
        inner = d
        flops += 2 * d * (3 * inner + 3 * config.memory_heads + inner) + 2 * inner * d + memory_op_flops(config)
        if variant == "mac":  # the read of h: q projection, the MLP at fixed weights, the output path
            D = d // config.memory_heads
            flops += 2 * d * inner + config.memory_heads * 2 * config.memory_depth * D * config.memory_expansion * D
            flops += 2 * d * inner + 2 * inner * d
    return flops
