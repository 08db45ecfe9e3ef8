"""Hugging Face ``transformers`` integration (optional extra ``hf``): a config, a causal LM with
``generate``, a cache that carries the Titans state, a byte tokenizer, and Auto* registration.

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
from .tokenization import TitansByteTokenizer  # noqa: E402

AutoConfig.register(TitansHFConfig.model_type, TitansHFConfig, exist_ok=True)
AutoModelForCausalLM.register(TitansHFConfig, TitansForCausalLM, exist_ok=True)
AutoTokenizer.register(TitansHFConfig, slow_tokenizer_class=TitansByteTokenizer, exist_ok=True)

__all__ = ["TitansByteTokenizer", "TitansCache", "TitansForCausalLM", "TitansHFConfig", "from_titans"]
