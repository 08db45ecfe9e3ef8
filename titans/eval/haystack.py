"""Haystacks: the long text the needles and facts of the long-context tasks hide in.

Everything is bytes: the models read bytes, so a length is a number of bytes and a sample is exact to
the byte. Two kinds, as in RULER:
- repeated filler sentences (S-NIAH PK), where everything but the needle is predictable;
- real prose, a contiguous stretch of a corpus starting at a random sentence, wrapping around at its
  end. Training reads Shakespeare's plays, evaluation Jane Austen's novels (or a file the user names),
  so that no haystack passage is seen in both.
"""

from __future__ import annotations

import random
from pathlib import Path

from ..data import load_documents

# what each split reads by default (recipes of titans.data: fetched once, then cached)
TRAIN_CORPUS = "shakespeare"
EVAL_CORPUS = "austen"

_FILLER = (b"The river runs on to the sea. The hills are quiet in the evening. A bird sings on the old wall. "
           b"The lamps are lit along the road. Here we are, and there we go again. ")
_BOUNDARIES = (b". ", b".\n", b"\n")
_SEARCH = 400  # how far back from the requested depth a sentence boundary is looked for


class Haystack:
    """A source of ``take(n, rng)`` -> exactly ``n`` bytes of background text."""

    def __init__(self, text: bytes, *, name: str, repeat: bool = False):
        if len(text) < 64:
            raise ValueError(f"haystack {name!r} has {len(text)} bytes; it needs real text (at least 64 bytes)")
        self.text, self.name, self.repeat = text, name, repeat
        self._starts = [0] if repeat else _sentence_starts(text)

    @classmethod
    def filler(cls) -> Haystack:
        """The same few sentences over and over (the passkey task's haystack)."""
        return cls(_FILLER, name="filler", repeat=True)

    @classmethod
    def from_corpus(cls, source: str | Path) -> Haystack:
        """Prose from a corpus recipe (``austen``, ``shakespeare``...) or a local text file or folder."""
        documents = load_documents(source)
        text = "\n".join(d.text.replace("\r\n", "\n") for d in documents).encode()
        return cls(text, name=str(source))

    @classmethod
    def for_part(cls, part: str) -> Haystack:
        """The default prose of a vocabulary part: Shakespeare for training, Austen for evaluation."""
        return cls.from_corpus(TRAIN_CORPUS if part == "train" else EVAL_CORPUS)

    def take(self, n: int, rng: random.Random) -> bytes:
        """``n`` bytes that start at a sentence (random for prose) and wrap around the text if needed."""
        if n <= 0:
            return b""
        start = self._starts[rng.randrange(len(self._starts))]
        out = bytearray(self.text[start:start + n])
        while len(out) < n:
            out += self.text[:n - len(out)]
        return bytes(out)


def _sentence_starts(text: bytes) -> list[int]:
    """Offsets just after every sentence or line end (where a stretch of prose may begin)."""
    starts = [0]
    for boundary in _BOUNDARIES:
        at = text.find(boundary)
        while at != -1:
            starts.append(at + len(boundary))
            at = text.find(boundary, at + 1)
    return sorted(set(s for s in starts if s < len(text)))


def insert_at_depths(haystack: bytes, items: list[bytes], depths: list[float]) -> tuple[bytes, list[int]]:
    """``haystack`` with each item inserted at its depth (0 = the start, 1 = the end), moved back to the
    nearest sentence boundary within a few hundred bytes so that no sentence is cut in two; and where
    each item starts in the result.

    depths must be sorted: the items keep their order (a story's facts stay in sequence).
    """
    if len(items) != len(depths):
        raise ValueError(f"{len(items)} items but {len(depths)} depths")
    if any(not 0.0 <= d <= 1.0 for d in depths) or list(depths) != sorted(depths):
        raise ValueError(f"depths must be sorted fractions in [0, 1], got {depths}")
    pieces, starts, previous, inserted = [], [], 0, 0
    for item, depth in zip(items, depths):
        at = max(previous, _boundary_before(haystack, round(depth * len(haystack)), previous))
        pieces += [haystack[previous:at], item]
        starts.append(at + inserted)
        previous, inserted = at, inserted + len(item)
    pieces.append(haystack[previous:])
    return b"".join(pieces), starts


def _boundary_before(text: bytes, at: int, floor: int) -> int:
    """The last sentence boundary at or before ``at`` and not before ``floor`` (where the previous item
    went, itself a boundary), at most a few hundred bytes back; a space when there is none; else ``at``."""
    if at >= len(text) or at <= floor:
        return min(at, len(text))
    low = max(floor, at - _SEARCH)
    found = [text.rfind(b, low, at) + len(b) for b in _BOUNDARIES if text.rfind(b, low, at) != -1]
    if floor >= low:
        found.append(floor)
    if found:
        return max(found)
    space = text.rfind(b" ", low, at)
    return space + 1 if space != -1 else at
