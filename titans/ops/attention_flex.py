"""Causal (sliding-window) attention with sinks on PyTorch's flex attention: the CUDA path of
:func:`titans.ops.attention.sliding_window_attention` (same visibility rule, same arguments).

The window, the key mask and the document starts go into one ``mask_mod``; the block structure is
built directly from the window (:func:`band_block_mask`), never by evaluating the mask over all
``T x L`` pairs, so building it costs O(T/128 x L/128) even at a million tokens. Blocks that every
query of their row tile sees entirely are marked full (no mask evaluated inside them) when there is
no key mask and no document start.

The sinks (persistent tokens) are scored against their own queries (the unrotated ones), which one
flex call cannot do for a subset of its keys. They are few (N_p = 4), so they are added after the
call: flex returns the window's output and its log-normaliser (log-sum-exp), and
:func:`merge_sinks` combines both softmaxes exactly. Gradients flow through the log-sum-exp.

flex attention runs fused only under ``torch.compile``; on CUDA the call goes through a compiled
``flex_attention``. On the CPU (tests) the eager version runs: forward only (torch has no CPU
backward for it), and it evaluates the mask densely, ignoring the block structure.
"""

from __future__ import annotations

import functools

import torch
from torch.nn.attention.flex_attention import AuxRequest, BlockMask, flex_attention

BLOCK = 128  # flex's default tile, queries and keys


@functools.cache
def _compiled_flex():
    # compiled once per process; recompiles per new shape are dynamo's own business
    return torch.compile(flex_attention)


def _tile_bounds(n: int, length: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """First and last index of each of the n tiles of BLOCK over ``length`` positions."""
    lo = torch.arange(n, device=device) * BLOCK
    return lo, torch.clamp(lo + BLOCK, max=length) - 1


def band_block_mask(T: int, L: int, window: int | None, exact: bool, mask_mod, device) -> BlockMask:
    """The block structure of queries ``0..T-1`` at key indices ``C + t`` (C = L - T) over L keys that see
    the keys ``C + t - window < j <= C + t`` (window None: ``j <= C + t``).

    A key tile is listed for a query tile iff some query of the tile may see some key of it; it is
    *full* iff every query of the tile sees every key of it under the window alone and ``exact`` (no
    key mask or document start narrows it further; the last key tile counts as full only when it is
    whole, so that flex never reads past L in a tile it does not mask).
    """
    C = L - T
    nq, nk = -(-T // BLOCK), -(-L // BLOCK)
    q_lo, q_hi = _tile_bounds(nq, T, device)
    k_lo, k_hi = _tile_bounds(nk, L, device)
    q_lo, q_hi = (C + q_lo)[:, None], (C + q_hi)[:, None]  # key index of each tile's first and last query
    k_lo, k_hi = k_lo[None, :], k_hi[None, :]
    listed = k_lo <= q_hi
    full = (k_hi <= q_lo) & ((k_hi - k_lo + 1) == BLOCK)
    if window is not None:
        listed = listed & (k_hi > q_lo - window)
        full = full & (k_lo > q_hi - window)
    full = full & exact
    partial = listed & ~full

    def as_indices(tiles: torch.Tensor):
        # listed tiles first, in order: flex reads the first ``count`` indices of each row
        order = torch.argsort((~tiles).to(torch.int8), dim=-1, stable=True).to(torch.int32)
        return tiles.sum(-1, dtype=torch.int32)[None, None], order[None, None]

    return BlockMask.from_kv_blocks(*as_indices(partial), *as_indices(full), BLOCK_SIZE=BLOCK,
                                    mask_mod=mask_mod, seq_lengths=(T, L))


def visibility_mask_mod(C: int, window: int | None, key_mask: torch.Tensor | None, starts: torch.Tensor | None):
    """``mask_mod(b, h, t, j)``: query t (key index C + t) sees key j (the rule of the module docstring of
    :mod:`titans.ops.attention`, sinks aside)."""

    def mask_mod(b, h, t, j):
        distance = C + t - j
        visible = distance >= 0
        if window is not None:
            visible = visible & (distance < window)
        if key_mask is not None:
            visible = visible & key_mask[b, j]
        if starts is not None:
            visible = visible & (j >= starts[b, t])
        return visible

    return mask_mod


def merge_sinks(out, lse, sink_scores, sink_v):
    """Attention over the keys of ``out`` and the sinks together, from the two parts.

    out: ``[B, H, T, Dh]`` softmax-weighted values over the window's keys, with log-normaliser
    lse ``[B, H, T]`` (-inf where the window shows nothing); sink_scores ``[B, H, T, Np]`` (scaled),
    sink_v ``[B or 1, H, Np, Dh]``. The sinks are visible to every query, so the joint normaliser is
    never zero. Returns ``[B, H, T, Dh]`` in float32 (float64 stays float64).
    """
    # the softmax is shift-invariant: the shift needs no gradient, and it is finite (sinks are visible)
    top = torch.maximum(lse, sink_scores.amax(-1)).detach()
    window_weight = torch.exp(lse - top).unsqueeze(-1)  # [B, H, T, 1]
    sink_weight = torch.exp(sink_scores - top.unsqueeze(-1))  # [B, H, T, Np]
    total = window_weight + sink_weight.sum(-1, keepdim=True)
    return (out * window_weight + sink_weight @ sink_v) / total


def flex_window_attention(q, k, v, window, sink_q, sink_k, sink_v, key_mask, scale, starts):
    """The arguments of ``sliding_window_attention`` after its checks (``starts``: document starts
    per query from ``document_starts``, or None). Returns ``[B, Hq, T, Dh]`` in q's dtype."""
    B, Hq, T, Dh = q.shape
    Hkv, L = k.shape[1], k.shape[2]
    scale = Dh**-0.5 if scale is None else scale
    mask_mod = visibility_mask_mod(L - T, window, key_mask, starts)
    block_mask = band_block_mask(T, L, window, key_mask is None and starts is None, mask_mod, q.device)
    attend = _compiled_flex() if q.is_cuda else flex_attention
    k, v = k.to(q.dtype), v.to(q.dtype)
    if sink_k is None:
        return attend(q, k, v, block_mask=block_mask, scale=scale, enable_gqa=Hq != Hkv)
    out, aux = attend(q, k, v, block_mask=block_mask, scale=scale, enable_gqa=Hq != Hkv,
                      return_aux=AuxRequest(lse=True))
    dt = torch.float64 if q.dtype == torch.float64 else torch.float32
    G = Hq // Hkv
    sq = (q if sink_q is None else sink_q).to(dt)
    sink_scores = (sq @ sink_k.to(dt).repeat_interleave(G, 1).mT) * scale  # [B, Hq, T, Np]
    merged = merge_sinks(out.to(dt), aux.lse.to(dt), sink_scores, sink_v.to(dt).repeat_interleave(G, 1))
    return merged.to(q.dtype)
