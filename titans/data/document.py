"""The unit every corpus is made of."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Document:
    """One document of a corpus: a Wikipedia page, a play, a novel, a file.

    name: stable and unique within its corpus (the train/validation split hashes it).
    text: the document as ``str``. Files are decoded as UTF-8, with any invalid byte replaced by U+FFFD
    (enwik8 is cut at exactly 10^8 bytes, which can split the last character). Byte-level models and
    bits-per-byte still see the original bytes via ``text.encode()`` wherever the input was valid UTF-8.
    """

    name: str
    text: str

    def __repr__(self) -> str:  # the text can be megabytes: never print it whole
        return f"Document(name={self.name!r}, chars={len(self.text):,})"
