"""Token-budget batches of packed documents, laid out in lanes so that state can be carried between steps.

The documents of an epoch (in a seeded order) are concatenated into one token stream, with a flag at every
document start, and the stream is cut into ``rows`` equal lanes. Batch k holds, for every lane, the
``context + 1`` tokens starting at ``k * context``: inputs are the first ``context``, targets the last.
So a row of a batch packs whole documents and pieces of longer ones, and the same row of the next batch
continues the same lane where this one stopped. A run that carries the model state from batch to batch
(truncated backpropagation through the memory) therefore reads every document in order, however long;
a run that does not starts each row afresh.

Document starts are passed to the model as ``reset`` (the memory restarts from W0, attention cannot look
back past them: SPEC §2), and the target that would be a document's first token is not scored: nothing
before a document start can predict it.

A batch is a pure function of its global index, so a resumed run needs only the step to continue.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Batch:
    """``inputs``/``targets``: ``[rows, context]`` int64; ``reset``: True at a document's first token;
    ``scored``: True where a target counts in the loss; ``epoch`` and ``index`` say where it came from."""

    inputs: torch.Tensor
    targets: torch.Tensor
    reset: torch.Tensor
    scored: torch.Tensor
    epoch: int
    index: int

    def rows(self, select: slice | list[int]) -> "Batch":
        """The same batch restricted to some rows (a micro-batch, or one process's share)."""
        return Batch(self.inputs[select], self.targets[select], self.reset[select], self.scored[select],
                     self.epoch, self.index)

    def device_reset(self, device) -> torch.Tensor | None:
        """``reset`` on ``device``, or None when no document starts in the batch: full attention then
        keeps its fused causal kernel instead of an explicit mask."""
        return self.reset.to(device) if bool(self.reset.any()) else None

    @property
    def num_scored(self) -> int:
        return int(self.scored.sum())


class PackedLanes:
    """Deterministic batches of ``rows x context`` tokens from tokenised documents (see the module doc).

    documents: token ids, lists or numpy arrays (empty ones are skipped). shuffle: reorder the documents
    each epoch with ``seed + epoch`` (validation keeps the given order).
    """

    def __init__(self, documents: list[list[int] | np.ndarray], rows: int, context: int, *, seed: int = 0,
                 shuffle: bool = True):
        if rows < 1 or context < 1:
            raise ValueError(f"rows and context must be positive, got rows={rows}, context={context}")
        self.documents = [d for d in documents if len(d)]
        if not self.documents:
            raise ValueError("no tokens to batch: every document is empty")
        self.rows, self.context, self.seed, self.shuffle = rows, context, seed, shuffle
        total = sum(len(d) for d in self.documents)
        self.lane_length = total // rows
        self.batches_per_epoch = (self.lane_length - 1) // context
        if self.batches_per_epoch < 1:
            need = rows * (context + 1)
            raise ValueError(f"the corpus has {total:,} tokens, fewer than one batch needs "
                             f"({rows} rows x {context + 1} = {need:,}); use a smaller context or batch, "
                             f"or more data")
        self._epoch, self._lanes = None, None

    def _layout(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The epoch's stream cut into lanes: tokens and document-start flags, ``[rows, lane_length]``."""
        if self._epoch != epoch:
            order = list(range(len(self.documents)))
            if self.shuffle:
                generator = torch.Generator().manual_seed(self.seed + epoch)
                order = torch.randperm(len(order), generator=generator).tolist()
            # the documents' own dtype (uint8 for bytes and bases: one byte a token, not eight); a batch widens
            tokens = torch.from_numpy(np.concatenate([np.asarray(self.documents[i]) for i in order]))
            starts = torch.zeros_like(tokens, dtype=torch.bool)
            offsets = torch.tensor([0] + [len(self.documents[i]) for i in order[:-1]]).cumsum(0)
            starts[offsets] = True
            n = self.rows * self.lane_length
            self._lanes = (tokens[:n].view(self.rows, -1), starts[:n].view(self.rows, -1))
            self._epoch = epoch
        return self._lanes

    def batch(self, global_index: int) -> Batch:
        """The batch at a position counted from the start of training (epochs follow one another)."""
        epoch, index = divmod(global_index, self.batches_per_epoch)
        tokens, starts = self._layout(epoch)
        window = slice(index * self.context, (index + 1) * self.context + 1)
        piece, flags = tokens[:, window].long(), starts[:, window]
        return Batch(piece[:, :-1], piece[:, 1:], flags[:, :-1].clone(), ~flags[:, 1:], epoch, index)

    def is_lane_start(self, global_index: int) -> bool:
        """True where the lanes start over (a new epoch): a carried state must be dropped there."""
        return global_index % self.batches_per_epoch == 0
