"""MAC, memory as a context (paper §4.1, Eqs. 21-25; SPEC §3).

The sequence is cut into segments of ``config.segment`` tokens. Per segment and block:
  1. ``h = M*_prev(q(S))``: the memory, as it stood before the segment, is read (no write) at the
     segment's queries;
  2. causal attention over ``[persistent || h || S]`` (token i sees h_j only for j <= i), kept at S;
  3. the memory writes, chunk by chunk, the block's normalised input (default) or the attention output y
     (Eq. 24 literally; ``config.mac_memory_writes`` says why the default differs), and is read after
     the write: ``m = M*(.)``;
  4. ``o = norm_a(y) * sigmoid(norm_b(m))``, added to the residual stream; then SwiGLU.
Where the memory writes the block's input, no segment's memory waits for an earlier segment's attention:
consecutive whole segments then run as one call (``MACBlock._segments``), with the same result.

Packed documents (``reset``, SPEC §2): a document that starts inside a segment sees none of the
segment's earlier tokens or their h in attention, reads its own h from the initial memory W0 (the
segment-start weights hold the previous document), and the memory restarts at W0 on the write path.
For the rest of that segment the state carries W0 as the segment-start weights and a key cache that
hides the earlier document, so a split row reads exactly what one call would.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import nn

from ..config import TitansConfig
from ..layers.memory_state import MemoryState
from ..layers.segment_attention import SegmentAttention
from ..layers.state import TensorState
from .common import FeedForward, GatedProduct, PersistentMemory, make_memory

_CACHE_NAMES = ("h_k", "h_v", "s_k", "s_v", "key_mask")


@dataclass
class MACState(TensorState):
    """The write path's memory, the weights at the segment start (for h), the read path's conv tail,
    the current segment's keys and values so far (at most one segment), and tokens read."""

    memory: MemoryState
    segment_weights: tuple[torch.Tensor, ...]
    q_tail: torch.Tensor
    h_k: torch.Tensor
    h_v: torch.Tensor
    s_k: torch.Tensor
    s_v: torch.Tensor
    key_mask: torch.Tensor
    position: int

    @property
    def batch_size(self) -> int:
        return self.q_tail.shape[0]

    @property
    def cache(self):
        return tuple(getattr(self, name) for name in _CACHE_NAMES)

    def tensors(self) -> dict[str, torch.Tensor]:
        out = {f"memory.{k}": t for k, t in self.memory.tensors().items()}
        out.update({f"segment_weights.{i}": w for i, w in enumerate(self.segment_weights)})
        out.update({name: getattr(self, name) for name in ("q_tail", *_CACHE_NAMES)})
        return out

    def header(self) -> dict:
        return {"position": self.position, "memory": self.memory.header()}

    @classmethod
    def from_header(cls, tensors: dict[str, torch.Tensor], header: dict) -> "MACState":
        memory = MemoryState.from_header(
            {k[len("memory."):]: t for k, t in tensors.items() if k.startswith("memory.")}, header["memory"]
        )
        weights = sorted((int(k.split(".")[1]), t) for k, t in tensors.items() if k.startswith("segment_weights."))
        names = [f.name for f in fields(cls) if f.name in ("q_tail", *_CACHE_NAMES)]
        return cls(memory=memory, segment_weights=tuple(t for _, t in weights), position=int(header["position"]),
                   **{name: tensors[name] for name in names})


def _columns(t: torch.Tensor | None, piece: slice) -> torch.Tensor | None:
    """The tokens ``piece`` of an optional ``[B, T]`` mask or reset."""
    return None if t is None else t[:, piece]


class MACBlock(nn.Module):
    """One MAC block: segment attention with the memory as context, the memory, the gate, SwiGLU."""

    whole_segments_at_once = True
    """Consecutive whole segments in one call where the memory writes the block's input (``_segments``);
    False takes every segment on its own (``_piece``): the same result, the reference that the tests and
    ``benchmarks/mac_segments.py`` compare against."""

    def __init__(self, config: TitansConfig):
        super().__init__()
        self.segment = config.segment
        self.writes_input = config.mac_memory_writes == "input"
        self.norm = nn.RMSNorm(config.dim, eps=config.norm_eps)
        self.persistent = PersistentMemory(config) if config.persistent else None
        self.attention = SegmentAttention(config.dim, config.heads, config.kv_heads, config.window, config.rope_base)
        self.memory = make_memory(config)
        self.gate = GatedProduct(config)
        self.feed_forward = FeedForward(config)

    def initial_state(self, batch_size: int, device, dtype) -> MACState:
        memory = self.memory.initial_state(batch_size, device, dtype)
        tail = torch.zeros(batch_size, self.memory.convs[0].kernel_size - 1, self.memory.heads * self.memory.dim_head,
                           device=device, dtype=dtype)
        cache = self.attention.empty_cache(batch_size, device, dtype)
        return MACState(memory, memory.weights, tail, *cache, position=0)

    def forward(self, x, state=None, *, mask=None, reset=None):
        if state is None:
            state = self.initial_state(x.shape[0], x.device, x.dtype)
        elif state.batch_size != x.shape[0] or state.memory.signature != self.memory.signature:
            raise ValueError(f"MAC state for batch size {state.batch_size} and memory {state.memory.signature} "
                             f"does not fit this block and batch size {x.shape[0]}: pass state=None to start fresh")
        # split, not one slice per piece: a slice's backward zero-fills the whole sequence, once per
        # segment and block (quadratic in T); a split's backward is one concatenation
        outputs, start = [], 0
        pieces = self._pieces(state.position, x.shape[1])
        for piece_x, (size, whole) in zip(torch.split(x, [size for size, _ in pieces], dim=1), pieces):
            piece = slice(start, start + size)
            run = self._segments if whole else self._piece
            out, state = run(piece_x, state, _columns(mask, piece), _columns(reset, piece))
            outputs.append(out)
            start += size
        return (outputs[0] if len(outputs) == 1 else torch.cat(outputs, 1)), state

    def _pieces(self, position: int, length: int) -> list[tuple[int, bool]]:
        """The call's tokens as pieces that never cross a segment boundary, each ``(size, whole)``; with the
        memory writing the block's input, consecutive whole segments form one piece (``whole``): no
        segment's memory then waits for an earlier segment's attention, and one call does them all."""
        pieces, start = [], 0
        while start < length:
            offset = (position + start) % self.segment
            size = min(self.segment - offset, length - start)
            whole = self.writes_input and self.whole_segments_at_once and offset == 0 and size == self.segment
            if whole and pieces and pieces[-1][1]:
                pieces[-1] = (pieces[-1][0] + size, True)
            else:
                pieces.append((size, whole))
            start += size
        # one whole segment is an ordinary piece
        return [(size, whole and size > self.segment) for size, whole in pieces]

    def _segments(self, x, state: MACState, mask, reset):
        """Whole segments at once (the memory writes the block's input): one projection and output for the
        memory (each segment's h still read at the weights that entered it), one attention call over the
        segments as a batch of rows (each starts with an empty cache), one gate and feed-forward pass. The
        same computation as ``_piece`` segment by segment, in fewer and larger operations."""
        B, T, _ = x.shape
        count = T // self.segment
        xn = self.norm(x)
        sinks = None if self.persistent is None else self.norm(self.persistent())
        m, h, memory = self.memory.write_and_read(xn, state.memory, state.segment_weights, mask=mask, reset=reset,
                                                  segment=self.segment)  # Eqs. 21, 24-25
        fold = lambda t: None if t is None else t.reshape(B * count, self.segment, *t.shape[2:])  # noqa: E731
        empty = self.attention.empty_cache(B * count, x.device, state.h_k.dtype)
        y, _ = self.attention(fold(xn), fold(h), empty, 0, sinks, fold(mask), fold(reset))  # Eqs. 22-23
        x = self.feed_forward(x + self.gate(y.reshape(B, T, -1), m))
        cache = self.attention.empty_cache(B, x.device, state.h_k.dtype)
        # every segment is done: the next one reads the memory as it stands now
        return x, MACState(memory, memory.weights, memory.conv_tails[0], *cache, position=state.position + T)

    def _piece(self, x, state: MACState, mask, reset):
        offset = state.position % self.segment
        xn = self.norm(x)
        sinks = None if self.persistent is None else self.norm(self.persistent())
        if self.writes_input:
            # Eqs. 21, 24-25 on the block's input (config.mac_memory_writes): h read at the segment-start
            # weights, the write, and m read after it, all from one projection of xn
            m, h, memory = self.memory.write_and_read(xn, state.memory, state.segment_weights, mask=mask,
                                                      reset=reset)
            q_tail = memory.conv_tails[0]  # the read path's conv tail is the write's q tail
            y, cache = self.attention(xn, h, state.cache, offset, sinks, mask, reset)  # Eqs. 22-23
        else:
            h, q_tail = self.memory.read(xn, state.segment_weights, state.q_tail, mask=mask, reset=reset)  # Eq. 21
            y, cache = self.attention(xn, h, state.cache, offset, sinks, mask, reset)  # Eqs. 22-23
            m, memory = self.memory(y, state.memory, mask=mask, reset=reset)  # Eqs. 24-25 literally: y written
        x = self.feed_forward(x + self.gate(y, m))
        position = state.position + x.shape[1]
        segment_weights = state.segment_weights
        if position % self.segment == 0:
            # segment done: the next one reads the memory as it stands now (a chunk boundary, since the
            # segment is a multiple of the chunk) and starts with empty keys and values
            segment_weights = memory.weights
            cache = self.attention.empty_cache(x.shape[0], x.device, state.h_k.dtype)
        elif reset is not None:
            # a row whose document started in this piece reads its h from W0 until the segment ends
            restarted = reset.any(1)[:, None, None, None]
            segment_weights = tuple(
                torch.where(restarted, w0.to(w.dtype), w) for w0, w in zip(self.memory.initial_weights, segment_weights)
            )
        return x, MACState(memory, segment_weights, q_tail, *cache, position=position)
