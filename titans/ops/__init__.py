"""Pure tensor functions: the long-term memory update (naive reference and chunk-parallel form) and
sliding-window attention (blocked, with its naive reference)."""

from .attention import attention_reference, sliding_window_attention
from .chunk import chunk_memory_update
from .naive import naive_memory_update

__all__ = ["attention_reference", "chunk_memory_update", "naive_memory_update", "sliding_window_attention"]
