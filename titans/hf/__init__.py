"""Hugging Face ``transformers`` integration (optional extra ``hf``): a config, a causal LM with
``generate``, a cache that carries the Titans state, byte and SentencePiece tokenizers, and Auto* registration.

``import titans.hf`` registers ``model_type = "titans"`` with ``AutoConfig``, ``AutoModelForCausalLM`` and
``AutoTokenizer``; then ``AutoModelForCausalLM.from_pretrained(folder)`` loads a folder written by
``TitansForCausalLM.save_pretrained`` or by ``titans export RUN --format hf OUT``.
"""

from __future__ import annotations

from ._version import check_transformers

check_transformers()

from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from .cache import TitansCache  # noqa: E402
from .configuration import TitansHFConfig  # noqa: E402
from .modeling import TitansForCausalLM, from_titans  # noqa: E402
from .tokenization import TitansByteTokenizer, TitansSentencePieceTokenizer  # noqa: E402

AutoConfig.register(TitansHFConfig.model_type, TitansHFConfig, exist_ok=True)
AutoModelForCausalLM.register(TitansHFConfig, TitansForCausalLM, exist_ok=True)
# both tokenizer classes become known by name (tokenizer_config.json names its class); the last registered
# is the one AutoTokenizer falls back to for a folder that names none: bytes
AutoTokenizer.register(TitansHFConfig, tokenizer_class=TitansSentencePieceTokenizer, exist_ok=True)
AutoTokenizer.register(TitansHFConfig, tokenizer_class=TitansByteTokenizer, exist_ok=True)

__all__ = ["TitansByteTokenizer", "TitansCache", "TitansForCausalLM", "TitansHFConfig", "TitansSentencePieceTokenizer",
           "from_titans"]
