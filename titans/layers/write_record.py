"""A per-token record of what the memory wrote, for looking inside it (``titans inspect``).

While a :class:`WriteRecorder` is attached to a :class:`~titans.layers.neural_memory.NeuralMemory`, every
call appends, per token and head, the momentary surprise ``||M(k_t) - v_t||^2`` at the weights where
token t's gradient was taken (Eq. 12, what the op returns with ``return_inner_loss``), the gates theta
(Eq. 13), eta (Eq. 13) and alpha (Eq. 14) as the op received them, and ``||W_t - W_{t-1}||`` (the op's
``return_weight_change``). Nothing is recorded, or computed for it, unless a recorder is attached.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

FIELDS = ("inner_loss", "theta", "eta", "alpha", "weight_change")


class WriteRecorder:
    """Collects the per-call ``[B, H, T]`` tensors of one memory layer; :meth:`take` joins them along T."""

    def __init__(self):
        self._calls: list[dict[str, torch.Tensor]] = []

    def add(self, **per_token: torch.Tensor) -> None:
        if set(per_token) != set(FIELDS):
            raise ValueError(f"a write record holds {FIELDS}, got {tuple(per_token)}")
        self._calls.append({name: t.detach().to("cpu", torch.float64) for name, t in per_token.items()})

    def take(self) -> dict[str, torch.Tensor]:
        """Everything recorded since the last take, ``[B, H, T]`` per field (T = 0 when nothing was)."""
        calls, self._calls = self._calls, []
        if not calls:
            return {}
        return {name: torch.cat([c[name] for c in calls], dim=2) for name in FIELDS}


def memory_layers(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    """The model's NeuralMemory layers by module name, in the order the model runs them."""
    from .neural_memory import NeuralMemory

    return {name: m for name, m in model.named_modules() if isinstance(m, NeuralMemory)}


@contextmanager
def recording(model: torch.nn.Module):
    """Attach a recorder to every memory layer of ``model``; yields ``{layer name: WriteRecorder}``."""
    layers = memory_layers(model)
    recorders = {name: WriteRecorder() for name in layers}
    for name, layer in layers.items():
        layer.recorder = recorders[name]
    try:
        yield recorders
    finally:
        for layer in layers.values():
            layer.recorder = None


@contextmanager
def not_recorded(memory: torch.nn.Module):
    """Detach ``memory``'s recorder for a while: the persistent tokens it reads before the sequence
    (Eq. 26's ``[p || x]``) are not tokens of the document."""
    recorder, memory.recorder = memory.recorder, None
    try:
        yield
    finally:
        memory.recorder = recorder
