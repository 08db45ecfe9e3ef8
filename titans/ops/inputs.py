"""Validation and normalisation of the memory op's inputs, shared by the naive and the chunked path.

Shapes (SPEC §1): q, k, v ``[B, H, T, D]``; theta, eta, alpha ``[B, H, T]``; weights and momentum
tuples of ``[B, H, d_in, d_out]``; mask and reset ``[B, T]`` booleans.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .mlp import check_activation

Weights = tuple[torch.Tensor, ...]


@dataclass
class OpInputs:
    """Inputs cast to the compute dtype (float32, or float64 when q is float64), momentum filled in."""

    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    theta: torch.Tensor
    eta: torch.Tensor
    alpha: torch.Tensor
    weights: Weights
    momentum: Weights
    mask: torch.Tensor | None
    reset: torch.Tensor | None
    reset_weights: Weights | None


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 stays float64; everything else (bfloat16, float16, float32) accumulates in float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def _shape_error(name: str, expected: str, got: torch.Tensor) -> ValueError:
    return ValueError(f"{name}: expected shape {expected}, got {tuple(got.shape)}")


def prepare_inputs(
    q, k, v, theta, eta, alpha, weights, momentum, *, chunk_size, activation, mask, reset, reset_weights,
    forget_to_reset_weights=False,
) -> OpInputs:
    check_activation(activation)
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    if q.dim() != 4:
        raise _shape_error("q", "[B, H, T, D]", q)
    B, H, T, D = q.shape
    if T == 0:
        raise ValueError("the sequence is empty (T = 0): pass at least one token")
    for name, t in (("k", k), ("v", v)):
        if t.shape != q.shape:
            raise _shape_error(name, f"{list(q.shape)} (like q)", t)
    for name, t in (("theta", theta), ("eta", eta), ("alpha", alpha)):
        if t.shape != (B, H, T):
            raise _shape_error(name, f"[B, H, T] = {[B, H, T]}", t)
    weights = tuple(weights)
    if len(weights) == 0:
        raise ValueError("weights: expected a tuple of at least one [B, H, d_in, d_out] tensor")
    d_in = D
    for i, w in enumerate(weights):
        d_out = D if i == len(weights) - 1 else w.shape[-1]
        if w.dim() != 4 or w.shape[:2] != (B, H) or w.shape[2] != d_in or w.shape[3] != d_out:
            raise _shape_error(f"weights[{i}]", f"[B, H, {d_in}, {d_out}] with B={B}, H={H}", w)
        d_in = w.shape[-1]
    momentum = tuple(momentum) if momentum is not None else None
    if momentum is not None:
        if len(momentum) != len(weights):
            raise ValueError(f"momentum: expected {len(weights)} tensors (one per weight), got {len(momentum)}")
        for i, (s, w) in enumerate(zip(momentum, weights)):
            if s.shape != w.shape:
                raise _shape_error(f"momentum[{i}]", str(list(w.shape)), s)
    for name, t in (("mask", mask), ("reset", reset)):
        if t is not None and t.shape != (B, T):
            raise _shape_error(name, f"[B, T] = {[B, T]}", t)
    if reset is not None and reset_weights is None:
        raise ValueError("reset needs reset_weights: the initial memory a document start returns to")
    if forget_to_reset_weights and reset_weights is None:
        raise ValueError("forget_to_reset_weights needs reset_weights: the weights the memory forgets towards")
    if reset_weights is not None:
        reset_weights = tuple(w.expand_as(ref) for w, ref in zip(reset_weights, weights))

    dt = compute_dtype(q.dtype)
    cast = lambda t: None if t is None else t.to(dt)  # noqa: E731
    weights = tuple(w.to(dt) for w in weights)
    momentum = tuple(torch.zeros_like(w) for w in weights) if momentum is None else tuple(map(cast, momentum))
    return OpInputs(
        q=cast(q), k=cast(k), v=cast(v), theta=cast(theta), eta=cast(eta), alpha=cast(alpha),
        weights=weights, momentum=momentum,
        mask=None if mask is None else mask.to(torch.bool),
        reset=None if reset is None else reset.to(torch.bool),
        reset_weights=None if reset_weights is None else tuple(map(cast, reset_weights)),
    )
