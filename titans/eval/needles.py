"""S-NIAH: RULER's three single-needle tasks (SPEC §5), in this project's own wording.

- ``pk``: a 5-7 digit pass key hidden in repeated filler sentences;
- ``n``: a 7-digit "special magic number" for a key word, hidden in real prose;
- ``w``: a "special magic word" for a key word, hidden in real prose (``value="uuid"`` asks for a UUID);
  its training values are random letters (:func:`titans.eval.vocabulary.random_letters`), so that
  only copying answers them.

The needle is stated once; the question at the end asks for the value and ends where the answer
follows ("... The pass key is", repeating the needle's words; "... It is" for N and W), so that the
answer is the continuation (a base model needs no instruction). Key and value words come from
:mod:`titans.eval.vocabulary`, the training and evaluation parts disjoint.
"""

from __future__ import annotations

import random
import uuid

from .haystack import Haystack
from .tasks import Task
from .vocabulary import KEYS, VALUES, part_of, random_letters


KEY_KINDS = ("any", "distinct", "repeated")


def pass_key(rng: random.Random, kind: str = "any") -> str:
    """A 5-7 digit key: any number, or one whose digits are all different, or one holding some digit
    twice or more. A key with a repeated digit is where a copy that finds the next digit by the last one
    alone goes wrong (after the repeated digit it can continue from either place)."""
    while True:
        digits = rng.randint(5, 7)
        key = str(rng.randrange(10 ** (digits - 1), 10**digits))
        distinct = len(set(key)) == len(key)
        if kind == "any" or distinct == (kind == "distinct"):
            return key


class PassKey(Task):
    name = "pk"

    def __init__(self, haystack: Haystack | None = None, part: str = "eval", keys: str = "any"):
        if keys not in KEY_KINDS:
            raise ValueError(f"pass keys are one of {KEY_KINDS}, got {keys!r}")
        super().__init__(haystack or Haystack.filler(), part)
        self.keys = keys

    def facts(self, rng: random.Random):
        key = pass_key(rng, self.keys)
        needle = f"The pass key is {key}. Remember it. {key} is the pass key. ".encode()
        return [needle], b"\nWhat is the pass key? The pass key is", key


class MagicNumber(Task):
    name = "n"

    def facts(self, rng: random.Random):
        key = rng.choice(part_of(KEYS, self.part))
        number = str(rng.randrange(10**6, 10**7))
        needle = f"One of the special magic numbers for {key} is: {number}. ".encode()
        return [needle], f"\nWhat is the special magic number for {key}? It is".encode(), number


class MagicWord(Task):
    name = "w"

    def __init__(self, haystack: Haystack, part: str, value: str = "word"):
        if value not in ("word", "uuid"):
            raise ValueError(f"W needle values are 'word' or 'uuid', got {value!r}")
        super().__init__(haystack, part)
        self.value = value

    def facts(self, rng: random.Random):
        key = rng.choice(part_of(KEYS, self.part))
        if self.value == "uuid":
            answer = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        elif self.part == "train":
            answer = random_letters(rng)
        else:
            answer = rng.choice(part_of(VALUES, self.part))
        needle = f"One of the special magic words for {key} is: {answer}. ".encode()
        return [needle], f"\nWhat is the special magic word for {key}? It is".encode(), answer
