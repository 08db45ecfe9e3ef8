"""Titans: Learning to Memorize at Test Time (Behrouz, Zhong, Mirrokni, 2024) in PyTorch."""

__version__ = "0.1.0"

from .layers import MemoryState, NeuralMemory

__all__ = ["MemoryState", "NeuralMemory"]
