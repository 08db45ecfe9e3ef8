"""Training batches of task samples: exact rows, scored needles and answers, determinism, the trainer."""

import itertools
import json

import pytest
import torch

from titans.eval.task_batches import COMPLETION_ROOM, TaskBatches, parse_mixture
from titans.train import Trainer


def text(row: torch.Tensor) -> bytes:
    return bytes(row.tolist())


def test_rows_hold_one_sample_each_with_the_needle_and_answer_scored():
    batches = TaskBatches(["pk"], rows=4, context=512, seed=3)
    batch = batches.batch(5)
    assert batch.inputs.shape == batch.targets.shape == batch.scored.shape == (4, 512)
    assert not batch.reset.any()  # one document per row
    assert torch.equal(batch.inputs[:, 1:], batch.targets[:, :-1])
    for r in range(4):
        full = text(batch.inputs[r]) + text(batch.targets[r, -1:])
        scored = text(batch.targets[r][batch.scored[r]])
        key = full.split(b"The pass key is ")[1].split(b".")[0]
        assert scored.endswith(b" " + key + b".")  # the completion
        assert b"Remember it. " + key + b" is the pass key." in scored  # the needle
        assert b"grass" not in scored and b"river" not in scored  # never the haystack
        completion_end = full.rindex(key + b".") + len(key) + 1
        assert completion_end > 512 + 1 - COMPLETION_ROOM and set(full[completion_end:]) <= {ord("\n")}


def test_extra_questions_are_asked_and_answered_after_the_needle_and_scored():
    one, four = TaskBatches(["pk"], 3, 512, seed=3), TaskBatches(["pk"], 3, 512, seed=3, questions=4)
    assert torch.equal(one.batch(2).inputs, TaskBatches(["pk"], 3, 512, seed=3, questions=1).batch(2).inputs)
    batch = four.batch(2)
    assert batch.inputs.shape == (3, 512)
    for r in range(3):
        full = text(batch.inputs[r]) + text(batch.targets[r, -1:])
        key = full.split(b"The pass key is ")[1].split(b".")[0]
        asked = b"\nWhat is the pass key? The pass key is " + key + b"."
        assert full.count(asked) == 4  # three inside the haystack, the last one ending the prompt
        assert full.index(asked) > full.index(key + b" is the pass key.")  # never before the needle
        assert text(batch.targets[r][batch.scored[r]]).endswith((b" " + key + b".") * 4)
        assert b"river" not in text(batch.targets[r][batch.scored[r]])
    with pytest.raises(ValueError, match="at least 1"):
        TaskBatches(["pk"], 1, 512, questions=0)


def test_a_length_curriculum_packs_whole_samples_each_a_document_of_its_own():
    batches = TaskBatches(["pk"], rows=6, context=1024, seed=3, min_length=128)
    batch = batches.batch(4)
    assert batch.inputs.shape == (6, 1024)
    counts = []
    for r in range(6):
        full = text(batch.inputs[r]) + text(batch.targets[r, -1:])
        offsets = [0, *batch.reset[r].nonzero().flatten().tolist(), len(full)]
        counts.append(len(offsets) - 2)
        for lo, hi in itertools.pairwise(offsets):
            assert hi - lo >= 128
            sample = full[lo:hi]
            key = sample.split(b"The pass key is ")[1].split(b".")[0]
            assert sample.rstrip(b"\n").endswith(b"What is the pass key? The pass key is " + key + b".")
            scored = text(batch.targets[r, lo:hi - 1][batch.scored[r, lo:hi - 1]])
            assert scored.endswith(b" " + key + b".") and b"Remember it. " + key + b" is the pass key." in scored
            assert b"grass" not in scored and b"river" not in scored
            if lo:  # a sample's first byte is never a target: nothing before it is its own
                assert not batch.scored[r, lo - 1]
    assert max(counts) >= 2 and len(set(counts)) >= 2  # packed, and the lengths vary
    assert torch.equal(batches.batch(4).inputs, batch.inputs)


def completion_starts(batch, r: int) -> list[int]:
    """Where each packed sample's completion (" KEY.") starts in row r."""
    full = text(batch.inputs[r]) + text(batch.targets[r, -1:])
    offsets = [0, *batch.reset[r].nonzero().flatten().tolist(), len(full)]
    starts = []
    for lo, hi in itertools.pairwise(offsets):
        answer = full[lo:hi].rstrip(b"\n")
        key = answer.split(b"The pass key is ")[-1][:-1]
        assert answer.endswith(b"What is the pass key? The pass key is " + key + b".")
        starts.append(lo + len(answer) - len(key) - 2)
    return starts


@pytest.mark.parametrize("questions", [1, 3])
def test_aligned_samples_start_their_answer_on_a_multiple_of_align(questions):
    aligned = TaskBatches(["pk"], rows=6, context=1024, seed=3, min_length=128, questions=questions, align=128)
    plain = TaskBatches(["pk"], rows=6, context=1024, seed=3, min_length=128, questions=questions)
    moved, total = 0, 0
    for index in range(4):
        batch, same = aligned.batch(index), plain.batch(index)
        assert torch.equal(batch.reset, same.reset)  # the same samples, packed at the same offsets
        for r in range(6):
            for start, unaligned in zip(completion_starts(batch, r), completion_starts(same, r), strict=True):
                # each answer is where it was, or moved earlier (a shorter prompt) onto a multiple of 128
                assert start == unaligned or (start < unaligned and start % 128 == 0)
                key_and_end = text(batch.targets[r, start - 1:]).split(b".")[0] + b"."
                assert batch.scored[r, start - 1:start - 1 + len(key_and_end)].all()  # still scored
                moved += start != unaligned
                total += 1
    assert moved > 0.25 * total  # a coin per sample; without align none moves


def test_align_must_fit_the_context(tmp_path, tiny_config):
    with pytest.raises(ValueError, match="align"):
        TaskBatches(["pk"], 1, 512, align=1024)
    with pytest.raises(ValueError, match="task_align"):
        tiny_config(tmp_path / "run", context=256, batch_tokens=512, task_align=128)  # not a task mixture
    with pytest.raises(ValueError, match="task_align"):
        tiny_config(tmp_path / "run", data="tasks:pk", context=256, batch_tokens=512, task_align=512)


def test_a_length_curriculum_needs_a_sensible_shortest_sample():
    for bad in (64, 2048):
        with pytest.raises(ValueError, match="min_length"):
            TaskBatches(["pk"], 1, 1024, min_length=bad)


def test_batches_are_a_function_of_seed_and_index():
    a, b = TaskBatches(["pk"], 2, 300, seed=1), TaskBatches(["pk"], 2, 300, seed=1)
    assert torch.equal(a.batch(7).inputs, b.batch(7).inputs)
    assert not torch.equal(a.batch(7).inputs, a.batch(8).inputs)
    assert not torch.equal(a.batch(7).inputs, TaskBatches(["pk"], 2, 300, seed=2).batch(7).inputs)
    assert a.is_lane_start(7)


def test_a_task_named_twice_is_drawn_twice_as_often():
    assert parse_mixture("tasks:pk,w,w") == ["pk", "w", "w"]
    batches = TaskBatches(["pk", "w", "w"], 1, 512)
    drawn = [batches._draw(index, 0, 0)[0] for index in range(600)]
    assert 0.6 < drawn.count("w") / len(drawn) < 0.73  # 2 / 3, not 1 / 2


def test_mixture_names_parse():
    assert parse_mixture("tasks:pk, n") == ["pk", "n"]
    assert len(parse_mixture("tasks:all")) == 8
    for bad in ("tasks:", "tasks:pk,qa7"):
        with pytest.raises(ValueError, match="task"):
            parse_mixture(bad)


@pytest.mark.parametrize("min_length", [0, 128])
def test_the_trainer_learns_from_a_task_mixture(tmp_path, tiny_config, min_length):
    config = tiny_config(tmp_path / "run", data="tasks:pk", context=256, batch_tokens=512, steps=4, eval_every=2,
                         eval_tokens=512, save_every=4, task_min_length=min_length)
    summary = Trainer(config, progress=False).run()
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    valid = [r for r in records if r["kind"] == "valid"]
    assert len(valid) == 2 and all(r["scored_tokens"] > 0 for r in valid)
    assert summary.validation is not None and summary.validation.loss > 0


def test_task_data_needs_the_byte_tokenizer(tmp_path, tiny_config):
    with pytest.raises(ValueError, match="bytes"):
        tiny_config(tmp_path / "run", data="tasks:pk", context=256, batch_tokens=512, tokenizer="llama2")


def test_a_length_curriculum_needs_a_task_mixture(tmp_path, tiny_config):
    with pytest.raises(ValueError, match="task_min_length"):
        tiny_config(tmp_path / "run", context=256, batch_tokens=512, task_min_length=128)
    with pytest.raises(ValueError, match="task_min_length"):
        tiny_config(tmp_path / "run", data="tasks:pk", context=256, batch_tokens=512, task_min_length=512)
