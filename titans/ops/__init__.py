"""Pure tensor functions: the long-term memory update, naive reference and chunk-parallel form."""

from .chunk import chunk_memory_update
from .naive import naive_memory_update

__all__ = ["chunk_memory_update", "naive_memory_update"]
