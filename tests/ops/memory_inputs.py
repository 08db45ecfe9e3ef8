"""Random inputs for the memory op and a runner that collects outputs, state and gradients."""

import torch
import torch.nn.functional as F


def make_inputs(B=2, H=2, T=17, D=4, hidden=8, depth=2, dtype=torch.float64, seed=0, theta_scale=0.05):
    """Random op inputs in the stable range: unit keys and queries, small learning rates."""
    g = torch.Generator().manual_seed(seed)
    randn = lambda *shape: torch.randn(*shape, generator=g, dtype=dtype)  # noqa: E731
    rand = lambda *shape: torch.rand(*shape, generator=g, dtype=dtype)  # noqa: E731
    widths = [D] + [hidden] * (depth - 1) + [D]
    return dict(
        q=F.normalize(randn(B, H, T, D), dim=-1),
        k=F.normalize(randn(B, H, T, D), dim=-1),
        v=randn(B, H, T, D),
        theta=rand(B, H, T) * theta_scale,
        eta=rand(B, H, T),
        alpha=rand(B, H, T) * 0.2,
        weights=tuple(randn(B, H, i, o) / i**0.5 for i, o in zip(widths[:-1], widths[1:])),
        momentum=tuple(randn(B, H, i, o) * 0.1 for i, o in zip(widths[:-1], widths[1:])),
    )


def flat(inputs):
    """The differentiable leaves of ``make_inputs``' dict, in a fixed order."""
    return [inputs[n] for n in ("q", "k", "v", "theta", "eta", "alpha")] + [
        *inputs["weights"], *inputs["momentum"]
    ]


def run_with_grads(fn, inputs, leaves=None, **kwargs):
    """Output, final state and the gradients of a fixed random functional of all three."""
    inputs = {
        n: tuple(t.detach().clone().requires_grad_() for t in v) if isinstance(v, tuple)
        else v.detach().clone().requires_grad_()
        for n, v in inputs.items()
    }
    y, W, S = fn(**inputs, **kwargs)
    g = torch.Generator().manual_seed(123)
    probe = lambda t: (t * torch.randn(t.shape, generator=g, dtype=t.dtype).to(t.device)).sum()  # noqa: E731
    loss = probe(y) + sum(probe(w) for w in W) + sum(probe(s) for s in S)
    leaves = flat(inputs) if leaves is None else leaves(inputs)
    grads = torch.autograd.grad(loss, leaves, allow_unused=True)
    return y, W, S, grads

