"""Titans: Learning to Memorize at Test Time (Behrouz, Zhong, Mirrokni, 2024) in PyTorch."""

__version__ = "0.1.0"

from .config import TitansConfig
from .layers import MemoryState, NeuralMemory
from .models import ModelState, TitansLM

__all__ = ["MemoryState", "ModelState", "NeuralMemory", "TitansConfig", "TitansLM"]
