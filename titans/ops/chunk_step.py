"""One chunk of the memory op, forward and hand-written backward, as pure tensor functions.

Axes: BH batch x heads (flattened), b chunk size, d_in / d_out the widths of one memory layer.

Per chunk (SPEC §1), with entering weights W_l and momentum S_l of layer l = 0..L-1:

    keys      h_0 = k, z_l = h_l W_l, h_{l+1} = act(z_l);  out = z_{L-1} (+ k)
              delta_{L-1} = 2 (out - v),  delta_l = (delta_{l+1} W_{l+1}^T) * act'(z_l)
    retrieval x_0 = q, u_l = A * (x_l W_l) + Bm * (x_l S_l) - P_l delta_l  [+ R * (x_l W0_l)],
              P_l = C * (x_l h_l^T),  x_{l+1} = act(u_l);  y = u_{L-1} (+ q)
    chunk end W'_l = a W_l + bm S_l - h_l^T (c * delta_l)  [+ r W0_l],   S'_l = e S_l - h_l^T (s * delta_l)

``A, Bm, C`` come from ``gates.chunk_coefficients``; ``a, bm, c`` are their last rows, ``s`` the
momentum row and ``e`` the momentum decay of the chunk. The bracketed terms appear only with document
resets (``W0`` the reset weights, ``R`` their share); tokens after a document start inside the chunk
take h and delta from the reset keys instead (gradients at the reset weights). The first layer's
scores ``P_0 = C * (q k^T)`` do not depend on the weights and come in precomputed (``qk``).

``backward_step`` applies the chain rule to these lines, last line first, with fused in-place
matmul updates (``baddbmm_``); it needs only the boundary weights and momentum and the per-token
activations that ``forward_step`` returns as ``saved`` (h, z, delta, x, u and the scores x h^T).
"""

from __future__ import annotations

import torch

from .mlp import act_grad, activate, second_derivative


def key_pass(weights, k, v, activation, residual):
    """Layer inputs ``h``, pre-activations ``z`` and output gradients ``delta`` of ||M_W(k) - v||^2.

    The weight gradient of token s at layer l is ``h[l]_s^T delta[l]_s``. Works under autograd and on
    any leading shape (the caller uses it for the reset weights on all chunks at once).
    """
    depth = len(weights)
    h, z = [k], []
    for layer, w in enumerate(weights):
        pre = h[-1] @ w
        if layer < depth - 1:
            z.append(pre)
            h.append(activate(pre, activation))
        else:
            out = pre + k if residual else pre
    deltas = [2.0 * (out - v)]  # d/d out of the summed squared error (Eq. 12)
    for layer in range(depth - 2, -1, -1):
        deltas.insert(0, act_grad(deltas[0] @ weights[layer + 1].mT, z[layer], activation))
    return h, z, deltas


def flush_small_(tensors: list[torch.Tensor], power: float = 1.0) -> list[torch.Tensor]:
    """Sets the entries below ``finfo(dtype).tiny ** power`` to exact zero, in place (carried state).

    A memory that receives no fresh gradient decays geometrically ((1 - alpha)^b and eta^b per chunk)
    and its weights and momentum sink into the subnormal range within a few thousand tokens (at the
    default alpha = 0.01, 0.99^8192 ~ 1e-36); every matmul that reads them, and every product of
    them, then runs on the CPU's slow subnormal path (6x slower at 16K tokens on an Intel CPU; AMD
    Zen 2 shows no penalty). The forward flushes the weights and momentum below tiny^(1/3)
    (2.3e-13 in float32, 6e-103 in float64): a depth-2 read multiplies two weights and the
    output norm squares the result, so every such product of surviving entries stays normal. A
    flushed weight moves the memory's output by far less than float32's resolution of anything it is
    added to. The backward flushes only true subnormals (power 1: a change below 1.2e-38).
    """
    for t in tensors:
        t.masked_fill_(t.abs() < torch.finfo(t.dtype).tiny ** power, 0.0)
    return tensors


def _rowdot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``sum_j a[..., j] * b[..., j]``."""
    return torch.linalg.vecdot(a, b)


def _matdot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``sum_ij a[n, i, j] * b[n, i, j]``."""
    return torch.linalg.vecdot(a.flatten(1), b.flatten(1))


def forward_step(W, S, q, k, v, qk, A, Bm, C, s, e, activation, residual, reset=None):
    """One chunk: ``(y, inner_loss, W', S', saved)``.

    W, S: lists of ``[BH, d_in, d_out]``; q, k, v ``[BH, b, D]``; qk, C ``[BH, b, b]``; A, Bm, s
    ``[BH, b]``; e ``[BH]``. reset: None or ``(R [BH, b], after [BH, b, 1] bool, W0 list,
    reset_h list (layers 1..L-1), reset_deltas list)``; after None (and the lists empty) where no token
    takes its gradient at W0 (forgetting towards W0 without a document start).
    """
    depth = len(W)
    h, z, deltas = key_pass(W, k, v, activation, residual)
    if reset is not None:
        R, after, W0, reset_h, reset_d = reset
        if after is not None:
            h = [k] + [torch.where(after, r, own) for r, own in zip(reset_h, h[1:])]
            deltas = [torch.where(after, r, own) for r, own in zip(reset_d, deltas)]
    inner_loss = 0.25 * deltas[-1].square().sum(-1)  # ||M(k) - v||^2 where the gradient was taken

    A_, Bm_ = A.unsqueeze(-1), Bm.unsqueeze(-1)
    x, u, G = [q], [], []
    for layer in range(depth):
        if layer == 0:
            P = qk
        else:
            G.append(torch.bmm(x[layer], h[layer].mT))
            P = C * G[-1]
        pre = torch.bmm(A_ * x[layer], W[layer])
        pre.baddbmm_(Bm_ * x[layer], S[layer])
        pre.baddbmm_(P, deltas[layer], alpha=-1.0)
        if reset is not None:
            pre.baddbmm_(R.unsqueeze(-1) * x[layer], W0[layer])
        if layer < depth - 1:
            u.append(pre)
            x.append(activate(pre, activation))
    y = pre + q if residual else pre

    a, bm, c_end = A[:, -1, None, None], Bm[:, -1, None, None], C[:, -1, :, None]
    s_, e_ = s.unsqueeze(-1), e[:, None, None]
    new_W, new_S = [], []
    for layer in range(depth):
        w_next = (a * W[layer]).addcmul_(bm, S[layer])
        w_next.baddbmm_(h[layer].mT, c_end * deltas[layer], alpha=-1.0)
        if reset is not None:
            w_next.addcmul_(R[:, -1, None, None], W0[layer])
        new_W.append(w_next)
        new_S.append((e_ * S[layer]).baddbmm_(h[layer].mT, s_ * deltas[layer], alpha=-1.0))
    return y, inner_loss, new_W, new_S, (h[1:], z, deltas, x[1:], u, G)


def backward_step(W, S, saved, q, k, v, qk, A, Bm, C, s, e, dy, dW_next, dS_next, activation, residual,
                  reset=None):
    """Gradients of one chunk, given those of its output ``dy`` and of the next chunk's state.

    Returns ``(dW, dS, dq, dk, dv, dqk, dA, dBm, dC, ds, de, reset_grads)``; dW, dS are the gradients
    of the entering state; reset_grads is None or ``(dR, dW0 list, reset_dh list, reset_dd list)``.
    """
    depth = len(W)
    h_rest, z, deltas, x_rest, u, G = saved
    h, x = [k, *h_rest], [q, *x_rest]
    A_, Bm_ = A.unsqueeze(-1), Bm.unsqueeze(-1)
    a, bm, c_end = A[:, -1, None, None], Bm[:, -1, None, None], C[:, -1, :, None]
    s_, e_ = s.unsqueeze(-1), e[:, None, None]
    dA, dBm, dC = torch.zeros_like(A), torch.zeros_like(Bm), torch.zeros_like(C)
    ds, de = torch.zeros_like(s), torch.zeros_like(e)
    if reset is not None:
        R, after, W0, _, _ = reset
        dR, dW0 = torch.zeros_like(R), []

    # chunk end: W' = a W + bm S - h^T (c * delta) [+ r W0];  S' = e S - h^T (s * delta)
    dW, dS, dh, dd = [], [], [], []
    for layer in range(depth):
        gW, gS = dW_next[layer], dS_next[layer]
        dW.append(a * gW)
        dS.append((e_ * gS).addcmul_(bm, gW))
        dA[:, -1] += _matdot(gW, W[layer])
        dBm[:, -1] += _matdot(gW, S[layer])
        de += _matdot(gS, S[layer])
        h_gW, h_gS = torch.bmm(h[layer], gW), torch.bmm(h[layer], gS)  # [BH, b, d_out]
        dd.append((c_end * h_gW).addcmul_(s_, h_gS).neg_())
        dC[:, -1] -= _rowdot(deltas[layer], h_gW)
        ds -= _rowdot(deltas[layer], h_gS)
        dh.append(torch.bmm(c_end * deltas[layer], gW.mT).baddbmm_(s_ * deltas[layer], gS.mT).neg_())
        if reset is not None:
            dR[:, -1] += _matdot(gW, W0[layer])
            dW0.append(R[:, -1, None, None] * gW)

    # retrieval, last layer first: u_l = A (x W) + Bm (x S) - P delta [+ R (x W0)]
    du = dy
    for layer in range(depth - 1, -1, -1):
        if layer < depth - 1:
            du = act_grad(dx, u[layer], activation)
        via_W, via_S = torch.bmm(du, W[layer].mT), torch.bmm(du, S[layer].mT)
        dx = (A_ * via_W).addcmul_(Bm_, via_S)
        dA += _rowdot(via_W, x[layer])
        dBm += _rowdot(via_S, x[layer])
        dW[layer].baddbmm_(x[layer].mT, A_ * du)
        dS[layer].baddbmm_(x[layer].mT, Bm_ * du)
        dP = torch.bmm(du, deltas[layer].mT)  # minus the gradient of P
        if layer == 0:
            dd[0].baddbmm_(qk.mT, du, alpha=-1.0)
            dqk = dP.neg_()
        else:
            dd[layer].baddbmm_((C * G[layer - 1]).mT, du, alpha=-1.0)
            dC.addcmul_(dP, G[layer - 1], value=-1.0)
            dG = (dP * C).neg_()
            dx.baddbmm_(dG, h[layer])
            dh[layer].baddbmm_(dG.mT, x[layer])
        if reset is not None:
            via_W0 = torch.bmm(du, W0[layer].mT)
            dx.addcmul_(R.unsqueeze(-1), via_W0)
            dR += _rowdot(via_W0, x[layer])
            dW0[layer].baddbmm_(x[layer].mT, R.unsqueeze(-1) * du)
    dq = dx + dy if residual else dx

    reset_grads = None
    if reset is not None and after is None:
        reset_grads = (dR, dW0, [], [])
    elif reset is not None:
        # tokens after a document start took h and delta from the reset keys; the rest their own pass
        reset_grads = (dR, dW0, [torch.where(after, g, 0.0) for g in dh[1:]],
                       [torch.where(after, g, 0.0) for g in dd])
        dh = [dh[0]] + [torch.where(after, 0.0, g) for g in dh[1:]]
        dd = [torch.where(after, 0.0, g) for g in dd]
        h, z, deltas = key_pass(W, k, v, activation, residual)  # the tokens' own pass, recomputed

    # the delta recursion, delta_l = (delta_{l+1} W_{l+1}^T) * act'(z_l), first layer first
    dz = []
    for layer in range(depth - 1):
        g = act_grad(dd[layer], z[layer], activation)
        dd[layer + 1].baddbmm_(g, W[layer + 1])
        dW[layer + 1].baddbmm_(g.mT, deltas[layer + 1])
        back = torch.bmm(deltas[layer + 1], W[layer + 1].mT)
        dz.append(back.mul_(dd[layer]).mul_(second_derivative(z[layer], activation)))
    # delta_{L-1} = 2 (out - v) with out = z_{L-1} (+ k); then the key pass backwards
    dout = 2.0 * dd[depth - 1]
    dpre = dout
    for layer in range(depth - 1, -1, -1):
        dW[layer].baddbmm_(h[layer].mT, dpre)
        dh[layer].baddbmm_(dpre, W[layer].mT)
        if layer > 0:
            dpre = dz[layer - 1] + act_grad(dh[layer], z[layer - 1], activation)
    dk = dh[0] + dout if residual else dh[0]
    return dW, dS, dq, dk, -dout, dqk, dA, dBm, dC, ds, de, reset_grads
