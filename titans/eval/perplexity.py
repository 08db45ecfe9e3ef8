"""Validation loss, perplexity and bits per byte of a language model over packed lanes of documents.

With ``carry_state`` the lanes are read in order with the model state carried from batch to batch (and
reset at document starts), so a long document is scored with all of its own past available to the
memory — the streaming use the model is built for. Without it every batch starts afresh, as training
without carried state does: the score at the training context, comparable across variants.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from ..data.batching import PackedLanes

if TYPE_CHECKING:  # titans.train imports this module: a runtime import would be circular
    from ..train.distributed import Topology


@dataclass(frozen=True)
class LanguageModelScore:
    loss: float
    """Mean negative log-likelihood, nats per scored token."""
    bits_per_byte: float
    """Total bits over the UTF-8 bytes those tokens stand for (tokenizer-independent)."""
    tokens: int
    bytes: int

    @property
    def perplexity(self) -> float:
        return math.exp(self.loss)

    def to_dict(self) -> dict:
        return {"loss": self.loss, "perplexity": self.perplexity, "bits_per_byte": self.bits_per_byte,
                "tokens": self.tokens, "bytes": self.bytes}


@torch.no_grad()
def score_language_model(model, lanes: PackedLanes, token_bytes: torch.Tensor, *, max_batches: int | None = None,
                         device: torch.device | str = "cpu", topology: Topology | None = None,
                         autocast: bool = False, carry_state: bool = True, progress=None) -> LanguageModelScore:
    """Score the first ``max_batches`` batches of ``lanes`` (all when None).

    model: a :class:`titans.TitansLM` (or a wrapper whose forward takes ``targets=`` and ``target_weights=``
    as it does and returns the summed nats and the state).

    token_bytes: ``[vocab]`` UTF-8 bytes each token id stands for (titans.data.token_byte_lengths).
    Under several processes (``topology``) each scores its rows and the totals are summed.
    progress: called with the number of batches after each one (a progress bar's ``update``), or None.
    """
    rank, world = (0, 1) if topology is None else (topology.rank, topology.world)
    was_training = model.training
    model.eval()
    token_bytes = token_bytes.to(device)
    n = lanes.batches_per_epoch if max_batches is None else min(max_batches, lanes.batches_per_epoch)
    nats = tokens = n_bytes = 0.0
    state = None
    for index in range(n):
        batch = lanes.batch(index).rows(slice(rank, None, world))
        if batch.inputs.shape[0] == 0:
            break
        inputs, targets = batch.inputs.to(device), batch.targets.to(device)
        scored = batch.scored.to(device)
        with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=autocast):
            loss, state = model(inputs, state if carry_state else None, reset=batch.device_reset(device),
                                targets=targets, target_weights=scored)
        nats += float(loss)
        tokens += float(scored.sum())
        n_bytes += float(token_bytes[targets][scored].sum())
        if progress is not None:
            progress(1)
    model.train(was_training)
    if topology is not None:
        nats, tokens, n_bytes = topology.sum(nats), topology.sum(tokens), topology.sum(n_bytes)
    if tokens == 0:
        raise ValueError("nothing was scored: the validation lanes are empty")
    return LanguageModelScore(nats / tokens, nats / math.log(2) / max(n_bytes, 1.0), int(tokens), int(n_bytes))
