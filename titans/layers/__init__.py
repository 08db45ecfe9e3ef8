"""nn.Modules built on the ops."""

from .memory_state import MemoryState
from .neural_memory import NeuralMemory
from .short_conv import ShortConv

__all__ = ["MemoryState", "NeuralMemory", "ShortConv"]
