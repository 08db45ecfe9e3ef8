"""Triton kernels for the memory op's chunk walk: forward and backward, depth 1 and 2.

One program per (batch x head) row walks all the chunks of its row: the memory's weights W and
momentum S (and, backwards, their gradients) stay in the program as loop-carried tiles, every matmul
is a ``tl.dot`` with float32 accumulation, and the elementwise work (activation and its derivatives,
the gate coefficients, momentum, decay) sits between the dots. Loads upcast to float32, so bf16, fp16
and fp32 inputs all work; the walk itself is float32.

What a chunk computes is ``chunk_step.forward_step`` line for line (SPEC §1, "Exact chunk-parallel
form"), for a chunk of b tokens with entering weights ``W_l`` and momentum ``S_l``:

    key pass  z = K W1, h1 = act(z), out = h1 W2 (+ K)           M_{W_{t'}}(k_t), all tokens at once
              d2 = 2 (out - V), d1 = (d2 W2^T) * act'(z)         Eq. 12's gradient at W_{t'}: g_t = [k^T d1, h1^T d2]
    read      u = A*(Q W1) + Bm*(Q S1) - qk d1,  x1 = act(u)     Eq. 15 with the per-token weights of
              y = A*(x1 W2) + Bm*(x1 S2) - (C * x1 h1^T) d2 (+ Q)  Eqs. 13-14 unrolled, never materialised
    chunk end W_l' = a W_l + bm S_l - h_l^T (c * d_l),  S_l' = e S_l - h_l^T (s * d_l)

with ``A_t = prod (1 - alpha)`` (Eq. 13's forgetting), ``Bm_t`` the share of the entering momentum
and ``C[t, s]`` the weight of token s's gradient in ``W_t`` (Eq. 14's surprise with momentum eta and
step theta), ``a, bm, c`` their last rows, ``s`` the momentum row and ``e`` the chunk's momentum decay
(all from ``gates.chunk_coefficients``, in autograd outside the kernels); ``qk = C * (Q K^T)`` comes
in precomputed. Depth 1 is the same with ``out = K W (+ K)`` and ``y = A*(Q W) + Bm*(Q S) - qk d``.
Masks reach the walk only through these coefficients, so they need nothing here.

The forward stores each chunk's entering W and S (with ``SAVE``) and nothing else; the backward walks
the chunks in reverse, recomputes the chunk's activations from them and applies
``chunk_step.backward_step``'s chain rule with the gradients of the next chunk's state carried in the
program. Differences from the PyTorch walk: no flush of tiny state to zero (a CPU subnormal-speed
measure that moves nothing by more than 2.3e-13), and the fp32 dots follow ``PREC`` ("ieee", or
"tf32" when the caller allows TF32 like torch's own CUDA matmuls).

Block sizes are powers of two of at least 16 (``tl.dot``'s minimum on GPUs); rows and columns past
b, D or Dh load as zeros and stay zero (act(0) = 0), and are never stored. One program holds the
whole chunk and the whole state of its row, so large widths (D = 128 with expansion 4) spill
registers: tiling the hidden width is the next step for speed.
"""

from __future__ import annotations

import triton
import triton.language as tl

_INV_SQRT2 = tl.constexpr(0.7071067811865476)
_INV_SQRT_2PI = tl.constexpr(0.3989422804014327)


@triton.jit
def _act(z, GELU: tl.constexpr):
    """Exact (erf) GELU or SiLU."""
    if GELU:
        return 0.5 * z * (1.0 + tl.math.erf(z * _INV_SQRT2))
    return z * tl.sigmoid(z)


@triton.jit
def _act_d1(z, GELU: tl.constexpr):
    """act'(z)."""
    if GELU:
        return 0.5 * (1.0 + tl.math.erf(z * _INV_SQRT2)) + z * tl.exp(-0.5 * z * z) * _INV_SQRT_2PI
    sig = tl.sigmoid(z)
    return sig * (1.0 + z * (1.0 - sig))


@triton.jit
def _act_d2(z, GELU: tl.constexpr):
    """act''(z)."""
    if GELU:
        return tl.exp(-0.5 * z * z) * _INV_SQRT_2PI * (2.0 - z * z)
    sig = tl.sigmoid(z)
    return sig * (1.0 - sig) * (2.0 + z * (1.0 - 2.0 * sig))


@triton.jit
def _load(ptr, rows, cols, n_rows, n_cols):
    """A row-major ``[n_rows, n_cols]`` matrix at ptr as a zero-padded float32 tile."""
    mask = (rows[:, None] < n_rows) & (cols[None, :] < n_cols)
    return tl.load(ptr + rows[:, None] * n_cols + cols[None, :], mask=mask, other=0.0).to(tl.float32)


@triton.jit
def _store(ptr, value, rows, cols, n_rows, n_cols):
    mask = (rows[:, None] < n_rows) & (cols[None, :] < n_cols)
    tl.store(ptr + rows[:, None] * n_cols + cols[None, :], value, mask=mask)


@triton.jit
def _load_vec(ptr, idx, n):
    return tl.load(ptr + idx, mask=idx < n, other=0.0).to(tl.float32)


@triton.jit
def _mm(a, b, PREC: tl.constexpr):
    return tl.dot(a, b, input_precision=PREC)


@triton.jit
def _rowdot(a, b):
    return tl.sum(a * b, axis=1)


@triton.jit
def _total(a):
    return tl.sum(tl.sum(a, axis=1), axis=0)


@triton.jit
def _chunk_inputs(q, k, v, qk, A, Bm, C, s, e, row, n, N, b, D, tb, td):
    """One chunk's tokens and coefficients; the chunk-end scalars a, bm, e and row c = C[b-1, :]."""
    tok = (row * N + n) * b  # the chunk's first token, counting rows x chunks x b
    Q = _load(q + tok * D, tb, td, b, D)
    K = _load(k + tok * D, tb, td, b, D)
    V = _load(v + tok * D, tb, td, b, D)
    QK = _load(qk + tok * b, tb, tb, b, b)
    Cm = _load(C + tok * b, tb, tb, b, b)
    Av = _load_vec(A + tok, tb, b)
    Bv = _load_vec(Bm + tok, tb, b)
    sv = _load_vec(s + tok, tb, b)
    c_end = _load_vec(C + tok * b + (b - 1) * b, tb, b)
    a_end = tl.load(A + tok + b - 1).to(tl.float32)
    bm_end = tl.load(Bm + tok + b - 1).to(tl.float32)
    e_n = tl.load(e + row * N + n).to(tl.float32)
    return tok, Q, K, V, QK, Cm, Av, Bv, sv, c_end, a_end, bm_end, e_n


@triton.jit
def _last(idx, b, value):
    """``value`` at position b - 1 of a chunk-length vector (or row of a matrix), zero elsewhere."""
    return tl.where(idx == b - 1, value, 0.0)


# ---------------------------------------------------------------------------------------------- depth 1


@triton.jit
def _forward_depth1(q, k, v, qk, A, Bm, C, s, e, W_in, S_in,
                    y, loss, W_out, S_out, W_all, S_all,
                    N, b, D,
                    BB: tl.constexpr, BD: tl.constexpr, RESIDUAL: tl.constexpr, SAVE: tl.constexpr,
                    PREC: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    tb, td = tl.arange(0, BB), tl.arange(0, BD)
    W = _load(W_in + row * D * D, td, td, D, D)
    S = _load(S_in + row * D * D, td, td, D, D)
    for n in range(0, N):
        if SAVE:
            _store(W_all + (row * N + n) * D * D, W, td, td, D, D)
            _store(S_all + (row * N + n) * D * D, S, td, td, D, D)
        tok, Q, K, V, QK, Cm, Av, Bv, sv, c_end, a_end, bm_end, e_n = _chunk_inputs(
            q, k, v, qk, A, Bm, C, s, e, row, n, N, b, D, tb, td)
        out = _mm(K, W, PREC)
        if RESIDUAL:
            out += K
        d = 2.0 * (out - V)
        tl.store(loss + tok + tb, 0.25 * tl.sum(d * d, axis=1), mask=tb < b)
        Y = Av[:, None] * _mm(Q, W, PREC) + Bv[:, None] * _mm(Q, S, PREC) - _mm(QK, d, PREC)
        if RESIDUAL:
            Y += Q
        _store(y + tok * D, Y, tb, td, b, D)
        W_next = a_end * W + bm_end * S - _mm(tl.trans(K), c_end[:, None] * d, PREC)
        S = e_n * S - _mm(tl.trans(K), sv[:, None] * d, PREC)
        W = W_next
    _store(W_out + row * D * D, W, td, td, D, D)
    _store(S_out + row * D * D, S, td, td, D, D)


@triton.jit
def _backward_depth1(q, k, v, qk, A, Bm, C, s, e, W_all, S_all, dy, gW_in, gS_in,
                     dq, dk, dv, dqk, dA, dBm, dC, ds, de, dW_out, dS_out,
                     N, b, D,
                     BB: tl.constexpr, BD: tl.constexpr, RESIDUAL: tl.constexpr, PREC: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    tb, td = tl.arange(0, BB), tl.arange(0, BD)
    gW = _load(gW_in + row * D * D, td, td, D, D)  # the gradients of the state leaving the chunk
    gS = _load(gS_in + row * D * D, td, td, D, D)
    for i in range(0, N):
        n = N - 1 - i
        W = _load(W_all + (row * N + n) * D * D, td, td, D, D)
        S = _load(S_all + (row * N + n) * D * D, td, td, D, D)
        tok, Q, K, V, QK, Cm, Av, Bv, sv, c_end, a_end, bm_end, e_n = _chunk_inputs(
            q, k, v, qk, A, Bm, C, s, e, row, n, N, b, D, tb, td)
        dY = _load(dy + tok * D, tb, td, b, D)
        out = _mm(K, W, PREC)
        if RESIDUAL:
            out += K
        d = 2.0 * (out - V)

        # chunk end: W' = a W + bm S - K^T (c * d),  S' = e S - K^T (s * d)
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

        # read: y = A*(Q W) + Bm*(Q S) - qk d (+ Q)
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

        # key pass: d = 2 (K W (+ K) - V)
        dout = 2.0 * dd
        dW += _mm(tl.trans(K), dout, PREC)
        dK += _mm(dout, tl.trans(W), PREC)
        if RESIDUAL:
            dK += dout

        _store(dq + tok * D, dQ, tb, td, b, D)
        _store(dk + tok * D, dK, tb, td, b, D)
        _store(dv + tok * D, -dout, tb, td, b, D)
        tl.store(dA + tok + tb, dAv, mask=tb < b)
        tl.store(dBm + tok + tb, dBv, mask=tb < b)
        _store(dC + tok * b, _last(tb[:, None], b, dC_end[None, :]), tb, tb, b, b)
        gW, gS = dW, dS
    _store(dW_out + row * D * D, gW, td, td, D, D)
    _store(dS_out + row * D * D, gS, td, td, D, D)


# ---------------------------------------------------------------------------------------------- depth 2


@triton.jit
def _forward_depth2(q, k, v, qk, A, Bm, C, s, e, W1_in, W2_in, S1_in, S2_in,
                    y, loss, W1_out, W2_out, S1_out, S2_out, W1_all, W2_all, S1_all, S2_all,
                    N, b, D, Dh,
                    BB: tl.constexpr, BD: tl.constexpr, BH: tl.constexpr, GELU: tl.constexpr,
                    RESIDUAL: tl.constexpr, SAVE: tl.constexpr, PREC: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    tb, td, th = tl.arange(0, BB), tl.arange(0, BD), tl.arange(0, BH)
    size = D * Dh
    W1 = _load(W1_in + row * size, td, th, D, Dh)
    W2 = _load(W2_in + row * size, th, td, Dh, D)
    S1 = _load(S1_in + row * size, td, th, D, Dh)
    S2 = _load(S2_in + row * size, th, td, Dh, D)
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
        tl.store(loss + tok + tb, 0.25 * tl.sum(d2 * d2, axis=1), mask=tb < b)
        # read with every token's own weights
        u = Av[:, None] * _mm(Q, W1, PREC) + Bv[:, None] * _mm(Q, S1, PREC) - _mm(QK, d1, PREC)
        x1 = _act(u, GELU)
        P1 = Cm * _mm(x1, tl.trans(h1), PREC)
        Y = Av[:, None] * _mm(x1, W2, PREC) + Bv[:, None] * _mm(x1, S2, PREC) - _mm(P1, d2, PREC)
        if RESIDUAL:
            Y += Q
        _store(y + tok * D, Y, tb, td, b, D)
        # the state leaving the chunk
        W1_next = a_end * W1 + bm_end * S1 - _mm(tl.trans(K), c_end[:, None] * d1, PREC)
        W2_next = a_end * W2 + bm_end * S2 - _mm(tl.trans(h1), c_end[:, None] * d2, PREC)
        S1 = e_n * S1 - _mm(tl.trans(K), sv[:, None] * d1, PREC)
        S2 = e_n * S2 - _mm(tl.trans(h1), sv[:, None] * d2, PREC)
        W1, W2 = W1_next, W2_next
    _store(W1_out + row * size, W1, td, th, D, Dh)
    _store(W2_out + row * size, W2, th, td, Dh, D)
    _store(S1_out + row * size, S1, td, th, D, Dh)
    _store(S2_out + row * size, S2, th, td, Dh, D)


@triton.jit
def _backward_depth2(q, k, v, qk, A, Bm, C, s, e, W1_all, W2_all, S1_all, S2_all, dy,
                     gW1_in, gW2_in, gS1_in, gS2_in,
                     dq, dk, dv, dqk, dA, dBm, dC, ds, de, dW1_out, dW2_out, dS1_out, dS2_out,
                     N, b, D, Dh,
                     BB: tl.constexpr, BD: tl.constexpr, BH: tl.constexpr, GELU: tl.constexpr,
                     RESIDUAL: tl.constexpr, PREC: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    tb, td, th = tl.arange(0, BB), tl.arange(0, BD), tl.arange(0, BH)
    size = D * Dh
    gW1 = _load(gW1_in + row * size, td, th, D, Dh)  # the gradients of the state leaving the chunk
    gW2 = _load(gW2_in + row * size, th, td, Dh, D)
    gS1 = _load(gS1_in + row * size, td, th, D, Dh)
    gS2 = _load(gS2_in + row * size, th, td, Dh, D)
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
        # the chunk's forward again
        z = _mm(K, W1, PREC)
        h1 = _act(z, GELU)
        act1 = _act_d1(z, GELU)
        out = _mm(h1, W2, PREC)
        if RESIDUAL:
            out += K
        d2 = 2.0 * (out - V)
        back = _mm(d2, tl.trans(W2), PREC)
        d1 = back * act1
        u = Av[:, None] * _mm(Q, W1, PREC) + Bv[:, None] * _mm(Q, S1, PREC) - _mm(QK, d1, PREC)
        x1 = _act(u, GELU)
        G = _mm(x1, tl.trans(h1), PREC)

        # chunk end: W_l' = a W_l + bm S_l - h_l^T (c * d_l),  S_l' = e S_l - h_l^T (s * d_l)
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

        # read, second layer: y = A*(x1 W2) + Bm*(x1 S2) - (C * G) d2 (+ Q),  G = x1 h1^T
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
        # read, first layer: u = A*(Q W1) + Bm*(Q S1) - qk d1
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

        # key pass: d1 = (d2 W2^T) * act'(z),  d2 = 2 (act(K W1) W2 (+ K) - V)
        g = dd1 * act1
        dd2 += _mm(g, W2, PREC)
        dW2 += _mm(tl.trans(g), d2, PREC)
        dz = back * dd1 * _act_d2(z, GELU)
        dout = 2.0 * dd2
        dW2 += _mm(tl.trans(h1), dout, PREC)
        dh1 += _mm(dout, tl.trans(W2), PREC)
        dz += dh1 * act1
        dW1 += _mm(tl.trans(K), dz, PREC)
        dK += _mm(dz, tl.trans(W1), PREC)
        if RESIDUAL:
            dK += dout

        _store(dq + tok * D, dQ, tb, td, b, D)
        _store(dk + tok * D, dK, tb, td, b, D)
        _store(dv + tok * D, -dout, tb, td, b, D)
        tl.store(dA + tok + tb, dAv, mask=tb < b)
        tl.store(dBm + tok + tb, dBv, mask=tb < b)
        _store(dC + tok * b, dCm, tb, tb, b, b)
        gW1, gW2, gS1, gS2 = dW1, dW2, dS1, dS2
    _store(dW1_out + row * size, gW1, td, th, D, Dh)
    _store(dW2_out + row * size, gW2, th, td, Dh, D)
    _store(dS1_out + row * size, gS1, td, th, D, Dh)
    _store(dS2_out + row * size, gS2, th, td, Dh, D)
