"""Causal sliding-window attention with attention sinks: a blocked O(T·w) form and its naive reference.

Axes: B batch, Hq query heads, Hkv key/value heads (grouped-query attention: G = Hq / Hkv query heads
share one key/value head, head h reads key/value head h // G), T queries, L = C + T keys (C cached past
keys, then the T current tokens), Np sink tokens, Dh width per head; in the blocked form N blocks of s
queries, each reading K = w + s - 1 keys.

Visibility (SPEC §3): query t sits at key index C + t and sees key j iff ``0 <= (C + t) - j < window``
(window None: ``j <= C + t``), ``key_mask[b, j]`` and ``j >= start[b, t]``, the key index of the first
token of t's document (``reset``: packed documents never see each other; SPEC §2); every query also
sees the Np sinks (the persistent memory, Eq. 19: input-independent, so no document's). A query that
sees nothing returns zeros. Softmax runs in float32 (float64 stays float64).

Backends (``backend=``): ``blocked`` (the O(T·w) CPU path below, windows only), ``sdpa``
(``scaled_dot_product_attention`` with a dense ``T x L`` boolean mask: the fused flash kernel for plain
causal attention, otherwise O(T·L) memory), ``flex`` (flex attention with a block-sparse window mask,
:mod:`titans.ops.attention_flex`: O(T·w) on the GPU). ``auto`` takes flex for CUDA tensors of at least
one flex tile of queries (SDPA's flash kernel for plain causal attention); otherwise sdpa without a
window, and with one blocked, except on the CPU where SDPA's dense scores are not many more than the
blocked path's (a row of at most two windows, decoding): there sdpa is faster.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .attention_flex import BLOCK as _FLEX_BLOCK
from .attention_flex import flex_window_attention
from .inputs import compute_dtype

BACKENDS = ("auto", "blocked", "sdpa", "flex")
_FLEX_MIN_WIDTH = 16


def document_starts(reset: torch.Tensor, offset: int) -> torch.Tensor:
    """Per query, the key index of the first token of its document: ``[B, T]`` int64.

    reset: ``[B, T]`` bool, True where a document starts at query t, whose key index is ``offset + t``.
    A query after no reset in ``reset`` gets 0, which hides nothing: a document that started before
    these queries is the caller's to hide, through the key mask (:func:`hide_earlier_documents`).
    """
    index = offset + torch.arange(reset.shape[1], device=reset.device)
    return torch.where(reset, index, 0).cummax(dim=1).values


def hide_earlier_documents(key_mask: torch.Tensor, starts: torch.Tensor) -> torch.Tensor:
    """``key_mask [B, L]`` with every key before its row's last document start (``starts[:, -1]``, from
    :func:`document_starts` over the last keys) made invisible: what a carried cache keeps, since every
    later query belongs to that document or a newer one."""
    return key_mask & (torch.arange(key_mask.shape[1], device=key_mask.device) >= starts[:, -1:])


def _check(q, k, v, window, sink_q, sink_k, sink_v, key_mask, reset):
    if q.dim() != 4:
        raise ValueError(f"q: expected [B, Hq, T, Dh], got {tuple(q.shape)}")
    B, Hq, T, Dh = q.shape
    if T == 0:
        raise ValueError("q has no tokens (T = 0): pass at least one query")
    if k.dim() != 4 or k.shape[0] != B or k.shape[3] != Dh:
        raise ValueError(f"k: expected [B, Hkv, L, Dh] = [{B}, Hkv, L, {Dh}] (like q), got {tuple(k.shape)}")
    if v.shape != k.shape:
        raise ValueError(f"v: expected the shape of k, {list(k.shape)}, got {tuple(v.shape)}")
    Hkv, L = k.shape[1], k.shape[2]
    if Hkv == 0 or Hq % Hkv:
        raise ValueError(
            f"grouped-query attention needs the query heads ({Hq}) to be a multiple of the key/value heads ({Hkv})"
        )
    if L < T:
        raise ValueError(
            f"k and v hold {L} keys for {T} queries: the last T keys must be the current tokens (L = C + T)"
        )
    if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window < 1):
        raise ValueError(f"window must be a positive int (or None for full causal attention), got {window!r}")
    if (sink_k is None) != (sink_v is None):
        raise ValueError("pass sink_k and sink_v together (or neither)")
    if sink_k is not None:
        if sink_k.dim() != 4 or sink_k.shape[0] not in (1, B) or sink_k.shape[1] != Hkv or sink_k.shape[3] != Dh:
            raise ValueError(
                f"sink_k: expected [{B} or 1, {Hkv}, Np, {Dh}] (batch, Hkv, sinks, Dh), got {tuple(sink_k.shape)}"
            )
        if sink_v.shape != sink_k.shape:
            raise ValueError(f"sink_v: expected the shape of sink_k, {list(sink_k.shape)}, got {tuple(sink_v.shape)}")
    if sink_q is not None and sink_q.shape != q.shape:
        raise ValueError(f"sink_q: expected the shape of q, {list(q.shape)}, got {tuple(sink_q.shape)}")
    if key_mask is not None and (key_mask.shape != (B, L) or key_mask.dtype != torch.bool):
        raise ValueError(
            f"key_mask: expected a [B, L] = {[B, L]} bool tensor (False = invisible key), "
            f"got {key_mask.dtype} {tuple(key_mask.shape)}"
        )
    if reset is not None and (reset.shape != (B, T) or reset.dtype != torch.bool):
        raise ValueError(
            f"reset: expected a [B, T] = {[B, T]} bool tensor (True = a document starts at that query), "
            f"got {reset.dtype} {tuple(reset.shape)}"
        )


def _no_sinks(sink_k):
    return sink_k is None or sink_k.shape[2] == 0


def attention_reference(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    window: int | None = None,
    sink_k: torch.Tensor | None = None,
    sink_v: torch.Tensor | None = None,
    key_mask: torch.Tensor | None = None,
    scale: float | None = None,
    sink_q: torch.Tensor | None = None,
    reset: torch.Tensor | None = None,
) -> torch.Tensor:
    """The naive form of :func:`sliding_window_attention`: one masked ``T x (Np + L)`` softmax per head.

    The ground truth for tests; O(T·L) time and memory.
    """
    _check(q, k, v, window, sink_q, sink_k, sink_v, key_mask, reset)
    B, Hq, T, Dh = q.shape
    Hkv, L = k.shape[1], k.shape[2]
    C, G, dt = L - T, Hq // Hkv, compute_dtype(q.dtype)
    scale = Dh**-0.5 if scale is None else scale

    keys, values = k.to(dt).repeat_interleave(G, 1), v.to(dt).repeat_interleave(G, 1)  # [B, Hq, L, Dh]
    scores = (q.to(dt) @ keys.mT) * scale  # [B, Hq, T, L]
    dist = (C + torch.arange(T, device=q.device))[:, None] - torch.arange(L, device=q.device)  # [T, L]
    visible = (dist >= 0) if window is None else (dist >= 0) & (dist < window)
    visible = _same_document(visible.expand(B, 1, T, L), reset, C)
    if key_mask is not None:
        visible = visible & key_mask[:, None, None, :]
    if not _no_sinks(sink_k):
        Np = sink_k.shape[2]
        sq = q if sink_q is None else sink_q
        sink_scores = (sq.to(dt) @ sink_k.to(dt).repeat_interleave(G, 1).mT) * scale  # [B, Hq, T, Np]
        scores = torch.cat([sink_scores, scores], dim=-1)
        values = torch.cat([sink_v.to(dt).repeat_interleave(G, 1).expand(B, -1, -1, -1), values], dim=2)
        visible = torch.cat([visible.new_ones(B, 1, T, Np), visible], dim=-1)

    # a row with nothing visible takes a finite dummy row, and its weights are then zeroed
    empty = ~visible.any(-1, keepdim=True)  # [B, 1, T, 1]
    scores = torch.where(visible, scores, float("-inf")).masked_fill(empty, 0.0)
    probs = torch.softmax(scores, dim=-1).masked_fill(empty, 0.0)
    return (probs @ values).to(q.dtype)


def sliding_window_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    window: int | None = None,
    sink_k: torch.Tensor | None = None,
    sink_v: torch.Tensor | None = None,
    key_mask: torch.Tensor | None = None,
    scale: float | None = None,
    sink_q: torch.Tensor | None = None,
    reset: torch.Tensor | None = None,
    backend: str = "auto",
) -> torch.Tensor:
    """Causal attention over cached + current keys, optionally windowed, with attention sinks.

    Args:
        q: ``[B, Hq, T, Dh]`` queries of the T current tokens.
        k, v: ``[B, Hkv, L, Dh]`` with ``L = C + T``: C cached past keys, then the T current tokens;
            query t sits at key index C + t. Hq must be a multiple of Hkv (grouped-query attention).
        window: query t sees key j iff ``0 <= (C + t) - j < window`` (itself and window - 1 before it);
            None: full causal attention (``j <= C + t``).
        sink_k, sink_v: ``[B or 1, Hkv, Np, Dh]`` keys / values visible to every query (attention
            sinks: the persistent memory), or None.
        key_mask: ``[B, L]`` bool, False = a key nobody sees (padding), or None.
        scale: score scale, ``Dh ** -0.5`` when None.
        sink_q: ``[B, Hq, T, Dh]`` queries to score the sinks with, q when None. The layer passes its
            unrotated queries so that a sink's score does not depend on the query's position (the sink
            sits at distance 0 from every query; SPEC §3).
        reset: ``[B, T]`` bool, True where a document starts at that query (packed documents): from
            there on, queries see no key before it, cached keys included; the sinks stay visible. A
            document start in an earlier call is the caller's to hide through ``key_mask``
            (:func:`hide_earlier_documents`).
        backend: auto, blocked, sdpa or flex (module docstring); every one gives the same result.

    Returns:
        ``[B, Hq, T, Dh]`` in q's dtype; zeros for a query that sees no key at all.

    With a window the work is blocked, O(T·w) time and memory: the queries are cut into N blocks of
    ``s = min(w, T)`` (the tail padded), and block n reads the ``K = w + s - 1`` keys from its first
    query's window start to its last query, all blocks at once through ``unfold`` — no ``T x L`` score
    matrix is ever formed, and decoding one token reads exactly w keys; document starts are one
    comparison per query and key of its block. Without a window the CPU's mask is ``T x L`` anyway,
    and ``scaled_dot_product_attention`` does the work.
    """
    _check(q, k, v, window, sink_q, sink_k, sink_v, key_mask, reset)
    if _no_sinks(sink_k):
        sink_q = sink_k = sink_v = None
    backend = _choose_backend(backend, q, window, sink_k, key_mask, reset, k.shape[2])
    if backend == "flex":
        starts = None if reset is None else document_starts(reset, k.shape[2] - q.shape[2])
        return flex_window_attention(q, k, v, window, sink_q, sink_k, sink_v, key_mask, scale, starts)
    if backend == "sdpa":
        return _dense(q, k, v, window, sink_q, sink_k, sink_v, key_mask, scale, reset)
    return _blocked(q, k, v, window, sink_q, sink_k, sink_v, key_mask, scale, reset)


def _choose_backend(backend, q, window, sink_k, key_mask, reset, L) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "blocked" and window is None:
        raise ValueError("backend='blocked' needs a window; full causal attention runs on sdpa or flex")
    if backend != "auto":
        return backend
    plain_causal = window is None and sink_k is None and key_mask is None and reset is None and L == q.shape[2]
    # flex on a GPU, except where SDPA's flash kernel serves (plain causal) or a tile of queries is not
    # filled (decoding reads w keys on the blocked path); flex has no float64 kernels, and its CUDA kernel
    # takes heads of width 16 or more (torch 2.11 on an H100: "NYI: embedding dimension ... at least 16")
    if (q.is_cuda and not plain_causal and q.shape[2] >= _FLEX_BLOCK and q.dtype != torch.float64
            and q.shape[-1] >= _FLEX_MIN_WIDTH):
        return "flex"
    # the dense rule is measured on the CPU only: a GPU keeps the blocked path for what flex leaves
    if window is None or (not q.is_cuda and _dense_is_cheaper(q.shape[2], L, window)):
        return "sdpa"
    return "blocked"


def _dense_is_cheaper(T: int, L: int, w: int) -> bool:
    """Whether SDPA's dense ``T x L`` scores are at most a quarter more than the blocked path's ``N s K``.
    On the CPU SDPA takes a score in well under the time of the blocked path's separate mask, exp, sum and
    divide passes (forward and backward, one thread: 0.35x the blocked time at T = w = 128, 0.68x at T =
    2w = 256, 0.64x at T = 2w = 1,024; one decoded token against a full cache, 0.51-0.60x), and loses once
    it computes twice the scores (1.16-1.32x at T = 4w); ``benchmarks/window_attention.py``."""
    s = min(w, T)
    blocks = -(-T // s)
    return T * L <= 1.25 * blocks * s * (w + s - 1)


def _same_document(visible: torch.Tensor, reset: torch.Tensor | None, C: int) -> torch.Tensor:
    """A ``[B or 1, 1, T, L]`` visibility with the keys before each query's document start removed (``[B, 1, T,
    L]`` with ``reset``)."""
    if reset is None:
        return visible
    keys = torch.arange(visible.shape[-1], device=visible.device)
    return visible & (keys >= document_starts(reset, C)[:, None, :, None])


def _dense(q, k, v, window, sink_q, sink_k, sink_v, key_mask, scale, reset):
    """Causal (windowed) attention through SDPA with a boolean mask, the sinks concatenated in front."""
    B, Hq, T, Dh = q.shape
    L = k.shape[2]
    scale = Dh**-0.5 if scale is None else scale
    # the fused CUDA kernels accumulate the softmax in float32 themselves; elsewhere cast first
    low = q.dtype in (torch.float16, torch.bfloat16)
    dt = q.dtype if (q.is_cuda and low) else compute_dtype(q.dtype)
    q_, k_, v_ = q.to(dt), k.to(dt), v.to(dt)
    if window is None and sink_k is None and key_mask is None and reset is None and L == T:
        out = F.scaled_dot_product_attention(q_, k_, v_, is_causal=True, scale=scale, enable_gqa=True)
        return out.to(q.dtype)

    C = L - T
    distance = (C + torch.arange(T, device=q.device))[:, None] - torch.arange(L, device=q.device)  # [T, L]
    visible = (distance >= 0) if window is None else (distance >= 0) & (distance < window)
    # one [1, 1, T, L] mask for every row unless documents or padding set rows apart: SDPA broadcasts it,
    # and a [B, 1, T, L] one costs a sixth more in the forward and backward here (one thread, T = 2w = 256)
    visible = _same_document(visible[None, None], reset, C)
    if key_mask is not None:
        visible = visible & key_mask[:, None, None, :]
    empty = None
    if sink_k is None:
        # SDPA gives NaN for a row that sees nothing: let it see everything, then zero it
        empty = ~visible.any(-1, keepdim=True)  # [B or 1, 1, T, 1]
        visible = visible | empty
    else:
        Np = sink_k.shape[2]
        sk, sv = sink_k.to(dt).expand(B, -1, -1, -1), sink_v.to(dt).expand(B, -1, -1, -1)
        if sink_q is not None:
            # different queries for the sinks: their scores s = sink_q . sink_k go in Np extra features,
            # [q, s] . [k, 0] = q . k and [q, s] . [0, e_p] = s_p, so one SDPA call still does it all, at
            # width Dh + Np (not 2 Dh, as [q, sink_q] . [0, sink_k] would be)
            G = Hq // sk.shape[1]
            sink_scores = sink_q.to(dt) @ (sk if G == 1 else sk.repeat_interleave(G, dim=1)).transpose(-1, -2)
            q_ = torch.cat([q_, sink_scores], dim=-1)  # [B, Hq, T, Dh + Np]
            k_ = F.pad(k_, (0, Np))
            sk = F.pad(torch.eye(Np, device=q.device, dtype=dt).expand(B, sk.shape[1], Np, Np), (Dh, 0))
            # v keeps its width Dh: SDPA allows values narrower than the keys
        k_, v_ = torch.cat([sk, k_], dim=2), torch.cat([sv, v_], dim=2)
        visible = torch.cat([visible.new_ones(visible.shape[0], 1, T, Np), visible], dim=-1)
    out = F.scaled_dot_product_attention(q_, k_, v_, attn_mask=visible, scale=scale, enable_gqa=True)
    if empty is not None:
        out = out.masked_fill(empty, 0.0)
    return out.to(q.dtype)


def _blocks(t: torch.Tensor, G: int, N: int, s: int) -> torch.Tensor:
    """Queries ``[B, Hq, T, Dh]`` -> ``[B, Hkv, N, G * s, Dh]``: a block's queries of one key/value head
    side by side, so that one matmul per block serves all G heads (the keys are never repeated)."""
    B, Hq, T, Dh = t.shape
    t = F.pad(t, (0, 0, 0, N * s - T)).view(B, Hq // G, G, N, s, Dh)
    return t.transpose(2, 3).reshape(B, Hq // G, N, G * s, Dh)


def _blocked(q, k, v, w, sink_q, sink_k, sink_v, key_mask, scale, reset):
    B, Hq, T, Dh = q.shape
    Hkv, L = k.shape[1], k.shape[2]
    C, G, dt = L - T, Hq // Hkv, compute_dtype(q.dtype)
    scale = Dh**-0.5 if scale is None else scale
    s = min(w, T)  # queries per block: w in training, T when decoding (no padding to a whole window)
    N = -(-T // s)
    K = w + s - 1  # keys per block: from its first query's window start to its last query

    # keys from index C - (w - 1) (front-padded where that is before 0) to C + N s - 1 (tail-padded);
    # keys before that are out of every window and are not touched at all
    start = C - (w - 1)
    first, front, back = max(start, 0), max(-start, 0), N * s - T
    kk = F.pad(k[:, :, first:].to(dt), (0, 0, front, back))  # [B, Hkv, N s + w - 1, Dh]
    vv = F.pad(v[:, :, first:].to(dt), (0, 0, front, back))
    real = torch.ones(B, L - first, dtype=torch.bool, device=q.device) if key_mask is None else key_mask[:, first:]
    real = torch.cat([real.new_zeros(B, front), real, real.new_zeros(B, back)], dim=1)  # pads are never keys
    kb = kk.unfold(2, K, s)  # [B, Hkv, N, Dh, K]: block n holds padded keys n s ... n s + K - 1
    vb = vv.unfold(2, K, s).transpose(-1, -2)  # [B, Hkv, N, K, Dh]

    # query a of block n sits at key index C + n s + a, key c of its block at C + n s - (w - 1) + c:
    # the distance is a + w - 1 - c, in [0, w) iff a <= c <= a + w - 1 — the same band for every block
    a = torch.arange(s, device=q.device)[:, None]
    c = torch.arange(K, device=q.device)
    band = (c >= a) & (c <= a + w - 1)  # [s, K]
    visible = band & real.unfold(1, K, s)[:, None, :, None, None, :]  # [B, 1, N, 1, s, K]
    if reset is not None:
        # one comparison per query and key of its block, against the query's document start
        doc_start = F.pad(document_starts(reset, C), (0, N * s - T)).view(B, N, s, 1)
        key_index = start + s * torch.arange(N, device=q.device)[:, None] + c  # [N, K]
        visible = visible & (key_index[:, None, :] >= doc_start)[:, None, :, None]

    qb = _blocks(q.to(dt), G, N, s)
    scores = (qb @ kb).view(B, Hkv, N, G, s, K) * scale
    scores = scores.masked_fill(~visible, float("-inf"))
    top = scores.amax(-1)  # [B, Hkv, N, G, s]
    if sink_k is not None:
        Np = sink_k.shape[2]
        sq = qb if sink_q is None else _blocks(sink_q.to(dt), G, N, s)
        sink_scores = (sq.reshape(B, Hkv, N * G * s, Dh) @ sink_k.to(dt).mT).view(B, Hkv, N, G, s, Np) * scale
        top = torch.maximum(top, sink_scores.amax(-1))
    # the softmax is shift-invariant, so the shift needs no gradient; a row seeing nothing shifts by 0
    top = torch.where(torch.isfinite(top), top, 0.0).detach().unsqueeze(-1)
    e = torch.exp(scores - top)  # masked keys: exp(-inf) = 0
    denom = e.sum(-1)
    out = e.view(B, Hkv, N, G * s, K) @ vb  # [B, Hkv, N, G s, Dh]
    if sink_k is not None:
        e_sink = torch.exp(sink_scores - top)
        denom = denom + e_sink.sum(-1)
        out = out + (e_sink.reshape(B, Hkv, N * G * s, Np) @ sink_v.to(dt)).view(B, Hkv, N, G * s, Dh)
    denom = torch.where(denom > 0, denom, 1.0).view(B, Hkv, N, G * s, 1)  # nothing visible: out stays 0
    out = (out / denom).view(B, Hkv, N, G, s, Dh).transpose(2, 3).reshape(B, Hq, N * s, Dh)
    return out[:, :, :T].to(q.dtype)
