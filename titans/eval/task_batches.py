"""Training batches of long-context task samples: the "documented mixture" the recall models learn from.

Every row of a batch is one fresh sample: a task drawn uniformly from the mixture, a needle depth drawn
uniformly in [0, 1], a prompt that fills the row, then the completion (`` answer.``), then newlines up
to the row's end. The completion and the needle or facts are scored, the haystack and the question are
not: the loss teaches recall, and the needle's own repetition ("The pass key is K. ... K is the pass
key.") gives a short-range copy to learn first, a curriculum for the long-range one. The haystack is
left out because its language-model loss would swamp the few answer tokens. With ``questions > 1`` the
question is also asked, and answered (scored), at random places after the facts: more copies per step.
Rows never continue one another (no carried state), and a batch is a pure function of (seed, index), so a
resumed run sees the same data.
Training draws from the "train" vocabulary and haystack (:mod:`titans.eval.vocabulary`), never the
evaluation ones.
"""

from __future__ import annotations

import random

import torch

from ..data.batching import Batch
from .catalog import TASKS, make_tasks
from .haystack import insert_at_depths
from .tasks import ANSWER_END, sample_seed

TASK_DATA_PREFIX = "tasks:"
COMPLETION_ROOM = 16
"""Bytes kept after each training prompt for the completion (the longest training answer is 12)."""


def is_task_mixture(data: str) -> bool:
    return data.startswith(TASK_DATA_PREFIX)


def parse_mixture(data: str) -> list[str]:
    """``"tasks:pk,n,w"`` -> ``["pk", "n", "w"]``; ``"tasks:all"`` -> every task."""
    names = [n.strip() for n in data.removeprefix(TASK_DATA_PREFIX).split(",") if n.strip()]
    if names == ["all"]:
        return list(TASKS)
    if not names:
        raise ValueError(f"{data!r} names no task; write e.g. 'tasks:pk,n,w' or 'tasks:all' ({', '.join(TASKS)})")
    unknown = [n for n in names if n not in TASKS]
    if unknown:
        raise ValueError(f"{data!r}: unknown task(s) {', '.join(unknown)}; tasks: {', '.join(TASKS)}")
    return names


class TaskBatches:
    """Batches of ``rows x context`` byte tokens from a task mixture (see the module doc).

    Has the interface of :class:`titans.data.batching.PackedLanes` that the trainer and the validation
    scorer use: ``batch(i)``, ``is_lane_start(i)``, ``rows``, ``context``, ``batches_per_epoch``.
    """

    batches_per_epoch = 2**62  # samples are drawn, not read: there are no epochs

    def __init__(self, names: list[str], rows: int, context: int, *, seed: int = 0, part: str = "train",
                 questions: int = 1):
        if context < 256:
            raise ValueError(f"task samples need a context of at least 256 bytes, got {context}")
        if questions < 1:
            raise ValueError(f"questions per sample must be at least 1, got {questions}")
        self.tasks = make_tasks(names, part)
        self.names = names
        self.rows, self.context, self.seed, self.questions = rows, context, seed, questions
        self.documents = [list(self._row(0, 0)[0][:-COMPLETION_ROOM])]  # a prompt, for a training sample

    def _row(self, index: int, row: int) -> tuple[bytes, list[tuple[int, int]]]:
        """The row's ``context + 1`` bytes and the (start, end) spans to score: facts, answers, completion."""
        rng = random.Random(sample_seed("mixture", self.seed, index, row))
        name = rng.choice(self.names)
        task, seed, extra = self.tasks[name], sample_seed(name, self.seed, index, row), self.questions - 1
        _, question, answer = task.facts(random.Random(seed))  # what task.sample will draw from this seed
        answered = question + b" " + answer.encode() + ANSWER_END  # == question + sample.completion
        asked = answered + b"\n"
        sample = task.sample(self.context + 1 - COMPLETION_ROOM - extra * len(asked), rng.random(), seed)
        completion = sample.completion
        if len(completion) > COMPLETION_ROOM:
            raise ValueError(f"{name}: completion {completion!r} longer than {COMPLETION_ROOM} bytes")
        prompt, spans = sample.prompt, list(sample.fact_spans)
        if extra:  # the question asked (and answered) again at random places after the facts
            after, end = (spans[-1][1] if spans else 0), len(prompt) - len(question)
            depths = sorted(rng.random() for _ in range(extra))
            between, starts = insert_at_depths(prompt[after:end], [asked] * extra, depths)
            prompt = prompt[:after] + between + prompt[end:]
            spans += [(after + at + len(question), after + at + len(answered)) for at in starts]
        start = len(prompt)
        text = prompt + completion + b"\n" * (COMPLETION_ROOM - len(completion))
        return text, [*spans, (start, start + len(completion))]

    def batch(self, global_index: int) -> Batch:
        tokens = torch.empty(self.rows, self.context + 1, dtype=torch.int64)
        scored = torch.zeros(self.rows, self.context, dtype=torch.bool)
        for r in range(self.rows):
            text, spans = self._row(global_index, r)
            tokens[r] = torch.frombuffer(bytearray(text), dtype=torch.uint8).long()
            for start, end in spans:
                scored[r, max(start - 1, 0):end - 1] = True  # target j is token j + 1
        reset = torch.zeros(self.rows, self.context, dtype=torch.bool)
        return Batch(tokens[:, :-1], tokens[:, 1:], reset, scored, 0, global_index)

    def is_lane_start(self, global_index: int) -> bool:
        return True  # every row is a new sample: nothing is carried
