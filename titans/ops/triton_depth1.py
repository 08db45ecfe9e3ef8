"""Triton walk of a depth-1 (linear) memory, ``M(x) = x W (+ x)``: forward and backward kernels.

The mapping to SPEC §1 and the paper is in ``triton_step``. Per chunk: ``d = 2 (K W (+ K) - V)``,
``y = A*(Q W) + Bm*(Q S) - qk d (+ Q)``, ``W' = a W + bm S - K^T (c * d)``, ``S' = e S - K^T (s * d)``.
With ``RESETS`` the reset weights W0 enter with share R: ``y += R*(Q W0)``, ``W' += r W0``; with ``AFTER``
(document resets, not forgetting towards W0 alone) tokens after a document start in the chunk take d
from the reset weights' key pass (``rd``, computed in autograd outside).
"""

from __future__ import annotations

import triton
import triton.language as tl

from .triton_step import (_chunk_inputs, _chunk_resets, _last, _load, _mm, _rowdot, _store, _store_token_grads,
                          _total)


@triton.jit
def _key_pass(K, V, W, R, after, rd, tok, tb, td, b, D, PREC: tl.constexpr, RESIDUAL: tl.constexpr,
              RESETS: tl.constexpr, AFTER: tl.constexpr):
    """d = 2 (M_W(K) - V) at the chunk's entering weights; after a document start in the chunk, the reset
    keys' delta ``rd`` instead. Also the chunk's reset share, flags and end share (zeros without resets)."""
    out = _mm(K, W, PREC)
    if RESIDUAL:
        out += K
    d = 2.0 * (out - V)
    Rv = tl.zeros_like(tb).to(tl.float32)
    aft = tb < 0
    r_end = 0.0
    if RESETS:
        Rv, aft, r_end = _chunk_resets(R, after, tok, tb, b, AFTER)
        if AFTER:
            d = tl.where(aft[:, None], _load(rd + tok * D, tb, td, b, D), d)
    return d, Rv, aft, r_end


@triton.jit
def _forward_depth1(q, k, v, qk, A, Bm, C, s, e, R, after, W_in, S_in, W0_in, rd,
                    y, loss, W_out, S_out, W_all, S_all,
                    N, b, D,
                    BB: tl.constexpr, BD: tl.constexpr, RESIDUAL: tl.constexpr, RESETS: tl.constexpr,
                    AFTER: tl.constexpr, SAVE: tl.constexpr, PREC: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    tb, td = tl.arange(0, BB), tl.arange(0, BD)
    W = _load(W_in + row * D * D, td, td, D, D)
    S = _load(S_in + row * D * D, td, td, D, D)
    if RESETS:
        W0 = _load(W0_in + row * D * D, td, td, D, D)
    for n in range(0, N):
        if SAVE:
            _store(W_all + (row * N + n) * D * D, W, td, td, D, D)
            _store(S_all + (row * N + n) * D * D, S, td, td, D, D)
        tok, Q, K, V, QK, Cm, Av, Bv, sv, c_end, a_end, bm_end, e_n = _chunk_inputs(
            q, k, v, qk, A, Bm, C, s, e, row, n, N, b, D, tb, td)
        d, Rv, aft, r_end = _key_pass(K, V, W, R, after, rd, tok, tb, td, b, D, PREC, RESIDUAL, RESETS, AFTER)
        tl.store(loss + tok + tb, 0.25 * tl.sum(d * d, axis=1), mask=tb < b)
        Y = Av[:, None] * _mm(Q, W, PREC) + Bv[:, None] * _mm(Q, S, PREC) - _mm(QK, d, PREC)
        if RESIDUAL:
            Y += Q
        W_next = a_end * W + bm_end * S - _mm(tl.trans(K), c_end[:, None] * d, PREC)
        if RESETS:
            Y += Rv[:, None] * _mm(Q, W0, PREC)
            W_next += r_end * W0
        _store(y + tok * D, Y, tb, td, b, D)
        S = e_n * S - _mm(tl.trans(K), sv[:, None] * d, PREC)
        W = W_next
    _store(W_out + row * D * D, W, td, td, D, D)
    _store(S_out + row * D * D, S, td, td, D, D)


@triton.jit
def _backward_depth1(q, k, v, qk, A, Bm, C, s, e, R, after, W_all, S_all, W0_in, rd, dy, gW_in, gS_in,
                     dq, dk, dv, dqk, dA, dBm, dC, ds, de, dR, dW_out, dS_out, dW0_out, d_rd,
                     N, b, D,
                     BB: tl.constexpr, BD: tl.constexpr, RESIDUAL: tl.constexpr, RESETS: tl.constexpr,
                     AFTER: tl.constexpr, PREC: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    tb, td = tl.arange(0, BB), tl.arange(0, BD)
    gW = _load(gW_in + row * D * D, td, td, D, D)  # the gradients of the state leaving the chunk
    gS = _load(gS_in + row * D * D, td, td, D, D)
    if RESETS:
        W0 = _load(W0_in + row * D * D, td, td, D, D)
        dW0 = tl.zeros((BD, BD), dtype=tl.float32)
    for i in range(0, N):
        n = N - 1 - i
        W = _load(W_all + (row * N + n) * D * D, td, td, D, D)
        S = _load(S_all + (row * N + n) * D * D, td, td, D, D)
        tok, Q, K, V, QK, Cm, Av, Bv, sv, c_end, a_end, bm_end, e_n = _chunk_inputs(
            q, k, v, qk, A, Bm, C, s, e, row, n, N, b, D, tb, td)
        dY = _load(dy + tok * D, tb, td, b, D)
        d, Rv, aft, r_end = _key_pass(K, V, W, R, after, rd, tok, tb, td, b, D, PREC, RESIDUAL, RESETS, AFTER)

        # chunk end: W' = a W + bm S - K^T (c * d) [+ r W0],  S' = e S - K^T (s * d)
        dW = a_end * gW
        dS = e_n * gS + bm_end * gW
        dA_end = _total(gW * W)
        dBm_end = _total(gW * S)
        tl.store(de + row * N + n, _total(gS * S))
        k_gW, k_gS = _mm(K, gW, PREC), _mm(K, gS, PREC)
        dd = -(c_end[:, None] * k_gW + sv[:, None] * k_gS)
        dC_end = -_rowdot(d, k_gW)
        tl.store(ds + tok + tb, -_rowdot(d, k_gS), mask=tb < b)
        dK = -(_mm(c_end[:, None] * d, tl.trans(gW), PREC) + _mm(sv[:, None] * d, tl.trans(gS), PREC))

        # read: y = A*(Q W) + Bm*(Q S) - qk d (+ Q) [+ R*(Q W0)]
        via_W, via_S = _mm(dY, tl.trans(W), PREC), _mm(dY, tl.trans(S), PREC)
        dQ = Av[:, None] * via_W + Bv[:, None] * via_S
        if RESIDUAL:
            dQ += dY
        dAv = _rowdot(via_W, Q) + _last(tb, b, dA_end)
        dBv = _rowdot(via_S, Q) + _last(tb, b, dBm_end)
        dW += _mm(tl.trans(Q), Av[:, None] * dY, PREC)
        dS += _mm(tl.trans(Q), Bv[:, None] * dY, PREC)
        _store(dqk + tok * b, -_mm(dY, tl.trans(d), PREC), tb, tb, b, b)
        dd -= _mm(tl.trans(QK), dY, PREC)
        if RESETS:
            via_W0 = _mm(dY, tl.trans(W0), PREC)
            dQ += Rv[:, None] * via_W0
            tl.store(dR + tok + tb, _rowdot(via_W0, Q) + _last(tb, b, _total(gW * W0)), mask=tb < b)
            dW0 += r_end * gW + _mm(tl.trans(Q), Rv[:, None] * dY, PREC)
        if AFTER:  # tokens after a document start took d from the reset weights' key pass
            _store(d_rd + tok * D, tl.where(aft[:, None], dd, 0.0), tb, td, b, D)
            dd = tl.where(aft[:, None], 0.0, dd)

        # key pass: d = 2 (K W (+ K) - V)
        dout = 2.0 * dd
        dW += _mm(tl.trans(K), dout, PREC)
        dK += _mm(dout, tl.trans(W), PREC)
        if RESIDUAL:
            dK += dout

        _store_token_grads(dq, dk, dv, dA, dBm, tok, dQ, dK, dout, dAv, dBv, tb, td, b, D)
        _store(dC + tok * b, _last(tb[:, None], b, dC_end[None, :]), tb, tb, b, b)
        gW, gS = dW, dS
    _store(dW_out + row * D * D, gW, td, td, D, D)
    _store(dS_out + row * D * D, gS, td, td, D, D)
    if RESETS:
        _store(dW0_out + row * D * D, dW0, td, td, D, D)
