"""The sliding-window attention baseline: the short-term memory alone, no long-term memory."""

from __future__ import annotations

from ..config import TitansConfig
from .transformer import AttentionBlock


class SWABlock(AttentionBlock):
    """Causal attention over the last ``config.window`` tokens."""

    def __init__(self, config: TitansConfig):
        super().__init__(config, window=config.window)
