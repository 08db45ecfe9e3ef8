"""A subword tokenizer fitted to the run's own training text: ``tokenizer = "bpe-4096"``.

A byte-level model spends its first millions of tokens learning to spell; a subword vocabulary hands it
whole words, so each token carries 3-4 bytes of English and a small model sees that many times more text
per step. The paper's 32K Llama-2 vocabulary is too large for the small presets (its embedding alone
would be 4M parameters at width 128), so this fits a SentencePiece BPE of the size asked for to the
training split only (the held-out documents never shape it), caches it under the data folder by a
digest of that text and the settings, and the run saves it beside every checkpoint like any other.

The settings keep it lossless, so that bits per byte stay comparable with byte-level runs: no text
normalisation, no dummy space before a document, whitespace kept as it is, digits split one by one, and
byte fallback (a character never seen becomes its UTF-8 bytes, never ``<unk>``); the one byte count it
gets wrong is a literal ``▁`` (U+2581, SentencePiece's own space mark) in the text, counted as one byte
instead of three. Training runs on one thread so that the same text always gives the same vocabulary.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from collections.abc import Sequence

from .cache import data_dir
from .tokenizers import SentencePieceTokenizer

PREFIX = "bpe-"
MIN_VOCAB = 320  # the 256 byte pieces, <unk> and room for the text's characters and some merges
MAX_VOCAB = 65536
FIT_CHARS = 64 << 20  # fit on at most 64M characters of lines, taken evenly from the text: memory stays bounded
LINE_CHARS = 1 << 14  # longer lines (text8 is one line of 10^8) are cut at a space: SentencePiece skips long ones
_SETTINGS_VERSION = 1  # bump when the options below change: the cache key includes it

_OPTIONS = dict(model_type="bpe", byte_fallback=True, character_coverage=0.9995, split_digits=True,
                normalization_rule_name="identity", add_dummy_prefix=False, remove_extra_whitespaces=False,
                allow_whitespace_only_pieces=True, max_sentence_length=1 << 16, bos_id=-1, eos_id=-1,
                unk_id=0, pad_id=-1, num_threads=1, minloglevel=2)


def subword_vocab_size(name: str) -> int | None:
    """The vocabulary size a ``"bpe-N"`` name asks for, None for any other name; a malformed or
    out-of-range N is an error that says what is accepted."""
    if not name.startswith(PREFIX):
        return None
    match = re.fullmatch(re.escape(PREFIX) + r"(\d+)", name)
    if not match or not MIN_VOCAB <= int(match.group(1)) <= MAX_VOCAB:
        raise ValueError(f"tokenizer {name!r}: expected bpe-N with N pieces in [{MIN_VOCAB}, {MAX_VOCAB}], "
                         f"e.g. bpe-4096")
    return int(match.group(1))


def fit_subword_tokenizer(texts: Sequence[str], vocab_size: int) -> SentencePieceTokenizer:
    """A BPE of ``vocab_size`` pieces fitted to ``texts`` (the training documents), read from the cache
    when the same texts were fitted before."""
    lines = _fitting_lines(texts)
    digest = hashlib.sha256(f"v{_SETTINGS_VERSION} {vocab_size}\n".encode())
    for line in lines:
        digest.update(line.encode("utf-8", errors="surrogatepass") + b"\n")
    name = f"{PREFIX}{vocab_size}"
    path = data_dir() / "tokenizers" / f"{name}-{digest.hexdigest()[:16]}.model"
    if path.is_file():
        return SentencePieceTokenizer(path, name=name)
    proto = _fit(lines, vocab_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(handle, "wb") as file:
        file.write(proto)
    os.replace(partial, path)  # atomic: a process beside this one never reads half a model
    return SentencePieceTokenizer(path, name=name)


def _fitting_lines(texts: Sequence[str]) -> list[str]:
    """The texts' non-empty lines (SentencePiece fits on lines; a newline falls back to its byte), long
    ones cut at spaces, every k-th one where there are more than FIT_CHARS of them."""
    lines = [part for text in texts for line in text.split("\n") if line for part in _cut(line)]
    if not lines:
        raise ValueError("cannot fit a subword tokenizer: the training documents have no text")
    stride = max(1, -(-sum(map(len, lines)) // FIT_CHARS))
    return lines[::stride]


def _cut(line: str) -> list[str]:
    """``line`` in parts of at most LINE_CHARS characters, each ending before a space where there is one."""
    parts, start = [], 0
    while len(line) - start > LINE_CHARS:
        end = line.rfind(" ", start + 1, start + LINE_CHARS)
        end = end if end > start else start + LINE_CHARS
        parts.append(line[start:end])
        start = end
    parts.append(line[start:])
    return parts


def _fit(lines: list[str], vocab_size: int) -> bytes:
    """The model's bytes; SentencePiece's RuntimeError (e.g. "Vocabulary size is too high", when the text
    has fewer distinct pieces than asked for) becomes a ValueError that says what to change."""
    import sentencepiece

    model = io.BytesIO()
    try:
        sentencepiece.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=model,
                                                 vocab_size=vocab_size, **_OPTIONS)
    except RuntimeError as error:
        raise ValueError(f"cannot fit a {vocab_size}-piece subword tokenizer to this text ({error}); ask for "
                         f"fewer pieces (bpe-N with a smaller N) or give more text") from None
    return model.getvalue()
