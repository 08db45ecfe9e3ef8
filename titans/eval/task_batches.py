"""Training batches of long-context task samples: the "documented mixture" the recall models learn from.

By default every row of a batch is one fresh sample: a task drawn uniformly from the mixture, a needle
depth drawn uniformly in [0, 1], a prompt that fills the row, then the completion (`` answer.``), then newlines up
to the row's end. The completion and the needle or facts are scored, the haystack and the question are
not: the loss teaches recall, and the needle's own repetition ("The pass key is K. ... K is the pass
key.") gives a short-range copy to learn first, a curriculum for the long-range one. The haystack is
left out because its language-model loss would swamp the few answer tokens. With ``questions > 1`` the
question is also asked, and answered (scored), at random places after the facts: more copies per step.
With ``min_length`` a row packs several samples instead, of lengths log-uniform in [min_length,
context] bytes, each a document of its own (``reset`` at its start): a length curriculum. Copying a key
is learned far sooner in short samples, where the needle takes a larger share of the attention, and the
skill then carries to the long ones (experiments/long_context/induction_probe.py measures it).
With ``align`` about half the samples (a coin per sample; one too short to lose the bytes keeps its
length) end their prompt at a multiple of ``align`` bytes from
the row's start, the prompt shortened and the newlines after the completion lengthened to match: MAC's
segment boundaries then fall at the answer's start as often as they do in evaluation prompts of 2^k bytes.
Rows never continue one another (no carried state), and a batch is a pure function of (seed, index), so a
resumed run sees the same data.
Training draws from the "train" vocabulary and haystack (:mod:`titans.eval.vocabulary`), never the
evaluation ones.
"""

from __future__ import annotations

import itertools
import math
import random

import torch

from ..data.batching import Batch
from .catalog import TASKS, make_tasks
from .haystack import insert_at_depths
from .tasks import ANSWER_END, sample_seed

TASK_DATA_PREFIX = "tasks:"
COMPLETION_ROOM = 16
"""Bytes kept after each training prompt for the completion (the longest training answer is 12)."""
MIN_SAMPLE_LENGTH = 128
"""The shortest packed sample of a length curriculum: what a PK sample's template, question and answer need."""


def is_task_mixture(data: str) -> bool:
    return data.startswith(TASK_DATA_PREFIX)


def parse_mixture(data: str) -> list[str]:
    """``"tasks:pk,n,w"`` -> ``["pk", "n", "w"]``; ``"tasks:all"`` -> every task. A name given twice is
    drawn twice as often (``"tasks:pk,n,w,w"``: half the samples W)."""
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
                 questions: int = 1, min_length: int = 0, align: int = 0):
        if context < 256:
            raise ValueError(f"task samples need a context of at least 256 bytes, got {context}")
        if questions < 1:
            raise ValueError(f"questions per sample must be at least 1, got {questions}")
        if min_length and not MIN_SAMPLE_LENGTH <= min_length <= context:
            raise ValueError(f"min_length must lie in [{MIN_SAMPLE_LENGTH}, context = {context}] bytes (0: one sample per row), "
                             f"got {min_length}")
        if not 0 <= align <= context:
            raise ValueError(f"align must lie in [0, context = {context}] bytes (0: off), got {align}")
        self.tasks = make_tasks(names, part)
        self.names = names
        self.rows, self.context, self.seed, self.questions, self.align = rows, context, seed, questions, align
        self.min_length = min_length or context + 1
        first = self._draw(0, 0, 0)
        text, spans = self._sample(*first, context + 1)
        self.documents = [list(text[:spans[-1][0]])]  # a training prompt: up to its completion

    def _draw(self, index: int, row: int, part: int) -> tuple[str, int, random.Random]:
        """Sample ``part`` of a row: its task, its seed and its RNG (depth, extra questions)."""
        labels = (self.seed, index, row) if part == 0 else (self.seed, index, row, part)  # part 0: unpacked seeds
        rng = random.Random(sample_seed("mixture", *labels))
        name = rng.choice(self.names)
        return name, sample_seed(name, *labels), rng

    def _asked(self, name: str, seed: int) -> tuple[bytes, bytes, int]:
        """The question, the question with its answer, and the fewest bytes the sample needs."""
        facts, question, answer = self.tasks[name].facts(random.Random(seed))  # what task.sample will draw
        answered = question + b" " + answer.encode() + ANSWER_END  # == question + sample.completion
        need = sum(map(len, facts)) + len(question) + (self.questions - 1) * (len(answered) + 1) + COMPLETION_ROOM
        return question, answered, need

    def _sample(self, name: str, seed: int, rng: random.Random, size: int,
                offset: int = 0) -> tuple[bytes, list[tuple[int, int]]]:
        """One sample of ``size`` bytes starting ``offset`` bytes into its row, and the (start, end) spans to
        score: facts, answers, completion."""
        task, extra = self.tasks[name], self.questions - 1
        question, answered, need = self._asked(name, seed)
        asked = answered + b"\n"
        room = size - COMPLETION_ROOM - extra * len(asked)  # the prompt's bytes
        # its own coin, so that the depth and question draws are those of an unaligned run
        if self.align and random.Random(sample_seed("align", seed)).random() < 0.5:
            # the completion starts after the prompt and the questions asked inside it
            shorter = room - (offset + room + extra * len(asked)) % self.align
            if shorter + COMPLETION_ROOM + extra * len(asked) >= need:
                room = shorter
        sample = task.sample(room, rng.random(), seed)
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
        text = prompt + completion + b"\n" * (size - len(prompt) - len(completion))
        return text, [*spans, (start, start + len(completion))]

    def _sizes(self, index: int, row: int) -> list[int]:
        """The row's samples' sizes, summing to ``context + 1``: log-uniform in [min_length, context + 1]
        (each at least what its facts need); the last takes the rest, or the one before when the rest
        cannot hold its facts."""
        lengths = random.Random(sample_seed("lengths", self.seed, index, row))
        low, high = math.log(self.min_length), math.log(self.context + 1)
        sizes, remaining = [], self.context + 1
        for part in itertools.count():
            need = self._asked(*self._draw(index, row, part)[:2])[2]
            size = max(round(math.exp(lengths.uniform(low, high))), need)
            if remaining - size < self.min_length:  # no room for another sample after this one
                if remaining >= need or not sizes:
                    sizes.append(remaining)
                else:
                    sizes[-1] += remaining
                return sizes
            sizes.append(size)
            remaining -= size

    def _row(self, index: int, row: int) -> tuple[bytes, list[tuple[int, int]], list[int]]:
        """The row's ``context + 1`` bytes, its scored spans and the offsets where its samples start."""
        text, spans, offsets = b"", [], []
        for part, size in enumerate(self._sizes(index, row)):
            offset = len(text)
            sample, sample_spans = self._sample(*self._draw(index, row, part), size, offset)
            # a sample's first byte has no prediction inside its document: score from its second
            spans += [(max(offset + a, offset + 1), offset + b) for a, b in sample_spans]
            offsets.append(offset)
            text += sample
        return text, spans, offsets

    def batch(self, global_index: int) -> Batch:
        tokens = torch.empty(self.rows, self.context + 1, dtype=torch.int64)
        scored = torch.zeros(self.rows, self.context, dtype=torch.bool)
        reset = torch.zeros(self.rows, self.context, dtype=torch.bool)
        for r in range(self.rows):
            text, spans, offsets = self._row(global_index, r)
            tokens[r] = torch.frombuffer(bytearray(text), dtype=torch.uint8).long()
            for start, end in spans:
                scored[r, start - 1:end - 1] = True  # target j is token j + 1
            reset[r, offsets[1:]] = True  # a packed sample starts there: it sees nothing before it
        return Batch(tokens[:, :-1], tokens[:, 1:], reset, scored, 0, global_index)

    def is_lane_start(self, global_index: int) -> bool:
        return True  # every row is a new sample: nothing is carried
