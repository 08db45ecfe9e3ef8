"""nn.Modules built on the ops."""

from .attention import AttentionState, SlidingWindowAttention
from .feedforward import SwiGLU
from .memory_state import MemoryState
from .neural_memory import NeuralMemory
from .rope import RotaryEmbedding
from .segment_attention import SegmentAttention
from .short_conv import ShortConv

__all__ = ["AttentionState", "MemoryState", "NeuralMemory", "RotaryEmbedding", "SegmentAttention", "ShortConv",
           "SlidingWindowAttention", "SwiGLU"]
