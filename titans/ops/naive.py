"""The per-token memory loop: the ground truth that the chunked path must match (SPEC §1, Eqs. 12-16).

Slow on purpose: one step per token, gradients by autograd, no closed form.
"""

from __future__ import annotations

import torch

from .inputs import Weights, prepare_inputs
from .mlp import memory_forward


def naive_memory_update(
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
):
    """Run the memory recurrence one token at a time; same contract as ``chunk_memory_update``.

    For token t in a chunk whose entering weights are ``W'``:
        g_t = grad_W ||M_W'(k_t) - v_t||^2,  S_t = eta_t S_{t-1} - theta_t g_t,
        W_t = (1 - alpha_t) W_{t-1} + S_t,   y_t = M_{W_t}(q_t).
    A masked token (``mask`` False) leaves W and S untouched. A reset token (``reset`` True) first
    returns the memory to ``reset_weights`` with zero momentum; the rest of its chunk then takes its
    gradients at ``reset_weights`` (the weights that entered the new document). With
    ``forget_to_reset_weights`` the forgetting pulls towards ``reset_weights`` W0 instead of towards zero:
    ``W_t = (1 - alpha_t) W_{t-1} + alpha_t W0 + S_t``.
    With ``log_gates=True``, ``eta`` holds log(eta) and ``alpha`` holds log(1 - alpha).
    """
    x = prepare_inputs(
        q, k, v, theta, eta, alpha, weights, momentum, chunk_size=chunk_size, activation=activation,
        mask=mask, reset=reset, reset_weights=reset_weights, forget_to_reset_weights=forget_to_reset_weights,
    )
    keep = x.alpha.exp() if log_gates else 1.0 - x.alpha  # 1 - alpha
    eta_lin = x.eta.exp() if log_gates else x.eta
    create_graph = torch.is_grad_enabled()
    W, S = list(x.weights), list(x.momentum)
    W_enter = list(W)
    ys, inner_losses = [], []
    for t in range(x.q.shape[2]):
        if t % chunk_size == 0:
            W_enter = list(W)
        if x.reset is not None:
            r = x.reset[:, t, None, None, None]  # [B, 1, 1, 1]
            W = [torch.where(r, w0, w) for w0, w in zip(x.reset_weights, W)]
            S = [torch.where(r, torch.zeros_like(s), s) for s in S]
            W_enter = [torch.where(r, w0, w) for w0, w in zip(x.reset_weights, W_enter)]
        with torch.enable_grad():
            leaves = [w if create_graph and w.requires_grad else w.detach().requires_grad_(True) for w in W_enter]
            pred = memory_forward(leaves, x.k[:, :, t : t + 1], activation, residual)
            per_head = (pred - x.v[:, :, t : t + 1]).pow(2).sum(dim=(-2, -1))  # [B, H]
            grads = torch.autograd.grad(per_head.sum(), leaves, create_graph=create_graph)
        inner_losses.append(per_head.detach())
        th = x.theta[:, :, t, None, None]
        et = eta_lin[:, :, t, None, None]
        kp = keep[:, :, t, None, None]
        S_new = [et * s - th * g for s, g in zip(S, grads)]
        W_new = [kp * w + s for w, s in zip(W, S_new)]
        if forget_to_reset_weights:
            W_new = [w + (1.0 - kp) * w0 for w, w0 in zip(W_new, x.reset_weights)]
        if x.mask is not None:
            m = x.mask[:, t, None, None, None]
            S_new = [torch.where(m, s_new, s) for s_new, s in zip(S_new, S)]
            W_new = [torch.where(m, w_new, w) for w_new, w in zip(W_new, W)]
        S, W = S_new, W_new
        ys.append(memory_forward(W, x.q[:, :, t : t + 1], activation, residual))
    y = torch.cat(ys, dim=2).to(q.dtype)
    if return_inner_loss:
        return y, tuple(W), tuple(S), torch.stack(inner_losses, dim=2)
    return y, tuple(W), tuple(S)
