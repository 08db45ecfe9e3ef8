"""``TitansCache``: the :class:`titans.models.ModelState` (every block's memory weights, momentum, open
chunk and attention cache) carried through ``generate`` as a transformers ``Cache``."""

from __future__ import annotations

from transformers.cache_utils import Cache

from ..models import ModelState


class TitansCache(Cache):
    """Holds the state TitansLM returned after the tokens read so far; ``generate`` passes it back to
    the model at every step, so the prompt is read once and each new token once.

    A left-padded batch of a memory variant is read one row at a time, its padding dropped (the memory's
    chunks are aligned to positions, so padding would shift them): then ``rows`` holds each row's state,
    and ``state`` is None.

    ``get_seq_length()`` counts the tokens read (padding included, as transformers counts them). A cache
    can be passed to ``generate(..., cache=TitansCache())`` to continue a conversation: it is updated in
    place. Beam search and cropping (assisted decoding) would need the memory's past states and are not
    supported.
    """

    is_compileable = False
    is_croppable = False

    def __init__(self, state: ModelState | None = None):
        super().__init__(layers=[])
        self.state = state
        self.rows: list[ModelState | None] | None = None
        self.row_columns = 0  # the columns (padding included) read in rows mode

    def __repr__(self) -> str:
        return f"TitansCache(tokens={self.get_seq_length()})"

    def get_seq_length(self, layer_idx: int = 0) -> int:
        if self.rows is not None:
            return self.row_columns
        return 0 if self.state is None else self.state.position

    def get_max_length(self, layer_idx: int | None = None) -> int:
        return -1  # unbounded: the state has a fixed size whatever the context

    @property
    def is_linear(self) -> list[bool]:
        return []

    def reset(self) -> None:
        self.state, self.rows, self.row_columns = None, None, 0

    def _unsupported(self, what: str):
        raise NotImplementedError(f"TitansCache: {what} is not supported (the memory's state cannot be rolled "
                                  f"back or reordered); use greedy or sampling decoding with num_beams=1")

    def crop(self, tokens_to_remove: int) -> None:
        self._unsupported("cropping (assisted / speculative decoding)")

    def reorder_cache(self, beam_idx):
        self._unsupported("beam search")

    def batch_select_indices(self, indices):
        self._unsupported("selecting batch rows")

    def batch_repeat_interleave(self, repeats: int):
        if self.get_seq_length() > 0:
            self._unsupported("expanding a filled cache")
