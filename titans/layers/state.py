"""What every carried state shares: detaching it and moving it, over all the tensors it holds."""

from __future__ import annotations

from dataclasses import fields, is_dataclass, replace

import torch


def map_tensors(value, fn):
    """``fn`` applied to every tensor inside ``value`` (tensors, dataclass states, dicts, lists, tuples);
    everything else (None, positions, signatures) is returned as it is."""
    if isinstance(value, torch.Tensor):
        return fn(value)
    if is_dataclass(value) and not isinstance(value, type):
        return replace(value, **{f.name: map_tensors(getattr(value, f.name), fn) for f in fields(value)})
    if isinstance(value, dict):
        return {k: map_tensors(v, fn) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(map_tensors(v, fn) for v in value)
    return value


class TensorState:
    """Mixin for the state dataclasses: ``detach()`` and ``to()`` reach every tensor they hold."""

    def detach(self):
        """Cut the autograd graph (truncated backpropagation through the state)."""
        return map_tensors(self, torch.Tensor.detach)

    def to(self, device=None, dtype: torch.dtype | None = None):
        """Move every tensor to ``device``; ``dtype`` applies to the floating-point ones only."""
        return map_tensors(self, lambda t: t.to(device=device, dtype=dtype if t.is_floating_point() else None))
