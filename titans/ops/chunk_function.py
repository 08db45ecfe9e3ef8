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
(z, h, delta, u, x and the b x b scores), and the backward walks the chunks in reverse, applying the
chain rule to the lines above by hand. Everything before (gate products, q k^T) and after stays in
autograd. Tokens after a document start inside their chunk take h and delta from ``reset_keys``
(gradients at the reset weights, computed for all chunks at once by the caller).
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from .mlp import activate, activate_with_derivative, derivatives


def key_pass(weights, k, v, activation, residual):
    """Layer inputs ``h``, pre-activations ``z`` and output gradients ``delta`` of ||M_W(k) - v||^2.

    The weight gradient of token s at layer l is ``h[l]_s^T delta[l]_s``. Works under autograd too
    (the caller uses it for the reset weights).
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
    return h, z, deltas


def _scale(rows: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Scale row i of ``t [..., b, d]`` by ``rows [..., b]``."""
    return rows.unsqueeze(-1) * t


def _rowdot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum(-1)


def _matdot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum((-2, -1))


class ChunkedMemory(torch.autograd.Function):
    """``(y, inner_loss, *W_final, *S_final)`` from chunked inputs; see the module docstring.

    Positional inputs: q, k, v ``[B, H, N, b, D]``; qk_term ``[B, H, N, b, b]`` (= C * q k^T, the
    first layer's scores, built in autograd); A, Bm ``[B, H, N, b]``; C ``[B, H, N, b, b]``;
    s ``[B, H, N, b]``; e ``[B, H, N]``; R ``[B, H, N, b]`` or None; after ``[B, 1, N, b]`` bool or None;
    then ``depth`` weights, ``depth`` momenta, and with resets ``depth`` reset weights,
    ``depth`` reset-key inputs h and ``depth`` reset deltas (each ``[B, H, N, b, .]``).
    """

    @staticmethod
    def forward(ctx, config, q, k, v, qk_term, A, Bm, C, s, e, R, after, *tensors):
        depth, activation, residual = config
        W, S = list(tensors[:depth]), list(tensors[depth : 2 * depth])
        has_reset = R is not None
        if has_reset:
            W0 = tensors[2 * depth : 3 * depth]
            reset_h = [t.unbind(2) for t in tensors[3 * depth : 4 * depth]]
            reset_d = [t.unbind(2) for t in tensors[4 * depth : 5 * depth]]
        N = q.shape[2]
        per = [t.unbind(2) for t in (q, k, v, qk_term, A, Bm, C, s, e)]
        R_ = R.unbind(2) if has_reset else None
        saved, ys, inner_losses = [], [], []
        for n in range(N):
            qn, kn, vn, qk_n, A_n, Bm_n, C_n, s_n, e_n = (t[n] for t in per)
            h, z, deltas = key_pass(W, kn, vn, activation, residual)
            if has_reset:
                after_n = after[:, :, n, :, None]
                h = [h[0]] + [torch.where(after_n, rh[n], hh) for rh, hh in zip(reset_h[1:], h[1:])]
                deltas = [torch.where(after_n, rd[n], d) for rd, d in zip(reset_d, deltas)]
            inner_losses.append(0.25 * deltas[-1].pow(2).sum(-1))  # ||M(k) - v||^2 where g was taken
            # retrieval through the closed form
            x, u, G = [qn], [], []
            for layer in range(depth):
                if layer == 0:
                    P = qk_n
                else:
                    G.append(x[layer] @ h[layer].mT)
                    P = C_n * G[-1]
                pre = _scale(A_n, x[layer] @ W[layer]) + _scale(Bm_n, x[layer] @ S[layer]) - P @ deltas[layer]
                if has_reset:
                    pre = pre + _scale(R_[n], x[layer] @ W0[layer])
                if layer < depth - 1:
                    u.append(pre)
                    x.append(activate(pre, activation))
            ys.append(pre + qn if residual else pre)
            saved.append((W, S, h[1:], z, deltas, x[1:], u, G))
            # the chunk's last token: weights and momentum for the next chunk
            a, bm, c_end, s_end = A_n[..., -1, None, None], Bm_n[..., -1, None, None], C_n[..., -1, :], s_n
            e_ = e_n[..., None, None]
            new_W, new_S = [], []
            for layer in range(depth):
                w_next = a * W[layer] + bm * S[layer] - h[layer].mT @ _scale(c_end, deltas[layer])
                if has_reset:
                    w_next = w_next + R_[n][..., -1, None, None] * W0[layer]
                new_W.append(w_next)
                new_S.append(e_ * S[layer] - h[layer].mT @ _scale(s_end, deltas[layer]))
            W, S = new_W, new_S
        ctx.config = config
        ctx.chunks = saved
        ctx.save_for_backward(q, k, v, qk_term, A, Bm, C, s, e, R, after, *(tensors[2 * depth : 3 * depth] if has_reset else ()))
        inner_loss = torch.stack(inner_losses, dim=2)
        ctx.mark_non_differentiable(inner_loss)
        return (torch.stack(ys, dim=2), inner_loss, *W, *S)

    @staticmethod
    @once_differentiable
    def backward(ctx, dy, _d_inner_loss, *dstate):
        depth, activation, residual = ctx.config
        q, k, v, qk_term, A, Bm, C, s, e, R, after, *W0 = ctx.saved_tensors
        has_reset = R is not None
        N = q.shape[2]
        last_W, last_S = ctx.chunks[-1][0], ctx.chunks[-1][1]  # shapes only
        dW_next = [torch.zeros_like(w) if g is None else g for g, w in zip(dstate[:depth], last_W)]
        dS_next = [torch.zeros_like(w) if g is None else g for g, w in zip(dstate[depth:], last_S)]
        dy = torch.zeros_like(q) if dy is None else dy
        dW0 = [torch.zeros_like(w) for w in W0]
        per = [t.unbind(2) for t in (q, k, v, qk_term, A, Bm, C, s, e, dy)]
        R_ = R.unbind(2) if has_reset else None
        grads = {name: [None] * N for name in ("q", "k", "v", "qk", "A", "Bm", "C", "s", "e", "R")}
        reset_dh = [[None] * N for _ in range(depth)]
        reset_dd = [[None] * N for _ in range(depth)]
        for n in range(N - 1, -1, -1):
            qn, kn, vn, qk_n, A_n, Bm_n, C_n, s_n, e_n, dy_n = (t[n] for t in per)
            W, S, h_rest, z, deltas, x_rest, u, G = ctx.chunks[n]
            h, x = [kn, *h_rest], [qn, *x_rest]
            dW = [torch.zeros_like(w) for w in W]
            dS = [torch.zeros_like(w) for w in S]
            dh = [torch.zeros_like(t) for t in h]
            dd = [torch.zeros_like(t) for t in deltas]
            dA, dBm, dC = torch.zeros_like(A_n), torch.zeros_like(Bm_n), torch.zeros_like(C_n)

            # chunk end: W' = a W + bm S - h^T (c * delta) [+ r W0];  S' = e S - h^T (s * delta)
            a, bm, c_end = A_n[..., -1, None, None], Bm_n[..., -1, None, None], C_n[..., -1, :]
            e_ = e_n[..., None, None]
            de = torch.zeros_like(e_n)
            ds = torch.zeros_like(s_n)
            dR = torch.zeros_like(R_[n]) if has_reset else None
            for layer in range(depth):
                gW, gS = dW_next[layer], dS_next[layer]
                dW[layer] += a * gW
                dS[layer] += bm * gW + e_ * gS
                dA[..., -1] += _matdot(gW, W[layer])
                dBm[..., -1] += _matdot(gW, S[layer])
                de += _matdot(gS, S[layer])
                h_gW, h_gS = h[layer] @ gW, h[layer] @ gS  # [b, d_out]
                dd[layer] -= _scale(c_end, h_gW) + _scale(s_n, h_gS)
                dC[..., -1, :] -= _rowdot(deltas[layer], h_gW)
                ds -= _rowdot(deltas[layer], h_gS)
                dh[layer] -= _scale(c_end, deltas[layer]) @ gW.mT + _scale(s_n, deltas[layer]) @ gS.mT
                if has_reset:
                    dR[..., -1] += _matdot(gW, W0[layer])
                    dW0[layer] += R_[n][..., -1, None, None] * gW

            # retrieval, last layer first
            du = dy_n
            dq = dy_n.clone() if residual else torch.zeros_like(qn)
            dqk = None
            for layer in range(depth - 1, -1, -1):
                if layer < depth - 1:
                    du = dx * derivatives(u[layer], activation)[0]
                via_W, via_S = du @ W[layer].mT, du @ S[layer].mT
                dx = _scale(A_n, via_W) + _scale(Bm_n, via_S)
                dA += _rowdot(via_W, x[layer])
                dBm += _rowdot(via_S, x[layer])
                dW[layer] += x[layer].mT @ _scale(A_n, du)
                dS[layer] += x[layer].mT @ _scale(Bm_n, du)
                dP = -(du @ deltas[layer].mT)  # [b, b]
                if layer == 0:
                    dqk = dP
                    dd[0] -= qk_n.mT @ du
                else:
                    P = C_n * G[layer - 1]
                    dd[layer] -= P.mT @ du
                    dC += dP * G[layer - 1]
                    dG = dP * C_n
                    dx = dx + dG @ h[layer]
                    dh[layer] += dG.mT @ x[layer]
                if has_reset:
                    via_W0 = du @ W0[layer].mT
                    dx = dx + _scale(R_[n], via_W0)
                    dR += _rowdot(via_W0, x[layer])
                    dW0[layer] += x[layer].mT @ _scale(R_[n], du)
            dq = dq + dx

            # tokens after a document start took h and delta from the reset keys
            if has_reset:
                after_n = after[:, :, n, :, None]
                for layer in range(depth):
                    reset_dd[layer][n] = torch.where(after_n, dd[layer], 0.0)
                    dd[layer] = torch.where(after_n, 0.0, dd[layer])
                    if layer > 0:
                        reset_dh[layer][n] = torch.where(after_n, dh[layer], 0.0)
                        dh[layer] = torch.where(after_n, 0.0, dh[layer])
                reset_dh[0][n] = torch.zeros_like(kn)  # h_0 is k for every token
                h, z, deltas = key_pass(W, kn, vn, activation, residual)  # the tokens' own pass, recomputed

            # the delta recursion, delta_l = (delta_{l+1} W_{l+1}^T) * act'(z_l), first layer first
            dz = [torch.zeros_like(t) for t in z]
            for layer in range(depth - 1):
                slope, curve = derivatives(z[layer], activation)
                g = dd[layer] * slope
                dd[layer + 1] += g @ W[layer + 1]
                dW[layer + 1] += g.mT @ deltas[layer + 1]
                dz[layer] += dd[layer] * (deltas[layer + 1] @ W[layer + 1].mT) * curve
            # delta_{L-1} = 2 (out - v), out = z_{L-1} (+ k)
            dout = 2.0 * dd[depth - 1]
            dv = -dout
            dk = dout.clone() if residual else torch.zeros_like(kn)
            dpre = dout
            for layer in range(depth - 1, -1, -1):
                dW[layer] += h[layer].mT @ dpre
                dh[layer] += dpre @ W[layer].mT
                if layer > 0:
                    dpre = dz[layer - 1] + dh[layer] * derivatives(z[layer - 1], activation)[0]
            dk = dk + dh[0]

            for name, t in (("q", dq), ("k", dk), ("v", dv), ("qk", dqk), ("A", dA), ("Bm", dBm), ("C", dC),
                            ("s", ds), ("e", de), ("R", dR)):
                grads[name][n] = t
            dW_next, dS_next = dW, dS

        stack = lambda name: torch.stack(grads[name], dim=2)  # noqa: E731
        out = [None, stack("q"), stack("k"), stack("v"), stack("qk"), stack("A"), stack("Bm"), stack("C"),
               stack("s"), stack("e"), stack("R") if has_reset else None, None, *dW_next, *dS_next]
        if has_reset:
            out += [*dW0, *(torch.stack(t, dim=2) for t in reset_dh), *(torch.stack(t, dim=2) for t in reset_dd)]
        return tuple(out)
