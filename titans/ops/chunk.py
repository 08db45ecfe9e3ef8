"""Chunk-parallel memory update: the exact closed form of SPEC §1, with no per-token weights.

Axes: B batch, H heads, N chunks, b chunk size, D key/value width, Dh hidden width.

Inside a chunk the gradient of every token is taken at the entering weights W0 (mini-batch gradient
descent, Eq. 13 with a shared W_{t'}); for an MLP that gradient is a sum of outer products
``g_l = h_{l-1}^T delta_l`` of a layer's input and the loss gradient at its output. The weights seen by
token t are therefore

    W_l,t = A_t W_l,0 + Bm_t S_l,0 - sum_{s<=t} C[t,s] h_{l-1,s}^T delta_{l,s}        (Eqs. 13-14 unrolled)

and a query's pre-activation at layer l needs no W_l,t at all:

    z_l,t = A_t (x_t W_l,0) + Bm_t (x_t S_l,0) - sum_s C[t,s] (x_t . h_{l-1,s}) delta_{l,s}.

Only the chunk-boundary weights and momentum are ever materialised; per chunk the work is batched
matmuls over ``[B, H]``. This file prepares what does not depend on the weights for all chunks at
once, in autograd (gate products in log space, the first layer's q k^T scores, gradients at the reset
weights); ``chunk_function.ChunkedMemory`` then walks the chunks of a ``[B, H, N, b, .]`` view as one
autograd node with a hand-written backward (``chunk_step``), so no per-chunk slice ever reaches
autograd (whose backward would zero-fill the whole sequence once per chunk).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .chunk_function import ChunkedMemory
from .chunk_step import key_pass
from .gates import chunk_coefficients
from .inputs import Weights, prepare_inputs
from .triton_walk import TritonChunkedMemory, dot_precision, use_triton


def _to_chunks(t: torch.Tensor, pad: int, b: int) -> torch.Tensor:
    """``[B, H, T, ...]`` -> ``[B, H, N, b, ...]``, the tail padded with zeros (no-op gates, no write)."""
    trailing = t.dim() - 3
    if pad:
        t = F.pad(t, (0, 0) * trailing + (0, pad))
    return t.reshape(*t.shape[:2], -1, b, *t.shape[3:])


def chunk_memory_update(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    theta: torch.Tensor,
    eta: torch.Tensor,
    alpha: torch.Tensor,
    weights: Weights,
    momentum: Weights | None = None,
    *,
    chunk_size: int,
    activation: str = "gelu",
    residual: bool = False,
    mask: torch.Tensor | None = None,
    log_gates: bool = False,
    reset: torch.Tensor | None = None,
    reset_weights: Weights | None = None,
    forget_to_reset_weights: bool = False,
    return_inner_loss: bool = False,
    return_weight_change: bool = False,
    backend: str = "auto",
):
    """Titans' long-term memory over a sequence, chunk-parallel and exact.

    Args:
        q, k, v: ``[B, H, T, D]`` queries, keys, values (the layer l2-normalises q and k).
        theta: ``[B, H, T]`` inner learning rates (>= 0).
        eta: ``[B, H, T]`` momentum gates in [0, 1] (or log(eta) with ``log_gates``).
        alpha: ``[B, H, T]`` forgetting gates in [0, 1] (or log(1 - alpha) with ``log_gates``).
        weights: the memory MLP's weights at the start, a tuple of ``[B, H, d_in, d_out]``
            (``W1: [D, Dh]``, ..., ``WL: [Dh, D]``); its length is the depth.
        momentum: the surprise S at the start, shaped like ``weights`` (zeros when None).
        chunk_size: b, the number of tokens whose gradients are taken at the same weights (the
            paper's mini-batch). b = 1 is online gradient descent. The op starts at a chunk boundary.
        activation: "gelu" (exact erf) or "silu". residual: ``M(x) = x + MLP(x)``.
        mask: ``[B, T]`` bool, False for padding: that step leaves memory and momentum untouched.
        log_gates: take ``eta`` and ``alpha`` as log(eta) and log(1 - alpha) (from ``logsigmoid``),
            so that gradients stay finite at the gate extremes.
        reset: ``[B, T]`` bool, True where a document starts: the memory returns to
            ``reset_weights`` (broadcastable to ``weights``) and zero momentum before that token writes.
        forget_to_reset_weights: the forgetting pulls the weights towards ``reset_weights`` W0 rather than
            towards zero: ``W_t - W0 = (1 - alpha_t)(W_{t-1} - W0) + S_t`` in place of Eq. 13 (needs
            ``reset_weights``; with or without ``reset``).
        return_inner_loss: also return ``||M(k_t) - v_t||^2`` ``[B, H, T]`` at the weights where
            token t's gradient was taken (the momentary surprise, Eq. 12), for logging.
        return_weight_change: also return ``||W_t - W_{t-1}||_F`` ``[B, H, T]`` (over all the memory's
            weight matrices): how far token t moved the memory (``weight_change.py``; inspection only,
            it builds one chunk's per-token weights at a time).
        backend: the chunk walk: "torch" (the reference, and the CPU path), "triton" (the kernels of
            ``triton_step``; CPU tensors only under ``TRITON_INTERPRET=1``) or "auto" (Triton for CUDA
            tensors of moderate width when triton is installed, else torch). Calls the kernels do not
            cover (depth 3+, float64, ``return_weight_change``) take the torch walk: see
            ``triton_walk.use_triton``.

    Returns:
        y ``[B, H, T, D]`` (in q's dtype): token t's retrieval with the memory after its own write
        (Eq. 15); the final weights and momentum (float32, or float64 for float64 inputs); and the
        inner loss and then the weight change when asked for.
    """
    x = prepare_inputs(
        q, k, v, theta, eta, alpha, weights, momentum, chunk_size=chunk_size, activation=activation,
        mask=mask, reset=reset, reset_weights=reset_weights, forget_to_reset_weights=forget_to_reset_weights,
    )
    triton = use_triton(backend, x.q, x.weights, chunk_size, weight_change=return_weight_change)
    B, H, T, D = x.q.shape
    b = chunk_size
    pad = (-T) % b

    written = torch.ones(B, 1, T, dtype=x.q.dtype, device=x.q.device)
    if x.mask is not None:
        written = x.mask[:, None, :].to(x.q.dtype)
        real = x.mask[:, None, :]
        # substitute the no-op gates before the log, so a masked extreme gate cannot make a NaN gradient
        theta_ = torch.where(real, x.theta, 0.0)
        eta_ = torch.where(real, x.eta, 0.0 if log_gates else 1.0)
        alpha_ = torch.where(real, x.alpha, 0.0)
    else:
        theta_, eta_, alpha_ = x.theta, x.eta, x.alpha
    log_eta = eta_ if log_gates else torch.log(eta_)
    log_keep = alpha_ if log_gates else torch.log1p(-alpha_)

    injected, from_reset = None, None
    if x.reset is not None:
        # a reset token first drops the old weights and momentum (log-gate -inf: a zero product), then
        # takes in the reset weights with its own (1 - alpha)
        starts = x.reset[:, None, :].expand(B, H, T)
        if not forget_to_reset_weights:  # else W0's share is 1 - A (below), whatever the starts
            injected = _to_chunks(torch.where(starts, log_keep.exp(), 0.0), pad, b)
        log_keep = log_keep.masked_fill(starts, float("-inf"))
        log_eta = log_eta.masked_fill(starts, float("-inf"))
        # tokens after a document start inside their chunk take gradients at the reset weights
        from_reset = _to_chunks(x.reset[:, None, :].to(torch.int32), pad, b).cumsum(-1) > 0  # [B, 1, N, b]

    chunk_log_keep = _to_chunks(log_keep, pad, b)
    coeffs = chunk_coefficients(
        chunk_log_keep,
        _to_chunks(log_eta, pad, b),
        _to_chunks(theta_, pad, b),
        _to_chunks(written.expand(B, H, T), pad, b),  # padded tail: writes nothing
        injected,
    )
    if forget_to_reset_weights:
        # W_t = A_t W_enter + (1 - A_t) W0 + writes: what the entering weights lose to the decay, W0 takes
        # (all of it from a document start on, where A_t = 0); W0 enters through the resets' terms
        coeffs["R"] = -torch.expm1(chunk_log_keep.cumsum(-1))
    Q, K, V = (_to_chunks(t, pad, b) for t in (x.q, x.k, x.v))  # [B, H, N, b, D]
    qk_term = coeffs["C"] * (Q @ K.mT)  # the first layer's scores do not depend on the weights

    depth = len(x.weights)
    extra = ()
    if "R" in coeffs:  # resets, or forgetting towards the reset weights
        extra = x.reset_weights
    if from_reset is not None:
        # gradients at the reset weights do not depend on the sequential state: all chunks at once
        reset_h, _, reset_d = key_pass([w.unsqueeze(2) for w in x.reset_weights], K, V, activation, residual)
        extra = (*extra, *reset_h[1:], *reset_d)  # h_0 is k itself
    tensors = (Q, K, V, qk_term, *coeffs.values(), *x.weights, *x.momentum, *extra)
    needs_backward = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
    config = (depth, activation, residual, needs_backward, return_weight_change)
    if triton:  # the dots' precision follows the caller's dtype (the walk receives float32)
        config += (dot_precision(q.dtype, x.q.device),)
    walk = TritonChunkedMemory if triton else ChunkedMemory
    y, inner_loss, change, *state = walk.apply(
        config, Q, K, V, qk_term, coeffs["A"],
        coeffs["Bm"], coeffs["C"], coeffs["Pe_theta_end"], coeffs["E_end"], coeffs.get("R"), from_reset,
        *x.weights, *x.momentum, *extra,
    )
    W, S = tuple(state[:depth]), tuple(state[depth:])
    y = y.reshape(B, H, -1, D)[:, :, :T]
    extra = [t.reshape(B, H, -1)[:, :, :T] for t, wanted in ((inner_loss, return_inner_loss),
                                                             (change, return_weight_change)) if wanted]
    return (y.to(q.dtype), W, S, *extra)
