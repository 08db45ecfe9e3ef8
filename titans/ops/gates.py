"""Decay and momentum products inside a chunk, in log space (SPEC §1).

Every product of gates over a run of positions is ``exp`` of a sum of log-gates. The sums are taken
as *masked cumulative sums* inside the lower triangle, never as a difference of two prefix sums:
at the gate extremes a log-gate is ``-inf`` and ``cumsum[t] - cumsum[s]`` would be ``-inf - (-inf)``;
in float32 the difference also loses the small sums to cancellation.
"""

from __future__ import annotations

import torch


def segment_sum(x: torch.Tensor) -> torch.Tensor:
    """``seg[..., t, s] = sum_{s < j <= t} x[..., j]`` for ``s <= t`` and ``-inf`` above the diagonal.

    x: ``[..., b]`` -> ``[..., b, b]``. ``exp(seg)`` is the lower-triangular matrix of products
    ``prod_{s < j <= t} exp(x_j)`` with ones on the diagonal.
    """
    b = x.shape[-1]
    strict = torch.ones(b, b, dtype=torch.bool, device=x.device).tril(-1)
    rows = x.unsqueeze(-1).expand(*x.shape, b)  # rows[..., j, s] = x_j
    seg = rows.masked_fill(~strict, 0.0).cumsum(dim=-2)
    return seg.masked_fill(~strict.logical_or(torch.eye(b, dtype=torch.bool, device=x.device)), float("-inf"))


def chunk_coefficients(log_keep, log_eta, theta, written, injected=None):
    """Coefficients of the unrolled recurrences inside each chunk (SPEC §1, "Exact chunk-parallel form").

    Inputs are ``[..., b]`` per chunk: ``log_keep = log(1 - alpha)``, ``log_eta``, ``theta``, ``written``
    (m_t: 1 for a token that writes, 0 for a masked one) and, when documents restart inside the chunk,
    ``injected`` (the weight with which the reset weights enter at each reset token, 0 elsewhere).
    Returns a dict of
      ``A [..., b]``: prod_{j<=t}(1 - alpha_j), the share of the entering weights W0 in W_t;
      ``Bm [..., b]``: sum_{r<=t} Pa[t,r] m_r prod_{j<=r} eta_j, the share of the entering momentum S0;
      ``C [..., b, b]``: (Pa diag(m) Pe)[t,s] theta_s, the weight of token s's gradient in W_t;
      ``E_end``, ``Pe_theta_end``: the same for the momentum at the chunk end;
      ``R [..., b]`` (only with ``injected``): the share of the reset weights in W_t.
    """
    Pa = segment_sum(log_keep).exp()  # [..., b, b]  prod_{r<j<=t} (1 - alpha_j)
    Pe = segment_sum(log_eta).exp()  # [..., b, b]  prod_{s<j<=r} eta_j
    A = log_keep.cumsum(-1).exp()  # [..., b]
    E = log_eta.cumsum(-1).exp()  # [..., b]
    Pa_m = Pa * written.unsqueeze(-2)  # scale column r by m_r
    coeffs = {
        "A": A,
        "Bm": (Pa_m @ E.unsqueeze(-1)).squeeze(-1),
        "C": (Pa_m @ Pe) * theta.unsqueeze(-2),
        "E_end": E[..., -1],
        "Pe_theta_end": Pe[..., -1, :] * theta,
    }
    if injected is not None:
        coeffs["R"] = (Pa @ injected.unsqueeze(-1)).squeeze(-1)
    return coeffs
