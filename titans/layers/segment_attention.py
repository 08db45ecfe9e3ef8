"""MAC's attention inside one segment, over [persistent || h || S] (paper Eqs. 21-23; SPEC §3).

Axes: B batch, n tokens of this call, c tokens of the segment already read, Hq / Hkv heads, Dh width.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..ops.attention import document_starts, hide_earlier_documents
from .rope import RotaryEmbedding


class SegmentAttention(nn.Module):
    """Causal attention of a segment's tokens S over the persistent tokens, the memory readings h and S.

    Positions are segment-local, and h_j sits at the position of the token it was read for, j. Query i
    sees every persistent token (unrotated: a sink), and h_j and S_j for ``i - window < j <= i``:
    h_j is computed from token j, so letting token i see it for j > i would leak the future. With
    packed documents (``reset``), query i also needs j at or after its document's first token.
    """

    def __init__(self, dim: int, heads: int, kv_heads: int | None, window: int, rope_base: float):
        super().__init__()
        kv_heads = heads if kv_heads is None else kv_heads
        self.heads, self.kv_heads, self.head_dim, self.window = heads, kv_heads, dim // heads, window
        self.to_q = nn.Linear(dim, heads * self.head_dim, bias=False)
        self.to_kv = nn.Linear(dim, 2 * kv_heads * self.head_dim, bias=False)
        self.to_out = nn.Linear(heads * self.head_dim, dim, bias=False)
        self.rope = RotaryEmbedding(self.head_dim, rope_base)

    def _split(self, t: torch.Tensor, heads: int) -> torch.Tensor:
        B, n, _ = t.shape
        return t.view(B, n, heads, self.head_dim).transpose(1, 2)  # [B, heads, n, Dh]

    def _keys_values(self, t, positions=None):
        k, v = (self._split(part, self.kv_heads) for part in self.to_kv(t).chunk(2, dim=-1))
        return (k if positions is None else self.rope(k, positions)), v

    def forward(self, x, h, cache, offset: int, sinks=None, mask=None, reset=None):
        """x, h: ``[B, n, dim]`` (the segment's tokens and their memory readings) at segment positions
        ``offset .. offset + n - 1``. cache: ``(h_k, h_v, s_k, s_v, key_mask)`` of the ``offset`` tokens
        already read in this segment. sinks: ``[N_p, dim]`` or None. mask: ``[B, n]`` bool or None.
        reset: ``[B, n]`` bool, True where a document starts, or None.
        Returns the output ``[B, n, dim]`` and the extended cache (whose key mask hides the keys
        before the last document start, for the segment's later tokens).
        """
        B, n, _ = x.shape
        positions = torch.arange(offset, offset + n, device=x.device)
        q = self.rope(self._split(self.to_q(x), self.heads), positions)
        s_k, s_v = self._keys_values(x, positions)
        h_k, h_v = self._keys_values(h, positions)
        old_hk, old_hv, old_sk, old_sv, old_mask = cache
        h_k, h_v = torch.cat([old_hk, h_k], 2), torch.cat([old_hv, h_v], 2)
        s_k, s_v = torch.cat([old_sk, s_k], 2), torch.cat([old_sv, s_v], 2)
        real = torch.ones(B, n, dtype=torch.bool, device=x.device) if mask is None else mask.bool()
        key_mask = torch.cat([old_mask, real], 1)  # [B, c + n]

        key_pos = torch.arange(offset + n, device=x.device)
        distance = positions[:, None] - key_pos[None, :]  # [n, c + n]
        visible = ((distance >= 0) & (distance < self.window))[None]  # [1, n, c + n]
        if mask is not None or old_mask.shape[1] > 0:
            # rows differ only by padding or an earlier piece's hidden keys: without either, one [1, ...]
            # mask serves every row (SDPA broadcasts it; cheaper than a [B, ...] one)
            visible = visible & key_mask[:, None, :]  # [B, n, c + n]
        if reset is not None:
            starts = document_starts(reset, offset)  # [B, n]
            visible = visible & (key_pos >= starts[:, :, None])
            key_mask = hide_earlier_documents(key_mask, starts)
        if mask is not None:
            # a padded query may see itself, so that no row is empty; its output is zeroed below
            visible = visible | ((~real)[:, :, None] & (distance == 0)[None])
        keys, values, allowed = [h_k, s_k], [h_v, s_v], [visible, visible]
        if sinks is not None:
            p_k, p_v = self._keys_values(sinks.unsqueeze(0).expand(B, -1, -1))
            keys, values = [p_k, *keys], [p_v, *values]
            allowed = [visible.new_ones(visible.shape[0], n, sinks.shape[0]), *allowed]
        out = F.scaled_dot_product_attention(
            q, torch.cat(keys, 2), torch.cat(values, 2), attn_mask=torch.cat(allowed, -1).unsqueeze(1),
            enable_gqa=self.heads != self.kv_heads,
        )
        out = self.to_out(out.transpose(1, 2).reshape(B, n, -1))
        if mask is not None:
            out = out * real.unsqueeze(-1).to(out.dtype)
        return out, (h_k, h_v, s_k, s_v, key_mask)

    def empty_cache(self, batch_size: int, device=None, dtype=torch.float32):
        kv = lambda: torch.zeros(batch_size, self.kv_heads, 0, self.head_dim, device=device, dtype=dtype)  # noqa: E731
        return kv(), kv(), kv(), kv(), torch.zeros(batch_size, 0, dtype=torch.bool, device=device)
