"""One token inside an open chunk, in constant time: the running form of the chunk's closed form.

Inside a chunk every token takes its gradient at the weights ``G`` that entered the chunk (or at the
reset weights after a document start in it), so the chunk's effect up to token t is a running sum
(SPEC §1, Eqs. 13-14 with a shared gradient point):

    g_t = grad_G ||M_G(k_t) - v_t||^2 = [h_l^T delta_l]_l,   S_t = eta_t S_{t-1} - theta_t g_t,
    W_t = (1 - alpha_t) W_{t-1} + S_t,                       y_t = M_{W_t}(q_t)   (Eq. 15).

Carrying ``W_t`` and ``S_t`` (the running weights and momentum) beside ``G`` makes a decoded token cost
one memory MLP forward and backward at ``G`` and one read at ``W_t``, whatever its place in the
chunk. It equals ``chunk_memory_update`` on the same tokens (tested in float64).
"""

from __future__ import annotations

import torch

from .chunk_step import key_pass
from .mlp import memory_forward


def token_step(q, k, v, theta, log_eta, log_keep, gradient_weights, weights, momentum, *, activation: str,
               residual: bool, mask: torch.Tensor | None = None, forget_toward=None):
    """``(y, W, S, inner_loss)`` after one token.

    q, k, v: ``[B, H, 1, D]``; theta, log_eta, log_keep: ``[B, H, 1]`` (log(eta), log(1 - alpha));
    gradient_weights, weights, momentum: tuples of ``[B, H, d_in, d_out]`` (G, W_{t-1}, S_{t-1}).
    mask: ``[B]`` bool, False where the token is padding (W and S untouched). forget_toward: None, or the
    weights W0 that the forgetting pulls towards (``W_t = (1 - alpha) W_{t-1} + alpha W0 + S_t``, the
    op's ``forget_to_reset_weights``). Returns y ``[B, H, 1, D]``,
    the new running weights and momentum, and ``||M_G(k) - v||^2`` ``[B, H, 1]``.
    """
    h, _, deltas = key_pass(list(gradient_weights), k, v, activation, residual)
    inner_loss = 0.25 * deltas[-1].square().sum(-1)  # deltas = 2 (M(k) - v)
    theta_, eta_, keep_ = (t.unsqueeze(-1) for t in (theta, log_eta.exp(), log_keep.exp()))
    new_W, new_S = [], []
    for layer, (w, s) in enumerate(zip(weights, momentum)):
        # S_t = eta S - theta h^T delta: the outer product (one token) added by a batched matmul into
        # eta S, then W_t = (1 - alpha) W + S_t: two passes over each weight matrix instead of five
        s_next = torch.matmul((-theta_ * h[layer]).mT, deltas[layer]).addcmul_(eta_, s)
        w_next = torch.addcmul(s_next, keep_, w)
        if forget_toward is not None:
            w_next = w_next - torch.expm1(log_keep).unsqueeze(-1) * forget_toward[layer]  # + alpha W0
        if mask is not None:
            written = mask[:, None, None, None]
            s_next, w_next = torch.where(written, s_next, s), torch.where(written, w_next, w)
        new_W.append(w_next)
        new_S.append(s_next)
    y = memory_forward(tuple(new_W), q, activation, residual)
    return y, tuple(new_W), tuple(new_S), inner_loss
