"""The deterministic train/validation split: the same corpus always splits the same way, on any machine.

With many documents (at least :data:`MIN_DOCUMENTS_FOR_HASH_SPLIT`) whole documents go one way or the
other, chosen by a sha256 of the name, not by position or by Python's salted ``hash``: adding or
removing documents never moves any other document across the split. With few documents (six novels, one
enwik8 file) that would give a lopsided or empty split, so instead the last ``valid_fraction`` of each
document's characters is held out, cut at a line break where one is near.
"""

from __future__ import annotations

import hashlib
import math

from .document import Document

MIN_DOCUMENTS_FOR_HASH_SPLIT = 20


def split_documents(docs: list[Document], valid_fraction: float = 0.05) -> tuple[list[Document], list[Document]]:
    """(train, validation) from ``docs``, both non-empty, each keeping the input order.

    See the module doc for the two regimes. Raises ValueError for no documents, no text, or a
    fraction outside (0, 0.5].
    """
    if not 0.0 < valid_fraction <= 0.5:
        raise ValueError(f"valid_fraction must be in (0, 0.5], got {valid_fraction}")
    if not docs:
        raise ValueError("cannot split an empty corpus: there are no documents")
    if len(docs) >= MIN_DOCUMENTS_FOR_HASH_SPLIT:
        return _split_by_name(docs, valid_fraction)
    return _split_tails(docs, valid_fraction)


def name_position(name: str) -> float:
    """Where a name falls in [0, 1): the first 8 bytes of its UTF-8 sha256 as a fraction."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def _split_by_name(docs: list[Document], fraction: float) -> tuple[list[Document], list[Document]]:
    positions = [name_position(d.name) for d in docs]
    held = [p < fraction for p in positions]
    if not any(held):
        # Few documents and an unlucky draw: hold out the one the hash places first, still stable.
        held[min(range(len(docs)), key=positions.__getitem__)] = True
    if all(held):  # not reachable for fraction <= 0.5 in practice, but a train set must exist
        held[max(range(len(docs)), key=positions.__getitem__)] = False
    train = [d for d, h in zip(docs, held) if not h]
    valid = [d for d, h in zip(docs, held) if h]
    return train, valid


def _split_tails(docs: list[Document], fraction: float) -> tuple[list[Document], list[Document]]:
    train, valid = [], []
    for doc in docs:
        if not doc.text:
            continue
        cut = _cut_point(doc.text, fraction)
        if cut > 0:
            train.append(Document(doc.name, doc.text[:cut]))
        if cut < len(doc.text):
            valid.append(Document(doc.name, doc.text[cut:]))
    if not train or not valid:
        raise ValueError(f"cannot split {len(docs)} document(s) of {sum(len(d.text) for d in docs)} characters "
                         f"into train and validation: the corpus is too small (or empty)")
    return train, valid


def _cut_point(text: str, fraction: float) -> int:
    """Where the validation tail starts: ``ceil(fraction * len)`` characters from the end, moved to the
    nearest line break within a quarter of the tail's length either way (else the nearest space), so
    that neither part starts mid-line. The tail stays at least one character long."""
    n = len(text)
    tail = max(1, math.ceil(fraction * n))
    ideal = n - tail
    slack = tail // 4
    lo, hi = max(1, ideal - slack), min(n - 1, ideal + slack)
    for sep in ("\n", " "):
        before = text.rfind(sep, lo, ideal + 1)
        after = text.find(sep, ideal, hi + 1)
        candidates = [i + 1 for i in (before, after) if i != -1 and i + 1 < n]
        if candidates:
            return min(candidates, key=lambda c: abs(c - ideal))
    return ideal
