"""Loss by position: does a model predict a long document better the more of it it has read?

Rows of ``length`` tokens (long documents, or stretches of one long sequence) are read together, in
blocks of ``block`` tokens with the model state carried (KV caches and memories), so memory use is
bounded by the model, not by ``length``. The loss of every token is binned by how many tokens preceded
it in its row: bin ``[a, b)`` holds the tokens that had between ``a`` and ``b`` tokens of context. A
model that uses long context has a lower loss in the late bins than in the early ones; one that cannot
(a window, a training length it does not extrapolate past) is flat or rises.

The bins hold different text, whose own predictability differs, so the bins alone mix the two effects.
``limit`` separates them: the same tokens are read again with the state reset every ``limit`` tokens
(at most that much context), and the difference per bin is what the longer context bought on those
very tokens (SPEC's evaluation protocol; ``titans dna eval`` does the same for genomes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class PositionBin:
    """One bin of :func:`bits_by_position` (``titans dna eval`` reads bases: bits per base, tokens = bases)."""

    start: int
    """First position (tokens of context before the predicted one) in the bin."""
    end: int
    """One past the last position."""
    bits: float
    """Bits per byte when the token byte lengths were given, else bits per token."""
    tokens: int
    bytes: int

    def label(self) -> str:
        return f"{short_count(self.start)}-{short_count(self.end)}"


def position_bins(length: int, first: int = 1024) -> list[tuple[int, int]]:
    """``[0, first)``, then doubling bins ``[first, 2 first)``, ... up to ``length``."""
    if length < 2:
        raise ValueError(f"length {length}: need at least 2 tokens")
    edges = [0, min(first, length)]
    while edges[-1] < length:
        edges.append(min(2 * edges[-1], length))
    return list(pairwise(edges))


@torch.no_grad()
def bits_by_position(model, rows: torch.Tensor, *, token_bytes: torch.Tensor | None = None, block: int = 4096,
                     first_bin: int = 1024, limit: int | None = None, progress=None) -> list[PositionBin]:
    """Bits per byte (or per token) of ``model`` on ``rows`` ``[S, length]``, binned by position.

    The first token of a row is not scored (nothing predicts it). token_bytes: ``[vocab]`` UTF-8 bytes
    per token id (None: every token counts as one unit). limit: reset the state every ``limit`` tokens
    (None: never). progress: called with 1 after each of the ``ceil((length - 1) / block)`` blocks (a
    progress bar's ``update``), or None.
    """
    if rows.dim() != 2 or rows.shape[1] < 2:
        raise ValueError(f"rows: expected [S, length >= 2] token ids, got shape {tuple(rows.shape)}")
    device = next(model.parameters()).device
    rows = rows.long().to(device)
    segments, length = rows.shape
    reset = None
    if limit is not None:
        if limit < 1:
            raise ValueError(f"limit {limit}: must be a positive number of tokens")
        reset = torch.zeros_like(rows, dtype=torch.bool)
        reset[:, limit::limit] = True
    units = torch.ones(segments, length - 1, dtype=torch.float64)
    if token_bytes is not None:
        units = token_bytes.to(torch.float64)[rows[:, 1:].cpu()]
    nats = torch.zeros(length - 1, dtype=torch.float64)
    was_training = model.training
    model.eval()
    state = None
    for begin in range(0, length - 1, block):
        end = min(begin + block, length - 1)
        piece_reset = None if reset is None or not reset[:, begin:end].any() else reset[:, begin:end]
        logits, state = model(rows[:, begin:end], state, reset=piece_reset)
        logits = logits.to(torch.promote_types(logits.dtype, torch.float32))  # bf16 up, float64 kept
        loss = F.cross_entropy(logits.transpose(1, 2), rows[:, begin + 1: end + 1], reduction="none")
        nats[begin:end] = loss.sum(0).double().cpu()
        if progress is not None:
            progress(1)
    model.train(was_training)
    # the target at position p + 1 was predicted with p + 1 tokens of context: bin by that count
    context = torch.arange(1, length)
    per_position_units = units.sum(0)
    bins = []
    for lo, hi in position_bins(length, first_bin):
        inside = (context >= lo) & (context < hi)
        count = int(inside.sum()) * segments
        if count:
            n_units = float(per_position_units[inside].sum())
            bins.append(PositionBin(lo, hi, float(nats[inside].sum()) / n_units / math.log(2), count,
                                    int(n_units) if token_bytes is not None else 0))
    return bins


def short_count(n: int) -> str:
    return f"{n // 1024}K" if n >= 1024 and n % 1024 == 0 else str(n)
