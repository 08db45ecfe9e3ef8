"""How far each token moves the memory: ``||W_t - W_{t-1}||_F`` per token, for inspection only.

The chunk walk never materialises per-token weights (SPEC §1). Inside a chunk with entering weights
``W`` and momentum ``S`` they are (``chunk_step``'s closed form, Eqs. 13-14 unrolled)

    W_t = A_t W + Bm_t S [+ R_t W0] - sum_{s<=t} C[t,s] h_s^T delta_s,

so the change made by token t is the same expression with the coefficients' differences between rows
t and t-1 (row -1 being the entering weights: A = 1, Bm = R = C = 0). It is the whole write of token
t: the decay ``-alpha_t W_{t-1}`` (Eq. 13) plus the momentum ``S_t`` (Eq. 14), which carries earlier
tokens' surprise. One chunk's changes are built at once (``[BH, b, d_in, d_out]`` per layer), so the cost
is bounded by the chunk, and nothing of it runs unless a caller asks for it.
"""

from __future__ import annotations

import torch


def _row_differences(coefficient: torch.Tensor, first: float) -> torch.Tensor:
    """``c[:, t] - c[:, t-1]`` along dim 1, with ``c[:, -1] = first``."""
    before = torch.cat([torch.full_like(coefficient[:, :1], first), coefficient[:, :-1]], dim=1)
    return coefficient - before


def weight_change_norm(W, S, h, deltas, A, Bm, C, reset=None) -> torch.Tensor:
    """``[BH, b]``: the Frobenius norm of ``W_t - W_{t-1}`` over all the memory's weight matrices.

    W, S: lists of ``[BH, d_in, d_out]`` entering the chunk; h, deltas: per layer the layer inputs
    ``[BH, b, d_in]`` and output gradients ``[BH, b, d_out]`` at the weights where each token's gradient
    was taken; A, Bm ``[BH, b]``, C ``[BH, b, b]``: ``gates.chunk_coefficients``; reset: None or
    ``chunk_step.forward_step``'s reset tuple (its R and W0 are used).
    """
    dA, dBm, dC = _row_differences(A, 1.0), _row_differences(Bm, 0.0), _row_differences(C, 0.0)
    scale = lambda c: c[:, :, None, None]  # noqa: E731  [BH, b] -> broadcast over [BH, b, d_in, d_out]
    total = torch.zeros_like(A)
    for layer in range(len(W)):
        change = scale(dA) * W[layer][:, None] + scale(dBm) * S[layer][:, None]
        change -= torch.einsum("nts,nsi,nso->ntio", dC, h[layer], deltas[layer])
        if reset is not None:
            R, W0 = reset[0], reset[2]
            change += scale(_row_differences(R, 0.0)) * W0[layer][:, None]
        total += change.square().sum(dim=(-2, -1))
    return total.sqrt()
