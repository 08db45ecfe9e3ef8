"""The memory model M_W: a bias-free MLP applied per head (SPEC §1).

Depth L = number of weight matrices: ``M(x) = x W1`` for L = 1,
``M(x) = act(x W1) W2`` for L = 2, deeper memories repeat the hidden layer.
With ``residual=True``, ``M(x) = x + MLP(x)``.
"""

from __future__ import annotations

import math

import torch

ACTIVATIONS = ("gelu", "silu")
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def check_activation(activation: str) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")


def activate(z: torch.Tensor, activation: str) -> torch.Tensor:
    """act(z): exact (erf) GELU or SiLU."""
    if activation == "gelu":
        return torch.nn.functional.gelu(z)
    return torch.nn.functional.silu(z)


def act_grad(grad: torch.Tensor, z: torch.Tensor, activation: str) -> torch.Tensor:
    """``grad * act'(z)`` in one fused kernel (the activation's own backward)."""
    if activation == "gelu":
        return torch.ops.aten.gelu_backward(grad, z)
    if torch.is_grad_enabled() and (grad.requires_grad or z.requires_grad):
        # differentiated again (the reset weights' key pass runs under autograd): aten.silu_backward has no
        # derivative of its own, so spell silu'(z) = s (1 + z (1 - s)) out
        s = torch.sigmoid(z)
        return grad * s * (1.0 + z * (1.0 - s))
    return torch.ops.aten.silu_backward(grad, z)


def memory_forward(
    weights: tuple[torch.Tensor, ...], x: torch.Tensor, activation: str, residual: bool
) -> torch.Tensor:
    """M_W(x) for x ``[..., n, D]`` and weights ``[..., d_in, d_out]`` (plain autograd; reference path)."""
    h = x
    for i, w in enumerate(weights):
        h = h @ w
        if i < len(weights) - 1:
            h = activate(h, activation)
    return x + h if residual else h


def second_derivative(z: torch.Tensor, activation: str) -> torch.Tensor:
    """act''(z), for the hand-written backward of the chunked op."""
    if activation == "gelu":
        return torch.exp(-0.5 * z * z) * _INV_SQRT_2PI * (2.0 - z * z)
    sig = torch.sigmoid(z)
    return sig * (1.0 - sig) * (2.0 + z * (1.0 - 2.0 * sig))
