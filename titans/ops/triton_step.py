"""Triton kernels for the memory op's chunk walk (depth 1 and 2): the design, and their shared pieces.

The kernels themselves are in ``triton_depth1`` and ``triton_depth2``; ``triton_walk`` launches them.

One program per (batch x head) row walks all the chunks of its row: the memory's weights W and
momentum S (and, backwards, their gradients) stay in the program as loop-carried tiles, every matmul
is a ``tl.dot`` with float32 accumulation, and the elementwise work (activation and its derivatives,
the gate coefficients, momentum, decay) sits between the dots. The op hands the walk float32 whatever
its caller passed (``inputs.prepare_inputs``); a bf16 / fp16 caller's dots run in TF32 on a GPU
(``triton_walk.dot_precision``), a float32 caller's as torch's own float32 matmuls would.

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
Masks reach the walk only through these coefficients, so they need nothing here. Document resets
and forgetting towards W0 (``RESETS``) add the reset weights W0 with their share R (``u += R*(Q W0_1)``,
``W_l' += r W0_l``); document resets (``AFTER``) also take h1, d1, d2 of the tokens after a document start
from the reset weights' key pass, computed in autograd outside like the coefficients (``chunk_step``'s
bracketed terms).

The forward stores each chunk's entering W and S (with ``SAVE``) and nothing else; the backward walks
the chunks in reverse, recomputes the chunk's activations from them and applies
``chunk_step.backward_step``'s chain rule with the gradients of the next chunk's state carried in the
program. Differences from the PyTorch walk: no flush of tiny state to zero (a CPU subnormal-speed
measure that moves nothing by more than 2.3e-13), and the fp32 dots follow ``PREC`` ("ieee", or
"tf32" when the caller allows TF32 like torch's own CUDA matmuls).

Block sizes are powers of two of at least 16 (``tl.dot``'s minimum on GPUs); rows and columns past
b, D or Dh load as zeros and stay zero (act(0) = 0), and are never stored. One program holds the
whole chunk and the whole state of its row, so its shared memory and registers grow with D x Dh:
``triton_walk`` sends "auto" calls only at sizes measured to fit (D = 32 with expansion 4 on an
H100); tiling the hidden width is the next step, for wider memories and for speed.
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
def _chunk_resets(R, after, tok, tb, b, AFTER: tl.constexpr):
    """The reset weights' share R per token, whether a token follows a document start in the chunk
    (none without ``AFTER``), and R's last entry."""
    aft = tb < 0
    if AFTER:
        aft = _load_vec(after + tok, tb, b) != 0.0
    return _load_vec(R + tok, tb, b), aft, tl.load(R + tok + b - 1).to(tl.float32)


@triton.jit
def _last(idx, b, value):
    """``value`` at position b - 1 of a chunk-length vector (or row of a matrix), zero elsewhere."""
    return tl.where(idx == b - 1, value, 0.0)


@triton.jit
def _store_token_grads(dq, dk, dv, dA, dBm, tok, dQ, dK, dout, dAv, dBv, tb, td, b, D):
    """The chunk's per-token input gradients (q, k, v = -dout, A, Bm), shared by both depths."""
    _store(dq + tok * D, dQ, tb, td, b, D)
    _store(dk + tok * D, dK, tb, td, b, D)
    _store(dv + tok * D, -dout, tb, td, b, D)
    tl.store(dA + tok + tb, dAv, mask=tb < b)
    tl.store(dBm + tok + tb, dBv, mask=tb < b)
