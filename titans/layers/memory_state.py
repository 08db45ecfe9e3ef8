"""What a NeuralMemory carries from one call to the next (SPEC §2)."""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from .state import TensorState


_OPTIONAL = ("running_weights", "running_momentum")


@dataclass
class MemoryState(TensorState):
    """The memory at the last chunk boundary plus what is needed to finish the open chunk.

    weights, momentum: tuples of ``[B, H, d_in, d_out]``, W and S at the last chunk boundary.
    pending_*: the unfinished chunk's tokens (fewer than ``chunk_size``), re-run with the next call
        so that every chunk takes its gradients at the same weights however the sequence was split:
        q, k, v ``[B, H, r, D]``; theta, log_eta, log_keep ``[B, H, r]``; mask, reset ``[B, r]``.
    conv_tails: the last ``kernel - 1`` projections of q, k and v, ``[B, kernel - 1, H * D]`` each.
    position: tokens read so far. signature: the configuration that made the state.
    running_weights, running_momentum: W and S after the last token read (equal to ``weights`` and
        ``momentum`` at a chunk boundary), so that one more token costs a constant time
        (``titans.ops.token_step``). None in states saved before they existed: the next call then
        re-runs the pending tokens, which restores them.
    """

    weights: tuple[torch.Tensor, ...]
    momentum: tuple[torch.Tensor, ...]
    pending_q: torch.Tensor
    pending_k: torch.Tensor
    pending_v: torch.Tensor
    pending_theta: torch.Tensor
    pending_log_eta: torch.Tensor
    pending_log_keep: torch.Tensor
    pending_mask: torch.Tensor
    pending_reset: torch.Tensor
    conv_tails: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    position: int
    signature: tuple
    running_weights: tuple[torch.Tensor, ...] | None = None
    running_momentum: tuple[torch.Tensor, ...] | None = None

    @property
    def batch_size(self) -> int:
        return self.weights[0].shape[0]

    def tensors(self) -> dict[str, torch.Tensor]:
        """Flat name -> tensor map (for safetensors); ``from_tensors`` inverts it."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, torch.Tensor):
                out[f.name] = value
            elif isinstance(value, tuple) and value and isinstance(value[0], torch.Tensor):
                # the running state is the boundary state itself at a chunk boundary: safetensors wants
                # every saved tensor to own its memory
                own = (lambda t: t.clone()) if f.name in _OPTIONAL else (lambda t: t)
                out.update({f"{f.name}.{i}": own(t) for i, t in enumerate(value)})
        return out

    def header(self) -> dict:
        """The non-tensor fields, JSON-ready (for a saved state's header)."""
        return {"position": self.position, "signature": list(self.signature)}

    @classmethod
    def from_header(cls, tensors: dict[str, torch.Tensor], header: dict) -> "MemoryState":
        return cls.from_tensors(tensors, int(header["position"]), tuple(header["signature"]))

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], position: int, signature: tuple) -> "MemoryState":
        kwargs: dict = {"position": position, "signature": tuple(signature)}
        for f in fields(cls):
            if f.name in kwargs:
                continue
            if f.name in _OPTIONAL and not any(k.split(".")[0] == f.name for k in tensors):
                continue  # a state saved before the field existed
            if f.name in tensors:
                kwargs[f.name] = tensors[f.name]
                continue
            items = sorted((int(k.split(".")[1]), t) for k, t in tensors.items() if k.split(".")[0] == f.name)
            if not items:
                raise KeyError(f"memory state file has no tensor {f.name!r}: not a MemoryState")
            kwargs[f.name] = tuple(t for _, t in items)
        return cls(**kwargs)
