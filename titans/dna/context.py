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

import torch

from ..eval.by_position import PositionBin, bits_by_position, position_bins
from ..models import TitansLM

context_bins = position_bins  # the bins of a genome stretch are those of any row of tokens


def segment_starts(total: int, length: int, segments: int) -> list[int]:
    """Start offsets of ``segments`` non-overlapping stretches of ``length`` spread evenly over ``total``."""
    if segments < 1 or length < 2:
        raise ValueError(f"segments {segments} and length {length}: need segments >= 1, length >= 2")
    if segments * length > total:
        raise ValueError(f"{segments} stretches of {length:,} bases do not fit in a sequence of {total:,}; "
                         f"ask for fewer or shorter ones")
    gap = (total - segments * length) // segments
    return [i * (length + gap) for i in range(segments)]


def bits_by_context(model: TitansLM, ids: torch.Tensor, *, length: int, segments: int, block: int = 4096,
                    first_bin: int = 1024, limit: int | None = None,
                    device: str | torch.device = "cpu", progress=None) -> list[PositionBin]:
    """Bits per base of ``model`` binned by position in the stretch (module doc): each bin's ``bits`` are
    bits per base and its ``tokens`` the bases scored.

    ids: 1-D token ids of one long sequence (the nucleotide tokenizer's). The first base of a stretch is
    not scored (nothing predicts it). limit: reset the state every ``limit`` bases (None: never).
    progress: as for :func:`~titans.eval.by_position.bits_by_position`.
    """
    if ids.dim() != 1:
        raise ValueError(f"ids: expected one 1-D sequence, got shape {tuple(ids.shape)}")
    rows = torch.stack([ids[s: s + length] for s in segment_starts(len(ids), length, segments)])
    return bits_by_position(model.to(device), rows, block=block, first_bin=first_bin, limit=limit,
                            progress=progress)
