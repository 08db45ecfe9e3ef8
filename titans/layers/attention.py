"""Short-term memory: causal sliding-window attention with RoPE, attention sinks and a KV cache (SPEC §3).

Axes: B batch, T tokens, H query heads, Hkv key/value heads, C cached tokens, Np sink tokens,
Dh width per head.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..ops.attention import (
    document_starts,
    hide_earlier_documents,
    sliding_window_attention,
)
from .checks import check_sequence
from .padding import zero_padding
from .rope import RotaryEmbedding
from .state import TensorState


@dataclass
class AttentionState(TensorState):
    """What a :class:`SlidingWindowAttention` carries from one call to the next: its KV cache.

    k: ``[B, Hkv, C, Dh]`` keys, already rotated at their absolute positions. v: ``[B, Hkv, C, Dh]``.
    key_mask: ``[B, C]`` bool, False where the cached token was padding or belongs to a document that
    ended (a later document start was read): no later query may see it. position: tokens read so far
    (padding included), the absolute position of the next token.
    With a window the cache holds the last ``window - 1`` tokens (decoding memory is bounded); without
    one it holds them all.
    """

    k: torch.Tensor
    v: torch.Tensor
    key_mask: torch.Tensor
    position: int

    @property
    def batch_size(self) -> int:
        return self.k.shape[0]

    def tensors(self) -> dict[str, torch.Tensor]:
        """Flat name -> tensor map (for safetensors); ``from_tensors`` inverts it."""
        return {"k": self.k, "v": self.v, "key_mask": self.key_mask}

    def header(self) -> dict:
        """The non-tensor fields, JSON-ready (for a saved state's header)."""
        return {"position": self.position}

    @classmethod
    def from_header(cls, tensors: dict[str, torch.Tensor], header: dict) -> "AttentionState":
        return cls.from_tensors(tensors, int(header["position"]))

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], position: int) -> "AttentionState":
        missing = {"k", "v", "key_mask"} - tensors.keys()
        if missing:
            raise KeyError(f"attention state has no tensor(s) {sorted(missing)}: not an AttentionState")
        return cls(k=tensors["k"], v=tensors["v"], key_mask=tensors["key_mask"].bool(), position=int(position))


class SlidingWindowAttention(nn.Module):
    """Causal multi-head attention over the last ``window`` tokens (itself included), with RoPE.

    ``out, state = attn(x)`` reads ``x: [B, T, dim]``; ``attn(x2, state=state)`` continues exactly where
    the first call stopped (the state is the KV cache). ``window=None`` is full causal attention (the
    Transformer++ baseline); then the cache grows with the sequence.

    Args:
        dim: model width. heads: query heads; ``Dh = dim // heads`` (even, for RoPE).
        kv_heads: key/value heads (grouped-query attention), ``heads`` when None; must divide ``heads``.
        window: tokens a query sees, itself included (None: all before it). rope_base: RoPE's base.

    Sinks (persistent memory, Eq. 19): ``sinks: [Np, dim]`` tokens in input space, whose keys and
    values ``k(sinks)``, ``v(sinks)`` every query sees. They are not rotated and are scored against the
    *unrotated* query, so that a sink sits at distance 0 from every token and its score never depends
    on how far into the sequence the token is (SPEC §3: never beyond what training saw). They are
    recomputed on each call and never cached.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        kv_heads: int | None = None,
        window: int | None = None,
        rope_base: float = 10000.0,
    ):
        super().__init__()
        kv_heads = heads if kv_heads is None else kv_heads
        if heads < 1 or dim % heads:
            raise ValueError(f"dim={dim} is not divisible by heads={heads}")
        if kv_heads < 1 or heads % kv_heads:
            raise ValueError(f"heads={heads} is not divisible by kv_heads={kv_heads} (grouped-query attention)")
        if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window < 1):
            raise ValueError(f"window must be a positive int (or None for full attention), got {window!r}")
        self.dim, self.heads, self.kv_heads, self.window = dim, heads, kv_heads, window
        self.dim_head = dim // heads
        if self.dim_head % 2:
            raise ValueError(f"RoPE needs an even head width, got dim // heads = {dim} // {heads} = {self.dim_head}")
        Dh = self.dim_head
        self.to_q = nn.Linear(dim, heads * Dh, bias=False)
        self.to_k = nn.Linear(dim, kv_heads * Dh, bias=False)
        self.to_v = nn.Linear(dim, kv_heads * Dh, bias=False)
        self.to_out = nn.Linear(heads * Dh, dim, bias=False)
        self.rope = RotaryEmbedding(Dh, rope_base)

    def extra_repr(self) -> str:
        return f"heads={self.heads}, kv_heads={self.kv_heads}, window={self.window}"

    def initial_state(self, batch_size: int, device=None, dtype=torch.float32) -> AttentionState:
        """An empty cache at position 0."""
        empty = torch.zeros(batch_size, self.kv_heads, 0, self.dim_head, device=device, dtype=dtype)
        return AttentionState(
            k=empty, v=empty.clone(), key_mask=torch.zeros(batch_size, 0, dtype=torch.bool, device=device), position=0
        )

    def _check(self, x, state, mask, sinks, reset):
        check_sequence(x, self.dim, mask, reset)
        B = x.shape[0]
        if sinks is not None and (sinks.dim() != 2 or sinks.shape[-1] != self.dim):
            raise ValueError(f"sinks: expected [num_sinks, {self.dim}] persistent tokens, got {tuple(sinks.shape)}")
        if state is not None:
            if state.batch_size != B:
                raise ValueError(f"state holds batch size {state.batch_size}, x has batch size {B}")
            want = (B, self.kv_heads, self.dim_head)
            got = (state.k.shape[0], state.k.shape[1], state.k.shape[3])
            if state.k.dim() != 4 or got != want or state.v.shape != state.k.shape:
                raise ValueError(
                    f"state cache has shape {tuple(state.k.shape)}, this layer needs [{B}, {self.kv_heads}, C, "
                    f"{self.dim_head}]: pass state=None to start fresh"
                )
            if state.key_mask.shape != state.k.shape[:1] + state.k.shape[2:3]:
                raise ValueError(
                    f"state key_mask {tuple(state.key_mask.shape)} does not match its cache {tuple(state.k.shape)}"
                )

    def forward(
        self,
        x: torch.Tensor,
        state: AttentionState | None = None,
        *,
        mask: torch.Tensor | None = None,
        sinks: torch.Tensor | None = None,
        reset: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, AttentionState]:
        """x: ``[B, T, dim]``. mask: ``[B, T]`` bool, False for padding (never a key, output zero).
        sinks: ``[Np, dim]`` persistent tokens every query sees. reset: ``[B, T]`` bool, True where a
        packed document starts: its tokens see no key before it, in this call or (through the cache)
        a later one; the sinks stay visible. Returns ``[B, T, dim]`` and the new state.
        """
        self._check(x, state, mask, sinks, reset)
        B, T, _ = x.shape
        H, Hkv, Dh = self.heads, self.kv_heads, self.dim_head
        if state is None:
            state = self.initial_state(B, x.device, x.dtype)
        C = state.k.shape[2]
        mask = None if mask is None else mask.bool()
        reset = None if reset is None else reset.bool()

        q = self.to_q(x).view(B, T, H, Dh).transpose(1, 2)  # [B, H, T, Dh]
        k = self.to_k(x).view(B, T, Hkv, Dh).transpose(1, 2)  # [B, Hkv, T, Dh]
        v = self.to_v(x).view(B, T, Hkv, Dh).transpose(1, 2)
        positions = state.position + torch.arange(T, device=x.device)  # absolute, int64
        q_rot, k = self.rope(q, positions), self.rope(k, positions)

        keys = k if C == 0 else torch.cat([state.k.to(k.dtype), k], dim=2)  # [B, Hkv, C + T, Dh]
        values = v if C == 0 else torch.cat([state.v.to(v.dtype), v], dim=2)
        real = torch.ones(B, T, dtype=torch.bool, device=x.device) if mask is None else mask
        key_mask = real if C == 0 else torch.cat([state.key_mask, real], dim=1)  # [B, C + T]

        sink_k = sink_v = None
        if sinks is not None and sinks.shape[0] > 0:
            Np = sinks.shape[0]
            sink_k = self.to_k(sinks).view(1, Np, Hkv, Dh).transpose(1, 2)  # [1, Hkv, Np, Dh], not rotated
            sink_v = self.to_v(sinks).view(1, Np, Hkv, Dh).transpose(1, 2)
        out = sliding_window_attention(
            q_rot, keys, values, window=self.window, sink_k=sink_k, sink_v=sink_v,
            # no mask and no cache: None lets full attention take SDPA's causal kernel
            key_mask=None if (mask is None and C == 0) else key_mask,
            sink_q=None if sink_k is None else q,  # sinks see the unrotated query (distance 0)
            reset=reset,
        )
        out = self.to_out(out.transpose(1, 2).reshape(B, T, H * Dh))
        out = zero_padding(out, mask)
        if reset is not None:
            # every later query belongs to this call's last document (or a newer one): the cache hides
            # the keys before its start, so a split row sees exactly what one call would
            key_mask = hide_earlier_documents(key_mask, document_starts(reset, C))

        keep = keys.shape[2] if self.window is None else min(self.window - 1, keys.shape[2])
        lo = keys.shape[2] - keep
        # copies, so that the cache does not keep this call's whole sequence alive
        clip = (lambda t: t) if lo == 0 else (lambda t: t[..., lo:, :].clone())  # noqa: E731
        new_state = AttentionState(
            k=clip(keys), v=clip(values), key_mask=key_mask[:, lo:].clone(), position=state.position + T
        )
        return out, new_state
