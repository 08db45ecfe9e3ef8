"""The models: one file per variant (mac, mag, mal, lmm) and baseline (transformer, swa), and the LM."""

from .lm import BLOCKS, ModelState, TitansLM

__all__ = ["BLOCKS", "ModelState", "TitansLM"]
