"""The long-context tasks by name, built for the training or the evaluation part of the vocabulary."""

from __future__ import annotations

from pathlib import Path

from .babi import (
    SingleFact,
    ThreeArgumentRelations,
    ThreeFacts,
    TwoArgumentRelations,
    TwoFacts,
)
from .haystack import Haystack
from .needles import MagicNumber, MagicWord, PassKey
from .tasks import Task

NIAH_TASKS = ("pk", "n", "w")
BABI_TASKS = ("qa1", "qa2", "qa3", "qa4", "qa5")
TASKS = NIAH_TASKS + BABI_TASKS

_CLASSES = {"pk": PassKey, "n": MagicNumber, "w": MagicWord, "qa1": SingleFact, "qa2": TwoFacts,
            "qa3": ThreeFacts, "qa4": TwoArgumentRelations, "qa5": ThreeArgumentRelations}


def make_tasks(names: list[str], part: str, haystack: str | Path | None = None) -> dict[str, Task]:
    """Tasks by name. Prose tasks read ``haystack`` (a recipe or a text file/folder), by default the
    part's own corpus (Shakespeare for "train", Austen for "eval"); the passkey always reads filler."""
    unknown = [n for n in names if n not in _CLASSES]
    if unknown:
        raise ValueError(f"unknown task(s) {', '.join(unknown)}; tasks: {', '.join(TASKS)}")
    prose = None
    tasks = {}
    for name in names:
        if name == "pk":
            tasks[name] = PassKey(part=part)
            continue
        if prose is None:
            prose = Haystack.from_corpus(haystack) if haystack is not None else Haystack.for_part(part)
        tasks[name] = _CLASSES[name](prose, part)
    return tasks
