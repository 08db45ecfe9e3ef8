"""Bits per base as the context grows: does a model predict a genome better the more of it it has read?

``segments`` stretches of ``length`` bases are taken evenly spaced from one long sequence (a held-out
chromosome), read together as the rows of one batch, in blocks of ``block`` bases with the model state
carried (KV caches and memories), so memory use is bounded by the model, not by ``length``. The
negative log-likelihood of every base is binned by its position in its stretch: bin ``[a, b)`` holds the
bases that had between ``a`` and ``b`` bases of context before them. A model that uses long context has
lower bits per base in the late bins than in the early ones; one that cannot (a window, a training
length it does not extrapolate past) is flat or rises.

The bins hold different stretches of the genome, whose own predictability differs (genes, repeats, GC
content), so the bins alone mix the two effects. ``limit`` separates them: the same bases are read again
with the state reset every ``limit`` bases (at most that much context), and the difference per bin is
what the longer context bought on those very bases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise

import torch
import torch.nn.functional as F

from ..models import TitansLM


@dataclass(frozen=True)
class ContextBin:
    start: int
    """First position (bases of context before the predicted one) in the bin."""
    end: int
    """One past the last position."""
    bits_per_base: float
    bases: int

    def label(self) -> str:
        return f"{_short(self.start)}-{_short(self.end)}"


def context_bins(length: int, first: int = 1024) -> list[tuple[int, int]]:
    """``[0, first)``, then doubling bins ``[first, 2 first)``, ... up to ``length``."""
    if length < 2:
        raise ValueError(f"length {length}: need at least 2 bases")
    edges = [0, min(first, length)]
    while edges[-1] < length:
        edges.append(min(2 * edges[-1], length))
    return list(pairwise(edges))


def segment_starts(total: int, length: int, segments: int) -> list[int]:
    """Start offsets of ``segments`` non-overlapping stretches of ``length`` spread evenly over ``total``."""
    if segments < 1 or length < 2:
        raise ValueError(f"segments {segments} and length {length}: need segments >= 1, length >= 2")
    if segments * length > total:
        raise ValueError(f"{segments} stretches of {length:,} bases do not fit in a sequence of {total:,}; "
                         f"ask for fewer or shorter ones")
    gap = (total - segments * length) // segments
    return [i * (length + gap) for i in range(segments)]


@torch.no_grad()
def bits_by_context(model: TitansLM, ids: torch.Tensor, *, length: int, segments: int, block: int = 4096,
                    first_bin: int = 1024, limit: int | None = None,
                    device: str | torch.device = "cpu") -> list[ContextBin]:
    """Bits per base of ``model`` binned by position in the stretch (module doc).

    ids: 1-D token ids of one long sequence (the nucleotide tokenizer's). The first base of a stretch is
    not scored (nothing predicts it). limit: reset the state every ``limit`` bases (None: never).
    """
    if ids.dim() != 1:
        raise ValueError(f"ids: expected one 1-D sequence, got shape {tuple(ids.shape)}")
    starts = segment_starts(len(ids), length, segments)
    rows = torch.stack([ids[s: s + length] for s in starts]).long().to(device)
    reset = None
    if limit is not None:
        if limit < 1:
            raise ValueError(f"limit {limit}: must be a positive number of bases")
        reset = torch.zeros_like(rows, dtype=torch.bool)
        reset[:, limit::limit] = True
    nats = torch.zeros(length - 1, dtype=torch.float64)
    model.eval()
    state = None
    for begin in range(0, length - 1, block):
        end = min(begin + block, length - 1)
        logits, state = model(rows[:, begin:end], state,
                              reset=None if reset is None or not reset[:, begin:end].any() else reset[:, begin:end])
        logits = logits.to(torch.promote_types(logits.dtype, torch.float32))  # bf16 up, float64 kept
        loss = F.cross_entropy(logits.transpose(1, 2), rows[:, begin + 1: end + 1], reduction="none")
        nats[begin:end] = loss.sum(0).double().cpu()
    # target at position p + 1 was predicted with p + 1 bases of context: bin by that count
    context = torch.arange(1, length)
    bins = []
    for lo, hi in context_bins(length, first_bin):
        inside = (context >= lo) & (context < hi)
        count = int(inside.sum()) * segments
        if count:
            bins.append(ContextBin(lo, hi, float(nats[inside].sum()) / count / math.log(2), count))
    return bins


def _short(n: int) -> str:
    return f"{n // 1024}K" if n >= 1024 and n % 1024 == 0 else str(n)
