"""Evaluations: perplexity and bits per byte (long-context tasks come with their own modules)."""

from .perplexity import LanguageModelScore, score_language_model

__all__ = ["LanguageModelScore", "score_language_model"]
