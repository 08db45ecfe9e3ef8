"""Run a model on long-context task samples: stream the prompt with the state, decode the answer, score.

The prompt is read in blocks with the state carried between calls (KV caches, memory weights), exactly
as one long call would read it (the streaming tests hold every variant to that), so memory use is
bounded by the model and not by the context; then the answer is decoded greedily, token by token.
A prediction counts when it is exactly the answer: the decoded text up to the first period or line
end, with the spaces around it removed.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .tasks import ANSWER_END, Sample

MAX_ANSWER_TOKENS = 40  # the longest answer (a UUID, 36 bytes) with its space and period, and a margin


def extract_answer(text: bytes) -> str:
    """What a model answered: its output up to the first period or line end, spaces stripped."""
    for end in (ANSWER_END, b"\n"):
        text = text.split(end, 1)[0]
    return text.decode("utf-8", errors="replace").strip()


def is_correct(output: bytes, answer: str) -> bool:
    """Exact match: ``" 58213."`` is right for 58213; ``"5821"``, ``"582134"``, ``"58213x"`` are not."""
    return extract_answer(output) == answer


def rss_mib() -> float:
    """This process's resident memory now (Linux /proc; the peak from getrusage elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Answered:
    sample: Sample
    output: bytes

    @property
    def correct(self) -> bool:
        return is_correct(self.output, self.sample.answer)


@torch.no_grad()
def answer_samples(model, samples: list[Sample], *, block: int = 4096, device: torch.device | str = "cpu",
                   on_block: Callable[[int], None] | None = None) -> list[Answered]:
    """Read the samples' prompts (all the same length, one batch) block by block, then decode answers.

    on_block(tokens_read) is called after every block (progress, memory tracking).
    """
    if not samples:
        return []
    length = len(samples[0].prompt)
    if any(len(s.prompt) != length for s in samples):
        raise ValueError("answer_samples reads one batch: every prompt must have the same length")
    model.eval()
    tokens = torch.tensor([list(s.prompt) for s in samples], dtype=torch.long, device=device)
    state, logits = None, None
    for start in range(0, length, block):
        logits, state = model(tokens[:, start:start + block], state)
        if on_block is not None:
            on_block(min(start + block, length))
    outputs = [bytearray() for _ in samples]
    done = torch.zeros(len(samples), dtype=torch.bool)
    for step in range(MAX_ANSWER_TOKENS):
        chosen = logits[:, -1].argmax(-1)
        for i, token in enumerate(chosen.tolist()):
            if not done[i]:
                outputs[i].append(token)
                done[i] = bytes([token]) in (ANSWER_END, b"\n")
        if bool(done.all()) or step == MAX_ANSWER_TOKENS - 1:
            break
        logits, state = model(chosen[:, None], state)
    return [Answered(s, bytes(o)) for s, o in zip(samples, outputs)]


@dataclass
class CellResult:
    task: str
    length: int
    depth: float | None
    correct: int
    total: int
    seconds: float
    peak_rss_mib: float
    examples: list[dict]
    rss_trace: list[tuple[int, float]]
    """(bytes read, RSS MiB) after every block of the cell's first batch: memory against context."""
    recency: int | None = None
    """Stories only: how many samples answering the last fact's last word would get right (a baseline)."""

    @property
    def accuracy(self) -> float:
        return self.correct / self.total

    @classmethod
    def from_dict(cls, d: dict) -> "CellResult":
        """A cell as :meth:`to_dict` wrote it to ``results.json``."""
        return cls(d["task"], d["length"], d["depth"], d["correct"], d["total"], d["seconds"], d["peak_rss_mib"],
                   d["examples"], [tuple(point) for point in d["rss_trace"]], d.get("recency_baseline"))

    def to_dict(self) -> dict:
        return {"task": self.task, "length": self.length, "depth": self.depth, "accuracy": self.accuracy,
                "correct": self.correct, "total": self.total, "seconds": self.seconds,
                "peak_rss_mib": self.peak_rss_mib, "examples": self.examples, "rss_trace": self.rss_trace,
                **({} if self.recency is None else {"recency_baseline": self.recency})}


def run_cell(model, samples: list[Sample], *, batch: int, block: int, device="cpu",
             on_block: Callable[[int], None] | None = None) -> CellResult:
    """Score samples of one (task, length, depth) cell, ``batch`` prompts at a time."""
    began, peak, correct, examples, trace = time.perf_counter(), rss_mib(), 0, [], []

    def track(read: int) -> None:
        nonlocal peak
        now = rss_mib()
        peak = max(peak, now)
        if not trace or trace[-1][0] < read:  # the first batch only: later ones read the same lengths
            trace.append((read, round(now, 1)))
        if on_block is not None:
            on_block(read)

    for i in range(0, len(samples), batch):
        for answered in answer_samples(model, samples[i:i + batch], block=block, device=device, on_block=track):
            correct += answered.correct
            if len(examples) < 3:  # a few outputs kept, to see what the model says when it is wrong
                examples.append({"answer": answered.sample.answer,
                                 "output": answered.output.decode("utf-8", errors="replace")})
    first = samples[0]
    # a story's facts are scattered (no depth): the recency baseline says whether the model beats it
    recency = sum(s.last_fact_word == s.answer for s in samples) if first.depth is None else None
    return CellResult(first.task, len(first.prompt), first.depth, correct, len(samples),
                      time.perf_counter() - began, peak, examples, trace, recency)
