"""The long-context tasks' common shape: a sample is a prompt to read and a short answer to produce.

A task turns (length, depth, seed) into a :class:`Sample` whose prompt is exactly ``length`` bytes (the
haystack, the hidden needle or facts, and the question) and whose answer is a short ASCII string the
model must continue the prompt with, followed by a period. The same arguments always give the same
sample, on any machine: every random choice comes from ``random.Random(seed)``.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass

from .haystack import Haystack, insert_at_depths

ANSWER_END = b"."
"""What follows every answer (training teaches the model to stop there; scoring cuts there)."""


@dataclass(frozen=True)
class Sample:
    prompt: bytes
    """Everything the model reads before answering: exactly the requested length."""
    answer: str
    """The exact answer (digits, a word, a name): scored by exact match."""
    task: str
    depth: float | None
    """Where the needle sits in the haystack (0 = start, 1 = end); None for multi-fact stories."""
    fact_spans: tuple[tuple[int, int], ...] = ()
    """(start, end) of every needle or fact in the prompt (training scores them: see task_batches)."""

    @property
    def last_fact_word(self) -> str:
        """The last word of the last fact in the prompt: what answering by recency alone says. A bAbI
        model that scores no better than this has not read the question (qa1's last move is often
        the person asked about)."""
        if not self.fact_spans:
            return ""
        start, end = self.fact_spans[-1]
        words = re.findall(r"\w+", self.prompt[start:end].decode("utf-8", errors="replace"))
        return words[-1] if words else ""

    @property
    def completion(self) -> bytes:
        """What a perfect model writes after the prompt: a space, the answer, the end mark."""
        return b" " + self.answer.encode() + ANSWER_END


def sample_seed(*parts) -> int:
    """A seed from any labels (task, length, depth, index, base seed), stable across runs and machines."""
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "big")


class Task:
    """A long-context task: subclasses give ``name`` and ``facts(rng)`` -> (facts, question, answer)."""

    name: str
    needs_depth = True  # single-needle tasks place their needle at a depth; stories scatter their facts

    def __init__(self, haystack: Haystack, part: str):
        self.haystack, self.part = haystack, part

    def facts(self, rng: random.Random) -> tuple[list[bytes], bytes, str]:
        raise NotImplementedError

    def sample(self, length: int, depth: float | None, seed: int) -> Sample:
        """A prompt of exactly ``length`` bytes: haystack + facts (at ``depth``, or scattered) + question."""
        rng = random.Random(seed)
        facts, question, answer = self.facts(rng)
        room = length - len(question) - sum(len(f) for f in facts)
        if room < 0:
            need = length - room
            raise ValueError(f"{self.name}: a prompt of {length} bytes cannot hold its facts and question "
                             f"({need} bytes); use a length of at least {need}")
        if self.needs_depth:
            if depth is None or not 0.0 <= depth <= 1.0:
                raise ValueError(f"{self.name}: needs a needle depth in [0, 1], got {depth}")
            depths = [depth] * len(facts)
        else:
            depths = sorted(rng.random() for _ in facts)
        body, starts = insert_at_depths(self.haystack.take(room, rng), facts, depths)
        spans = tuple((at, at + len(fact)) for at, fact in zip(starts, facts))
        return Sample(body + question, answer, self.name, depth if self.needs_depth else None, spans)
