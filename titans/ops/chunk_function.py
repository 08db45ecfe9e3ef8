"""The walk over the chunks, as one autograd node with a hand-written backward.

Autograd through the closed form would keep every intermediate of every chunk. Here the forward runs
without a graph and keeps only the chunk-boundary weights and momentum plus the per-token activations
that ``chunk_step.backward_step`` needs; the backward walks the chunks in reverse. Everything before
(gate products, the first layer's scores) and after stays in ordinary autograd.
Axes: B batch, H heads (flattened to BH inside), N chunks, b chunk size, D width.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable
from torch.utils._pytree import tree_flatten, tree_unflatten

from .chunk_step import backward_step, flush_small_, forward_step
from .row_parallel import in_parallel, row_parts
from .weight_change import weight_change_norm

_STATE_FLUSH = 1 / 3  # see chunk_step.flush_small_
# On the CPU the carried state is flushed every few chunks, and always where it leaves the walk: a flush
# is three passes over the state, about a tenth of the walk's time if done every chunk, and the state needs many
# chunks at the default gates to fall from tiny^(1/3) into the subnormal range (eta^b ~ 1e-3 a chunk
# at eta = 0.9, b = 64: ~8 chunks); with extreme gates it may dip below for at most this many chunks.
_FLUSH_EVERY = 4
_STORED = object()  # marks a tensor leaf of the per-chunk record, kept through save_for_backward


class ChunkedMemory(torch.autograd.Function):
    """``(y, inner_loss, weight_change, *W_final, *S_final)`` from chunked inputs.

    config: ``(depth, activation, residual, needs_backward, weight_change)``; without a backward to come
    the chunks' activations are not kept, so inference holds one chunk's worth at a time. With
    ``weight_change`` the walk also measures ``||W_t - W_{t-1}||`` per token (``weight_change.py``, for
    inspection); otherwise that output is None and nothing of it is computed. Positional tensors: q, k, v ``[B, H, N, b, D]``;
    qk ``[B, H, N, b, b]`` (C * q k^T); A, Bm ``[B, H, N, b]``; C ``[B, H, N, b, b]``; s ``[B, H, N, b]``;
    e ``[B, H, N]``; R ``[B, H, N, b]`` or None; after ``[B, 1, N, b]`` bool or None; then ``depth``
    weights and ``depth`` momenta ``[B, H, d_in, d_out]``; with R also ``depth`` reset weights, and with
    ``after`` (document starts) ``depth - 1`` reset-key layer inputs (layers 1..) and ``depth`` reset
    deltas ``[B, H, N, b, .]``.
    """

    @staticmethod
    def forward(ctx, config, q, k, v, qk, A, Bm, C, s, e, R, after, *tensors):
        depth, activation, residual, needs_backward, measure_change = config
        B, H, N, b, D = q.shape
        flat = lambda t: t.reshape(B * H, *t.shape[2:])  # noqa: E731
        q_, k_, v_, qk_, A_, Bm_, C_, s_, e_ = map(flat, (q, k, v, qk, A, Bm, C, s, e))
        W_in = [flat(t) for t in tensors[:depth]]
        S_in = [flat(t) for t in tensors[depth : 2 * depth]]
        reset_at = _reset_inputs(R, after, tensors[2 * depth :], depth, flat, (B, H, N, b))
        y = q_.new_empty(q_.shape)
        inner_loss = q_.new_empty(q_.shape[:-1])
        change = q_.new_empty(q_.shape[:-1]) if measure_change else None
        flush = _flushes(q)

        def walk(rows: slice):
            W, S, chunks = [w[rows] for w in W_in], [m[rows] for m in S_in], []
            for n in range(N):
                y_n, loss_n, new_W, new_S, saved = forward_step(
                    W, S, q_[rows, n], k_[rows, n], v_[rows, n], qk_[rows, n], A_[rows, n], Bm_[rows, n],
                    C_[rows, n], s_[rows, n], e_[rows, n], activation, residual, reset_at(n, rows),
                )
                y[rows, n], inner_loss[rows, n] = y_n, loss_n
                if measure_change:
                    h, deltas = [k_[rows, n], *saved[0]], saved[2]
                    change[rows, n] = weight_change_norm(W, S, h, deltas, A_[rows, n], Bm_[rows, n], C_[rows, n],
                                                         reset_at(n, rows))
                if needs_backward:  # else (no_grad inference) only one chunk is held at a time
                    chunks.append((W, S, saved))
                W, S = new_W, new_S
                if flush and (n % _FLUSH_EVERY == _FLUSH_EVERY - 1 or n == N - 1):
                    W, S = flush_small_(W, _STATE_FLUSH), flush_small_(S, _STATE_FLUSH)
            return W, S, chunks

        parts = row_parts(B * H, q.device)
        walked = in_parallel(walk, parts)
        W, S = _join_rows([w for w, _, _ in walked]), _join_rows([m for _, m, _ in walked])
        ctx.config, ctx.shape, ctx.parts = config, (B, H), parts
        # the per-chunk boundary state and activations go through save_for_backward too (not a ctx
        # attribute), so that saved-tensor hooks see them: activation checkpointing then drops them
        leaves, ctx.chunk_spec = tree_flatten([chunks for _, _, chunks in walked])
        ctx.chunk_leaves = [_STORED if isinstance(t, torch.Tensor) else t for t in leaves]
        ctx.n_inputs = 11 + len(tensors) - 2 * depth
        ctx.save_for_backward(q, k, v, qk, A, Bm, C, s, e, R, after, *tensors[2 * depth :],
                              *(t for t in leaves if isinstance(t, torch.Tensor)))
        inner_loss = inner_loss.view(B, H, N, b)
        ctx.mark_non_differentiable(inner_loss)
        if measure_change:
            change = change.view(B, H, N, b)
            ctx.mark_non_differentiable(change)
        unflat = lambda t: t.view(B, H, *t.shape[1:])  # noqa: E731
        return (unflat(y), inner_loss, change, *map(unflat, W), *map(unflat, S))

    @staticmethod
    @once_differentiable
    def backward(ctx, dy, _d_inner_loss, _d_change, *dstate):
        depth, activation, residual = ctx.config[:3]
        B, H = ctx.shape
        saved_tensors = ctx.saved_tensors
        q, k, v, qk, A, Bm, C, s, e, R, after, *reset_tensors = saved_tensors[: ctx.n_inputs]
        stored = iter(saved_tensors[ctx.n_inputs :])
        leaves = [next(stored) if leaf is _STORED else leaf for leaf in ctx.chunk_leaves]
        chunks_by_part = tree_unflatten(leaves, ctx.chunk_spec)
        N, b = q.shape[2], q.shape[3]
        flat = lambda t: t.reshape(B * H, *t.shape[2:])  # noqa: E731
        q_, k_, v_, qk_, A_, Bm_, C_, s_, e_ = map(flat, (q, k, v, qk, A, Bm, C, s, e))
        reset_at = _reset_inputs(R, after, reset_tensors, depth, flat, (B, H, N, b))
        flush = _flushes(q)
        dy_ = torch.zeros_like(q_) if dy is None else flat(dy)
        grads = [torch.empty_like(t) for t in (q_, k_, v_, qk_, A_, Bm_, C_, s_, e_)]
        if R is not None:
            dR = torch.empty_like(flat(R))
            dW0 = [torch.zeros_like(flat(t)) for t in reset_tensors[:depth]]
            d_reset_keys = [torch.empty_like(flat(t)) for t in reset_tensors[depth:]]

        def walk_back(part: int):
            rows, chunks = ctx.parts[part], chunks_by_part[part]
            last_W, last_S, _ = chunks[-1]
            dW = [torch.zeros_like(w) if g is None else flat(g)[rows] for g, w in zip(dstate[:depth], last_W)]
            dS = [torch.zeros_like(w) if g is None else flat(g)[rows] for g, w in zip(dstate[depth:], last_S)]
            for n in range(N - 1, -1, -1):
                W, S, saved = chunks[n]
                *chunk_grads, reset_grads = backward_step(
                    W, S, saved, q_[rows, n], k_[rows, n], v_[rows, n], qk_[rows, n], A_[rows, n], Bm_[rows, n],
                    C_[rows, n], s_[rows, n], e_[rows, n], dy_[rows, n], dW, dS, activation, residual,
                    reset_at(n, rows),
                )
                dW, dS = chunk_grads[0], chunk_grads[1]
                if flush and n % _FLUSH_EVERY == 0:
                    dW, dS = flush_small_(dW), flush_small_(dS)
                for full, g in zip(grads, chunk_grads[2:]):
                    full[rows, n] = g
                if reset_grads is not None:
                    dR[rows, n] = reset_grads[0]
                    for total, g in zip(dW0, reset_grads[1]):
                        total[rows] += g
                    for full, g in zip(d_reset_keys, [*reset_grads[2], *reset_grads[3]]):
                        full[rows, n] = g
            return dW, dS

        walked = in_parallel(walk_back, list(range(len(ctx.parts))))
        dW, dS = _join_rows([w for w, _ in walked]), _join_rows([m for _, m in walked])
        unflat = lambda t: t.view(B, H, *t.shape[1:])  # noqa: E731
        out = [None, *map(unflat, grads), None if R is None else unflat(dR), None,
               *map(unflat, dW), *map(unflat, dS)]
        if R is not None:
            out += [*map(unflat, dW0), *map(unflat, d_reset_keys)]
        return tuple(out)


def _flushes(t: torch.Tensor) -> bool:
    """Whether the walk flushes tiny state to zero: on the CPU only, whose subnormal arithmetic is slow;
    a GPU's is not, and there each flush (every fourth chunk) is three more kernel launches per state
    tensor."""
    return t.device.type == "cpu"


def _join_rows(parts: list[list[torch.Tensor]]) -> list[torch.Tensor]:
    """Per layer, the row slices of a state put back together (no copy for a single slice)."""
    if len(parts) == 1:
        return parts[0]
    return [torch.cat(layer) for layer in zip(*parts)]


def _reset_inputs(R, after, reset_tensors, depth, flat, shape):
    """A function of the chunk index and row slice giving ``forward_step``'s ``reset`` argument (None
    without resets)."""
    if R is None:
        return lambda n, rows: None
    B, H, N, b = shape
    R_, W0 = flat(R), [flat(t) for t in reset_tensors[:depth]]
    if after is None:  # W0 enters by the forgetting alone: every token takes its gradient at its own weights
        return lambda n, rows: (R_[rows, n], None, [w[rows] for w in W0], [], [])
    after_ = flat(after.expand(B, H, N, b)).unsqueeze(-1)
    keys = [flat(t) for t in reset_tensors[depth:]]
    reset_h, reset_d = keys[: depth - 1], keys[depth - 1 :]
    return lambda n, rows: (R_[rows, n], after_[rows, n], [w[rows] for w in W0], [t[rows, n] for t in reset_h],
                            [t[rows, n] for t in reset_d])
