"""Triton walk of a depth-2 memory, ``M(x) = act(x W1) W2 (+ x)``: forward and backward kernels.

The mapping to SPEC §1 and the paper is in ``triton_step``; the lines below are
``chunk_step.forward_step`` / ``backward_step`` for two layers. With ``RESETS`` the reset weights W0
enter with share R: ``u += R*(Q W0_1)``, ``y += R*(x1 W0_2)``, ``W_l' += r W0_l``; with ``AFTER`` (document
resets, not forgetting towards W0 alone) tokens after a document start in the chunk take h1, d1 and d2
from the reset weights' key pass (``rh1, rd1, rd2``, computed in autograd outside).
"""

from __future__ import annotations

import triton
import triton.language as tl

from .triton_step import (_act, _act_d1, _act_d2, _chunk_inputs, _chunk_resets, _last, _load, _mm, _rowdot, _store,
                          _store_token_grads, _total)


@triton.jit
def _forward_depth2(q, k, v, qk, A, Bm, C, s, e, R, after, W1_in, W2_in, S1_in, S2_in, W01_in, W02_in,
                    rh1, rd1, rd2,
                    y, loss, W1_out, W2_out, S1_out, S2_out, W1_all, W2_all, S1_all, S2_all,
                    N, b, D, Dh,
                    BB: tl.constexpr, BD: tl.constexpr, BH: tl.constexpr, GELU: tl.constexpr,
                    RESIDUAL: tl.constexpr, RESETS: tl.constexpr, AFTER: tl.constexpr,
                    SAVE: tl.constexpr, PREC: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    tb, td, th = tl.arange(0, BB), tl.arange(0, BD), tl.arange(0, BH)
    size = D * Dh
    W1 = _load(W1_in + row * size, td, th, D, Dh)
    W2 = _load(W2_in + row * size, th, td, Dh, D)
    S1 = _load(S1_in + row * size, td, th, D, Dh)
    S2 = _load(S2_in + row * size, th, td, Dh, D)
    if RESETS:
        W01 = _load(W01_in + row * size, td, th, D, Dh)
        W02 = _load(W02_in + row * size, th, td, Dh, D)
    for n in range(0, N):
        if SAVE:
            at = (row * N + n) * size
            _store(W1_all + at, W1, td, th, D, Dh)
            _store(W2_all + at, W2, th, td, Dh, D)
            _store(S1_all + at, S1, td, th, D, Dh)
            _store(S2_all + at, S2, th, td, Dh, D)
        tok, Q, K, V, QK, Cm, Av, Bv, sv, c_end, a_end, bm_end, e_n = _chunk_inputs(
            q, k, v, qk, A, Bm, C, s, e, row, n, N, b, D, tb, td)
        # key pass at the entering weights
        z = _mm(K, W1, PREC)
        h1 = _act(z, GELU)
        out = _mm(h1, W2, PREC)
        if RESIDUAL:
            out += K
        d2 = 2.0 * (out - V)
        d1 = _mm(d2, tl.trans(W2), PREC) * _act_d1(z, GELU)
        if RESETS:
            Rv, aft, r_end = _chunk_resets(R, after, tok, tb, b, AFTER)
        if AFTER:
            h1 = tl.where(aft[:, None], _load(rh1 + tok * Dh, tb, th, b, Dh), h1)
            d1 = tl.where(aft[:, None], _load(rd1 + tok * Dh, tb, th, b, Dh), d1)
            d2 = tl.where(aft[:, None], _load(rd2 + tok * D, tb, td, b, D), d2)
        tl.store(loss + tok + tb, 0.25 * tl.sum(d2 * d2, axis=1), mask=tb < b)
        # read with every token's own weights
        u = Av[:, None] * _mm(Q, W1, PREC) + Bv[:, None] * _mm(Q, S1, PREC) - _mm(QK, d1, PREC)
        if RESETS:
            u += Rv[:, None] * _mm(Q, W01, PREC)
        x1 = _act(u, GELU)
        P1 = Cm * _mm(x1, tl.trans(h1), PREC)
        Y = Av[:, None] * _mm(x1, W2, PREC) + Bv[:, None] * _mm(x1, S2, PREC) - _mm(P1, d2, PREC)
        if RESIDUAL:
            Y += Q
        # the state leaving the chunk
        W1_next = a_end * W1 + bm_end * S1 - _mm(tl.trans(K), c_end[:, None] * d1, PREC)
        W2_next = a_end * W2 + bm_end * S2 - _mm(tl.trans(h1), c_end[:, None] * d2, PREC)
        if RESETS:
            Y += Rv[:, None] * _mm(x1, W02, PREC)
            W1_next += r_end * W01
            W2_next += r_end * W02
        _store(y + tok * D, Y, tb, td, b, D)
        S1 = e_n * S1 - _mm(tl.trans(K), sv[:, None] * d1, PREC)
        S2 = e_n * S2 - _mm(tl.trans(h1), sv[:, None] * d2, PREC)
        W1, W2 = W1_next, W2_next
    _store(W1_out + row * size, W1, td, th, D, Dh)
    _store(W2_out + row * size, W2, th, td, Dh, D)
    _store(S1_out + row * size, S1, td, th, D, Dh)
    _store(S2_out + row * size, S2, th, td, Dh, D)


@triton.jit
def _backward_depth2(q, k, v, qk, A, Bm, C, s, e, R, after, W1_all, W2_all, S1_all, S2_all, W01_in, W02_in,
                     rh1, rd1, rd2, dy, gW1_in, gW2_in, gS1_in, gS2_in,
                     dq, dk, dv, dqk, dA, dBm, dC, ds, de, dR, dW1_out, dW2_out, dS1_out, dS2_out,
                     dW01_out, dW02_out, d_rh1, d_rd1, d_rd2,
                     N, b, D, Dh,
                     BB: tl.constexpr, BD: tl.constexpr, BH: tl.constexpr, GELU: tl.constexpr,
                     RESIDUAL: tl.constexpr, RESETS: tl.constexpr, AFTER: tl.constexpr,
                     PREC: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    tb, td, th = tl.arange(0, BB), tl.arange(0, BD), tl.arange(0, BH)
    size = D * Dh
    gW1 = _load(gW1_in + row * size, td, th, D, Dh)  # the gradients of the state leaving the chunk
    gW2 = _load(gW2_in + row * size, th, td, Dh, D)
    gS1 = _load(gS1_in + row * size, td, th, D, Dh)
    gS2 = _load(gS2_in + row * size, th, td, Dh, D)
    if RESETS:
        W01 = _load(W01_in + row * size, td, th, D, Dh)
        W02 = _load(W02_in + row * size, th, td, Dh, D)
        dW01 = tl.zeros((BD, BH), dtype=tl.float32)
        dW02 = tl.zeros((BH, BD), dtype=tl.float32)
    for i in range(0, N):
        n = N - 1 - i
        at = (row * N + n) * size
        W1 = _load(W1_all + at, td, th, D, Dh)
        W2 = _load(W2_all + at, th, td, Dh, D)
        S1 = _load(S1_all + at, td, th, D, Dh)
        S2 = _load(S2_all + at, th, td, Dh, D)
        tok, Q, K, V, QK, Cm, Av, Bv, sv, c_end, a_end, bm_end, e_n = _chunk_inputs(
            q, k, v, qk, A, Bm, C, s, e, row, n, N, b, D, tb, td)
        dY = _load(dy + tok * D, tb, td, b, D)
        # the chunk's forward again: the key pass at the entering weights (own: hk, dk1, dk2) ...
        z = _mm(K, W1, PREC)
        hk = _act(z, GELU)
        act1 = _act_d1(z, GELU)
        out = _mm(hk, W2, PREC)
        if RESIDUAL:
            out += K
        dk2 = 2.0 * (out - V)
        back = _mm(dk2, tl.trans(W2), PREC)
        h1, d1, d2 = hk, back * act1, dk2
        # ... or the reset weights' after a document start, and the read
        if RESETS:
            Rv, aft, r_end = _chunk_resets(R, after, tok, tb, b, AFTER)
        if AFTER:
            h1 = tl.where(aft[:, None], _load(rh1 + tok * Dh, tb, th, b, Dh), h1)
            d1 = tl.where(aft[:, None], _load(rd1 + tok * Dh, tb, th, b, Dh), d1)
            d2 = tl.where(aft[:, None], _load(rd2 + tok * D, tb, td, b, D), d2)
        u = Av[:, None] * _mm(Q, W1, PREC) + Bv[:, None] * _mm(Q, S1, PREC) - _mm(QK, d1, PREC)
        if RESETS:
            u += Rv[:, None] * _mm(Q, W01, PREC)
        x1 = _act(u, GELU)
        G = _mm(x1, tl.trans(h1), PREC)

        # chunk end: W_l' = a W_l + bm S_l - h_l^T (c * d_l) [+ r W0_l],  S_l' = e S_l - h_l^T (s * d_l)
        dW1, dW2 = a_end * gW1, a_end * gW2
        dS1, dS2 = e_n * gS1 + bm_end * gW1, e_n * gS2 + bm_end * gW2
        dA_end = _total(gW1 * W1) + _total(gW2 * W2)
        dBm_end = _total(gW1 * S1) + _total(gW2 * S2)
        tl.store(de + row * N + n, _total(gS1 * S1) + _total(gS2 * S2))
        k_gW, k_gS = _mm(K, gW1, PREC), _mm(K, gS1, PREC)  # [b, Dh]
        h_gW, h_gS = _mm(h1, gW2, PREC), _mm(h1, gS2, PREC)  # [b, D]
        dd1 = -(c_end[:, None] * k_gW + sv[:, None] * k_gS)
        dd2 = -(c_end[:, None] * h_gW + sv[:, None] * h_gS)
        dC_end = -_rowdot(d1, k_gW) - _rowdot(d2, h_gW)
        tl.store(ds + tok + tb, -_rowdot(d1, k_gS) - _rowdot(d2, h_gS), mask=tb < b)
        dK = -(_mm(c_end[:, None] * d1, tl.trans(gW1), PREC) + _mm(sv[:, None] * d1, tl.trans(gS1), PREC))
        dh1 = -(_mm(c_end[:, None] * d2, tl.trans(gW2), PREC) + _mm(sv[:, None] * d2, tl.trans(gS2), PREC))

        # read, second layer: y = A*(x1 W2) + Bm*(x1 S2) - (C * G) d2 (+ Q) [+ R*(x1 W0_2)],  G = x1 h1^T
        via_W, via_S = _mm(dY, tl.trans(W2), PREC), _mm(dY, tl.trans(S2), PREC)  # [b, Dh]
        dx1 = Av[:, None] * via_W + Bv[:, None] * via_S
        dAv = _rowdot(via_W, x1) + _last(tb, b, dA_end)
        dBv = _rowdot(via_S, x1) + _last(tb, b, dBm_end)
        dW2 += _mm(tl.trans(x1), Av[:, None] * dY, PREC)
        dS2 += _mm(tl.trans(x1), Bv[:, None] * dY, PREC)
        dP = _mm(dY, tl.trans(d2), PREC)  # minus the gradient of C * G
        dd2 -= _mm(tl.trans(Cm * G), dY, PREC)
        dCm = _last(tb[:, None], b, dC_end[None, :]) - dP * G
        dG = -(dP * Cm)
        dx1 += _mm(dG, h1, PREC)
        dh1 += _mm(tl.trans(dG), x1, PREC)
        if RESETS:
            via_W0 = _mm(dY, tl.trans(W02), PREC)
            dx1 += Rv[:, None] * via_W0
            dRv = _rowdot(via_W0, x1) + _last(tb, b, _total(gW1 * W01) + _total(gW2 * W02))
            dW01 += r_end * gW1
            dW02 += r_end * gW2 + _mm(tl.trans(x1), Rv[:, None] * dY, PREC)
        # read, first layer: u = A*(Q W1) + Bm*(Q S1) - qk d1 [+ R*(Q W0_1)]
        du = dx1 * _act_d1(u, GELU)
        via_W, via_S = _mm(du, tl.trans(W1), PREC), _mm(du, tl.trans(S1), PREC)  # [b, D]
        dQ = Av[:, None] * via_W + Bv[:, None] * via_S
        if RESIDUAL:
            dQ += dY
        dAv += _rowdot(via_W, Q)
        dBv += _rowdot(via_S, Q)
        dW1 += _mm(tl.trans(Q), Av[:, None] * du, PREC)
        dS1 += _mm(tl.trans(Q), Bv[:, None] * du, PREC)
        _store(dqk + tok * b, -_mm(du, tl.trans(d1), PREC), tb, tb, b, b)
        dd1 -= _mm(tl.trans(QK), du, PREC)
        if RESETS:
            via_W0 = _mm(du, tl.trans(W01), PREC)
            dQ += Rv[:, None] * via_W0
            tl.store(dR + tok + tb, dRv + _rowdot(via_W0, Q), mask=tb < b)
            dW01 += _mm(tl.trans(Q), Rv[:, None] * du, PREC)
        if AFTER:  # tokens after a document start took h1, d1, d2 from the reset weights' key pass
            _store(d_rh1 + tok * Dh, tl.where(aft[:, None], dh1, 0.0), tb, th, b, Dh)
            _store(d_rd1 + tok * Dh, tl.where(aft[:, None], dd1, 0.0), tb, th, b, Dh)
            _store(d_rd2 + tok * D, tl.where(aft[:, None], dd2, 0.0), tb, td, b, D)
            dh1 = tl.where(aft[:, None], 0.0, dh1)
            dd1 = tl.where(aft[:, None], 0.0, dd1)
            dd2 = tl.where(aft[:, None], 0.0, dd2)

        # the own key pass: d1 = (d2 W2^T) * act'(z),  d2 = 2 (act(K W1) W2 (+ K) - V)
        g = dd1 * act1
        dd2 += _mm(g, W2, PREC)
        dW2 += _mm(tl.trans(g), dk2, PREC)
        dz = back * dd1 * _act_d2(z, GELU)
        dout = 2.0 * dd2
        dW2 += _mm(tl.trans(hk), dout, PREC)
        dh1 += _mm(dout, tl.trans(W2), PREC)
        dz += dh1 * act1
        dW1 += _mm(tl.trans(K), dz, PREC)
        dK += _mm(dz, tl.trans(W1), PREC)
        if RESIDUAL:
            dK += dout

        _store_token_grads(dq, dk, dv, dA, dBm, tok, dQ, dK, dout, dAv, dBv, tb, td, b, D)
        _store(dC + tok * b, dCm, tb, tb, b, b)
        gW1, gW2, gS1, gS2 = dW1, dW2, dS1, dS2
    _store(dW1_out + row * size, gW1, td, th, D, Dh)
    _store(dW2_out + row * size, gW2, th, td, Dh, D)
    _store(dS1_out + row * size, gS1, td, th, D, Dh)
    _store(dS2_out + row * size, gS2, th, td, Dh, D)
    if RESETS:
        _store(dW01_out + row * size, dW01, td, th, D, Dh)
        _store(dW02_out + row * size, dW02, th, td, Dh, D)
