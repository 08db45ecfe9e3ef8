"""``TitansHFConfig``: a transformers config holding every ``TitansConfig`` field at its top level."""

from __future__ import annotations

import dataclasses

from transformers import PretrainedConfig

from ..config import TitansConfig
from .remote_code import CONFIG_AUTO_MAP

TITANS_FIELDS = tuple(f.name for f in dataclasses.fields(TitansConfig))


class TitansHFConfig(PretrainedConfig):
    """The fields of :class:`titans.config.TitansConfig` (validated by it), plus transformers' own.

    ``TitansHFConfig(variant="mac", dim=64)``, ``TitansHFConfig.from_titans(config)``, ``.to_titans()``.
    """

    model_type = "titans"
    keys_to_ignore_at_inference = ["cache"]

    def __init__(self, **kwargs):
        titans = {k: kwargs.pop(k) for k in TITANS_FIELDS if k in kwargs}
        validated = TitansConfig(**titans)  # a bad field fails here, with TitansConfig's message
        for name, value in validated.to_dict().items():
            setattr(self, name, value)
        # TitansLM ties (or not) its head itself; transformers must not tie or untie anything
        kwargs.pop("tie_word_embeddings", None)
        self.tie_word_embeddings = False
        self.use_cache = kwargs.pop("use_cache", True)
        # a saved folder names its loader modules (remote_code.py), for trust_remote_code without import titans.hf
        kwargs.setdefault("auto_map", dict(CONFIG_AUTO_MAP))
        super().__init__(**kwargs)

    @classmethod
    def from_titans(cls, config: TitansConfig, **kwargs) -> "TitansHFConfig":
        return cls(**config.to_dict(), **kwargs)

    def to_titans(self) -> TitansConfig:
        return TitansConfig(**{name: getattr(self, name) for name in TITANS_FIELDS})

    # the names transformers' utilities look for
    @property
    def hidden_size(self) -> int:
        return self.dim

    @property
    def num_hidden_layers(self) -> int:
        return self.layers

    @property
    def num_attention_heads(self) -> int:
        return self.heads
