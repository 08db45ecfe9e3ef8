"""The sequential part of the chunked memory op, with a hand-written backward pass.

Axes: B batch, H heads, N chunks, b chunk size, d_in / d_out the widths of one memory layer.

Per chunk (SPEC §1), with entering weights W_l and momentum S_l of layer l = 0..L-1:

    keys      h_0 = k, z_l = h_l W_l, h_{l+1} = act(z_l);  out = z_{L-1} (+ k)
              delta_{L-1} = 2 (out - v),  delta_l = (delta_{l+1} W_{l+1}^T) * act'(z_l)
    retrieval x_0 = q, u_l = A * (x_l W_l) + Bm * (x_l S_l) - P_l delta_l  [+ R * (x_l W0_l)],
              P_l = C * (x_l h_l^T),  x_{l+1} = act(u_l);  y = u_{L-1} (+ q)
    chunk end W'_l = a W_l + bm S_l - h_l^T (c * delta_l)  [+ r W0_l],   S'_l = e S_l - h_l^T (s * delta_l)

(``A, Bm, C`` from ``gates.chunk_coefficients``; ``a, bm, c`` their last rows, ``s`` the momentum row,
``e`` the momentum decay; the bracketed terms only with document resets, ``W0`` the reset weights.)
Autograd through these lines would keep every intermediate of every chunk; instead the forward runs
without a graph and keeps only the chunk-boundary weights and momentum plus per-token activations
(z, act'(z), h, delta, x, act'(u) and the b x b scores), and the backward walks the chunks in
reverse, applying the chain rule to the lines above by hand, with fused in-place matmul updates
(``baddbmm_``) on ``[B*H, ., .]`` views. Everything before (gate products, q k^T) and after stays in
autograd. Tokens after a document start inside their chunk take h and delta from ``reset_keys``
(gradients at the reset weights, computed for all chunks at once by the caller).
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from .mlp import activate_with_derivative, second_derivative


def key_pass(weights, k, v, activation, residual):
    """Layer inputs ``h``, pre-activations ``z``, slopes ``act'(z)`` and output gradients ``delta``
    of ||M_W(k) - v||^2; the weight gradient of token s at layer l is ``h[l]_s^T delta[l]_s``.

    Works under autograd too (the caller uses it for the reset weights, on 5-d tensors).
    """
    depth = len(weights)
    h, z, slopes = [k], [], []
    for layer, w in enumerate(weights):
        pre = h[-1] @ w
        if layer < depth - 1:
            post, slope = activate_with_derivative(pre, activation)
            z.append(pre)
            h.append(post)
            slopes.append(slope)
        else:
            out = pre + k if residual else pre
    deltas = [2.0 * (out - v)]  # d/d out of the summed squared error (Eq. 12)
    for layer in range(depth - 2, -1, -1):
        deltas.insert(0, (deltas[0] @ weights[layer + 1].mT) * slopes[layer])
    return h, z, slopes, deltas


def _rowdot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``sum_j a[..., j] * b[..., j]``."""
    return torch.linalg.vecdot(a, b)


def _matdot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``sum_ij a[..., i, j] * b[..., i, j]`` for ``[BH, i, j]``."""
    return torch.linalg.vecdot(a.flatten(1), b.flatten(1))


class ChunkedMemory(torch.autograd.Function):
    """``(y, inner_loss, *W_final, *S_final)`` from chunked inputs; see the module docstring.

    Positional inputs: q, k, v ``[B, H, N, b, D]``; qk_term ``[B, H, N, b, b]`` (= C * q k^T, the
    first layer's scores, built in autograd); A, Bm ``[B, H, N, b]``; C ``[B, H, N, b, b]``;
    s ``[B, H, N, b]``; e ``[B, H, N]``; R ``[B, H, N, b]`` or None; after ``[B, 1, N, b]`` bool or None;
    then ``depth`` weights, ``depth`` momenta ``[B, H, d_in, d_out]``, and with resets ``depth`` reset
    weights, ``depth`` reset-key inputs h and ``depth`` reset deltas (each ``[B, H, N, b, .]``).
    Inside, ``[B, H]`` is flattened to one batch axis so that the matmuls are ``bmm`` / ``baddbmm_``.
    """

    @staticmethod
    def forward(ctx, config, q, k, v, qk_term, A, Bm, C, s, e, R, after, *tensors):
        depth, activation, residual = config
        B, H, N, b, D = q.shape
        flat = lambda t: t.reshape(B * H, *t.shape[2:])  # noqa: E731
        q_, k_, v_, qk_, A_, Bm_, C_, s_, e_ = map(flat, (q, k, v, qk_term, A, Bm, C, s, e))
        W = [flat(t) for t in tensors[:depth]]
        S = [flat(t) for t in tensors[depth : 2 * depth]]
        has_reset = R is not None
        if has_reset:
            R_, after_ = flat(R), flat(after.expand(B, H, N, b)).unsqueeze(-1)
            W0 = [flat(t) for t in tensors[2 * depth : 3 * depth]]
            reset_h = [flat(t) for t in tensors[3 * depth : 4 * depth]]
            reset_d = [flat(t) for t in tensors[4 * depth : 5 * depth]]
        y = q_.new_empty(q_.shape)
        inner_loss = q_.new_empty(q_.shape[:-1])
        chunks = []
        for n in range(N):
            qn, kn, vn, C_n = q_[:, n], k_[:, n], v_[:, n], C_[:, n]
            A_n, Bm_n = A_[:, n, :, None], Bm_[:, n, :, None]  # [BH, b, 1]
            h, z, slopes, deltas = key_pass(W, kn, vn, activation, residual)
            if has_reset:
                after_n = after_[:, n]
                h = [kn] + [torch.where(after_n, r[:, n], own) for r, own in zip(reset_h[1:], h[1:])]
                deltas = [torch.where(after_n, r[:, n], own) for r, own in zip(reset_d, deltas)]
            inner_loss[:, n] = 0.25 * deltas[-1].square().sum(-1)  # ||M(k) - v||^2 where g was taken
            # retrieval through the closed form
            x, u_slopes, G = [qn], [], []
            for layer in range(depth):
                if layer == 0:
                    P = qk_[:, n]
                else:
                    G.append(torch.bmm(x[layer], h[layer].mT))
                    P = C_n * G[-1]
                pre = torch.bmm(A_n * x[layer], W[layer])
                pre.baddbmm_(Bm_n * x[layer], S[layer])
                pre.baddbmm_(P, deltas[layer], alpha=-1.0)
                if has_reset:
                    pre.baddbmm_(R_[:, n, :, None] * x[layer], W0[layer])
                if layer < depth - 1:
                    post, slope = activate_with_derivative(pre, activation)
                    x.append(post)
                    u_slopes.append(slope)
            y[:, n] = pre + qn if residual else pre
            chunks.append((W, S, h[1:], z, slopes, deltas, x[1:], u_slopes, G))
            # the chunk's last token: weights and momentum for the next chunk
            a, bm = A_[:, n, -1, None, None], Bm_[:, n, -1, None, None]
            c_end, s_n, e_n = C_n[:, -1, :, None], s_[:, n, :, None], e_[:, n, None, None]
            new_W, new_S = [], []
            for layer in range(depth):
                w_next = a * W[layer]
                w_next.addcmul_(bm, S[layer]).baddbmm_(h[layer].mT, c_end * deltas[layer], alpha=-1.0)
                if has_reset:
                    w_next.addcmul_(R_[:, n, -1, None, None], W0[layer])
                new_W.append(w_next)
                new_S.append((e_n * S[layer]).baddbmm_(h[layer].mT, s_n * deltas[layer], alpha=-1.0))
            W, S = new_W, new_S
        ctx.config = config
        ctx.chunks = chunks
        ctx.shape = (B, H)
        ctx.save_for_backward(q, k, v, qk_term, A, Bm, C, s, e, R, after, *tensors[2 * depth :])
        inner_loss = inner_loss.view(B, H, N, b)
        ctx.mark_non_differentiable(inner_loss)
        unflat = lambda t: t.view(B, H, *t.shape[1:])  # noqa: E731
        return (unflat(y), inner_loss, *map(unflat, W), *map(unflat, S))

    @staticmethod
    @once_differentiable
    def backward(ctx, dy, _d_inner_loss, *dstate):
        depth, activation, residual = ctx.config
        B, H = ctx.shape
        q, k, v, qk_term, A, Bm, C, s, e, R, after, *reset_inputs = ctx.saved_tensors
        N = q.shape[2]
        flat = lambda t: t.reshape(B * H, *t.shape[2:])  # noqa: E731
        q_, k_, v_, qk_, A_, Bm_, C_, s_, e_ = map(flat, (q, k, v, qk_term, A, Bm, C, s, e))
        has_reset = R is not None
        if has_reset:
            R_, after_ = flat(R), flat(after.expand(B, H, N, q.shape[3])).unsqueeze(-1)
            W0 = [flat(t) for t in reset_inputs[:depth]]
            dW0 = [torch.zeros_like(w) for w in W0]
            reset_dh = [torch.zeros_like(flat(t)) for t in reset_inputs[depth : 2 * depth]]
            reset_dd = [torch.zeros_like(flat(t)) for t in reset_inputs[2 * depth :]]
            dR_ = torch.zeros_like(R_)
        last_W, last_S = ctx.chunks[-1][0], ctx.chunks[-1][1]
        dW_next = [torch.zeros_like(w) if g is None else flat(g) for g, w in zip(dstate[:depth], last_W)]
        dS_next = [torch.zeros_like(w) if g is None else flat(g) for g, w in zip(dstate[depth:], last_S)]
        dy_ = torch.zeros_like(q_) if dy is None else flat(dy)
        dq_, dk_, dv_, dqk_ = (torch.empty_like(t) for t in (q_, k_, v_, qk_))
        dA_, dBm_, dC_ = torch.zeros_like(A_), torch.zeros_like(Bm_), torch.zeros_like(C_)
        ds_, de_ = torch.empty_like(s_), torch.empty_like(e_)

        for n in range(N - 1, -1, -1):
            W, S, h_rest, z, slopes, deltas, x_rest, u_slopes, G = ctx.chunks[n]
            qn, kn, vn, C_n = q_[:, n], k_[:, n], v_[:, n], C_[:, n]
            h, x = [kn, *h_rest], [qn, *x_rest]
            A_n, Bm_n = A_[:, n, :, None], Bm_[:, n, :, None]
            dA_n, dBm_n, dC_n = dA_[:, n], dBm_[:, n], dC_[:, n]  # views, accumulated in place

            # chunk end: W' = a W + bm S - h^T (c * delta) [+ r W0];  S' = e S - h^T (s * delta)
            a, bm = A_[:, n, -1, None, None], Bm_[:, n, -1, None, None]
            c_end, s_n, e_n = C_n[:, -1, :, None], s_[:, n, :, None], e_[:, n, None, None]
            dW, dS, dh, dd = [], [], [], []
            ds_n = torch.zeros_like(s_[:, n])
            de_n = torch.zeros_like(e_[:, n])
            for layer in range(depth):
                gW, gS = dW_next[layer], dS_next[layer]
                dW.append(a * gW)
                dS.append((e_n * gS).addcmul_(bm, gW))
                dA_n[:, -1] += _matdot(gW, W[layer])
                dBm_n[:, -1] += _matdot(gW, S[layer])
                de_n += _matdot(gS, S[layer])
                h_gW, h_gS = torch.bmm(h[layer], gW), torch.bmm(h[layer], gS)  # [BH, b, d_out]
                dd.append((c_end * h_gW).addcmul_(s_n, h_gS).neg_())
                dC_n[:, -1] -= _rowdot(deltas[layer], h_gW)
                ds_n -= _rowdot(deltas[layer], h_gS)
                dh_l = torch.bmm(c_end * deltas[layer], gW.mT)
                dh.append(dh_l.baddbmm_(s_n * deltas[layer], gS.mT).neg_())
                if has_reset:
                    dR_[:, n, -1] += _matdot(gW, W0[layer])
                    dW0[layer].addcmul_(R_[:, n, -1, None, None], gW)
            ds_[:, n], de_[:, n] = ds_n, de_n

            # retrieval, last layer first: u_l = A (x W) + Bm (x S) - P delta [+ R (x W0)]
            du = dy_[:, n]
            for layer in range(depth - 1, -1, -1):
                if layer < depth - 1:
                    du = dx * u_slopes[layer]
                via_W, via_S = torch.bmm(du, W[layer].mT), torch.bmm(du, S[layer].mT)
                dx = (A_n * via_W).addcmul_(Bm_n, via_S)
                dA_n += _rowdot(via_W, x[layer])
                dBm_n += _rowdot(via_S, x[layer])
                dW[layer].baddbmm_(x[layer].mT, A_n * du)
                dS[layer].baddbmm_(x[layer].mT, Bm_n * du)
                dP = torch.bmm(du, deltas[layer].mT)  # minus the gradient of P
                if layer == 0:
                    dqk_[:, n] = dP.neg_()
                    dd[0].baddbmm_(qk_[:, n].mT, du, alpha=-1.0)
                else:
                    dd[layer].baddbmm_((C_n * G[layer - 1]).mT, du, alpha=-1.0)
                    dC_n.addcmul_(dP, G[layer - 1], value=-1.0)
                    dG = (dP * C_n).neg_()
                    dx.baddbmm_(dG, h[layer])
                    dh[layer].baddbmm_(dG.mT, x[layer])
                if has_reset:
                    via_W0 = torch.bmm(du, W0[layer].mT)
                    dx.addcmul_(R_[:, n, :, None], via_W0)
                    dR_[:, n] += _rowdot(via_W0, x[layer])
                    dW0[layer].baddbmm_(x[layer].mT, R_[:, n, :, None] * du)
            dq_[:, n] = dx + dy_[:, n] if residual else dx

            if has_reset:
                # tokens after a document start took h and delta from the reset keys
                after_n = after_[:, n]
                for layer in range(depth):
                    reset_dd[layer][:, n] = torch.where(after_n, dd[layer], 0.0)
                    dd[layer] = torch.where(after_n, 0.0, dd[layer])
                    if layer > 0:
                        reset_dh[layer][:, n] = torch.where(after_n, dh[layer], 0.0)
                        dh[layer] = torch.where(after_n, 0.0, dh[layer])
                h, _, _, deltas = key_pass(W, kn, vn, activation, residual)  # the tokens' own pass, recomputed

            # the delta recursion, delta_l = (delta_{l+1} W_{l+1}^T) * act'(z_l), first layer first
            dz = []
            for layer in range(depth - 1):
                g = dd[layer] * slopes[layer]
                dd[layer + 1].baddbmm_(g, W[layer + 1])
                dW[layer + 1].baddbmm_(g.mT, deltas[layer + 1])
                back = torch.bmm(deltas[layer + 1], W[layer + 1].mT)
                dz.append(back.mul_(dd[layer]).mul_(second_derivative(z[layer], activation)))
            # delta_{L-1} = 2 (out - v), out = z_{L-1} (+ k); then the key pass backwards
            dpre = 2.0 * dd[depth - 1]
            dv_[:, n] = dpre
            dv_[:, n].neg_()
            dk_residual = dpre if residual else None
            for layer in range(depth - 1, -1, -1):
                dW[layer].baddbmm_(h[layer].mT, dpre)
                dh[layer].baddbmm_(dpre, W[layer].mT)
                if layer > 0:
                    dpre = dz[layer - 1].addcmul_(dh[layer], slopes[layer - 1])
            dk_[:, n] = dh[0] + dk_residual if residual else dh[0]
            dW_next, dS_next = dW, dS

        unflat = lambda t: t.view(B, H, *t.shape[1:])  # noqa: E731
        out = [None, *map(unflat, (dq_, dk_, dv_, dqk_, dA_, dBm_, dC_, ds_, de_)),
               unflat(dR_) if has_reset else None, None, *map(unflat, dW_next), *map(unflat, dS_next)]
        if has_reset:
            out += [*map(unflat, dW0), *map(unflat, reset_dh), *map(unflat, reset_dd)]
        return tuple(out)
