"""Packed lanes: every token once per epoch, targets shifted by one, resets at document starts."""

import numpy as np
import pytest
import torch

from titans.data.batching import PackedLanes


def documents(lengths, start=0):
    out, value = [], start
    for n in lengths:
        out.append(list(range(value, value + n)))
        value += n
    return out


def test_batches_walk_each_lane_in_order_with_shifted_targets():
    docs = documents([7, 30, 3, 12, 25, 9])  # token value = its position in the unshuffled stream
    lanes = PackedLanes(docs, rows=2, context=5, shuffle=False)
    assert lanes.lane_length == 43 and lanes.batches_per_epoch == 8
    for k in range(lanes.batches_per_epoch):
        b = lanes.batch(k)
        assert b.inputs.shape == (2, 5)
        assert torch.equal(b.targets[:, :-1], b.inputs[:, 1:])
        for row in range(2):
            first = row * lanes.lane_length + k * 5
            assert b.inputs[row].tolist() == list(range(first, first + 5))


def test_resets_mark_document_starts_and_their_targets_are_not_scored():
    docs = documents([4, 6, 5, 9])
    starts = {0, 4, 10, 15}
    lanes = PackedLanes(docs, rows=1, context=6, shuffle=False)
    for k in range(lanes.batches_per_epoch):
        b = lanes.batch(k)
        assert b.reset[0].tolist() == [int(t) in starts for t in b.inputs[0]]
        assert b.scored[0].tolist() == [int(t) not in starts for t in b.targets[0]]


def test_epochs_reshuffle_deterministically():
    docs = documents([10] * 12)
    a = PackedLanes(docs, rows=2, context=8, seed=3)
    b = PackedLanes(docs, rows=2, context=8, seed=3)
    n = a.batches_per_epoch
    assert all(torch.equal(a.batch(i).inputs, b.batch(i).inputs) for i in range(2 * n))
    first, second = a.batch(0).inputs, a.batch(n).inputs
    assert not torch.equal(first, second)
    assert a.is_lane_start(n) and not a.is_lane_start(n + 1)
    epoch_tokens = torch.cat([a.batch(n + i).inputs.flatten() for i in range(n)])
    assert len(set(epoch_tokens.tolist())) == len(epoch_tokens)  # no token twice within an epoch


def test_rows_select_a_share_of_the_batch():
    lanes = PackedLanes(documents([100]), rows=4, context=5, shuffle=False)
    b = lanes.batch(1)
    share = b.rows(slice(1, None, 2))
    assert torch.equal(share.inputs, b.inputs[1::2]) and share.num_scored == int(b.scored[1::2].sum())


def test_a_corpus_smaller_than_one_batch_is_a_clear_error():
    with pytest.raises(ValueError, match="fewer than one batch"):
        PackedLanes(documents([20]), rows=4, context=8)
    with pytest.raises(ValueError, match="every document is empty"):
        PackedLanes([[], []], rows=1, context=8)


def test_documents_held_as_byte_arrays_give_the_same_int64_batches_as_lists():
    docs = [[t % 251 for t in d] for d in documents([40, 75, 12, 60])]
    as_lists = PackedLanes(docs, rows=2, context=8, seed=1)
    as_bytes = PackedLanes([np.asarray(d, dtype=np.uint8) for d in docs], rows=2, context=8, seed=1)
    for k in range(2 * as_lists.batches_per_epoch):  # two epochs: a reshuffle too
        a, b = as_lists.batch(k), as_bytes.batch(k)
        assert b.inputs.dtype == torch.int64 and torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
        assert torch.equal(a.reset, b.reset) and torch.equal(a.scored, b.scored)
