"""The flex-attention path of the attention op (titans/ops/attention_flex.py) on the CPU.

torch runs flex attention on the CPU eagerly, forward only, and evaluates its mask densely there. So
the pieces are checked apart: the forward against the reference (the mask rule and the sink merge);
the block structure against the dense visibility, tile by tile (what the GPU kernel skips); the sink
merge's gradients against the reference through a differentiable dense window attention.
"""

import itertools
import warnings

import pytest
import torch
from test_attention import make, outputs_and_grads

from titans.ops.attention import attention_reference, document_starts, sliding_window_attention
from titans.ops.attention_flex import BLOCK, band_block_mask, merge_sinks


@pytest.fixture(autouse=True)
def _quiet_eager_flex():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="flex_attention called without torch.compile")
        yield


@pytest.mark.parametrize("T,C", [(7, 0), (37, 3), (300, 5)])
@pytest.mark.parametrize("window", [1, 4, 150, None])
@pytest.mark.parametrize("n_sinks,holes,resets", [(0, False, False), (3, False, False), (0, True, True),
                                                  (3, True, True)])
def test_forward_matches_reference(T, C, window, n_sinks, holes, resets):
    inputs = make(T, C, n_sinks=n_sinks, holes=holes, resets=resets, sink_q=n_sinks > 0)
    with torch.no_grad():
        out = sliding_window_attention(**inputs, window=window, backend="flex")
        ref = attention_reference(**inputs, window=window)
    torch.testing.assert_close(out, ref, atol=1e-12, rtol=0)


def test_forward_grouped_heads_scale_and_blind_queries():
    inputs = make(40, 6, n_sinks=0, heads=(4, 1))
    key_mask = torch.ones(2, 46, dtype=torch.bool)
    key_mask[1, :20] = False  # row 1: its first queries see nothing in a window of 3
    inputs["key_mask"] = key_mask
    with torch.no_grad():
        out = sliding_window_attention(**inputs, window=3, scale=0.3, backend="flex")
        ref = attention_reference(**inputs, window=3, scale=0.3)
    torch.testing.assert_close(out, ref, atol=1e-12, rtol=0)
    assert torch.equal(out[1, :, :10], torch.zeros_like(out[1, :, :10]))


def _tiles(num: torch.Tensor, indices: torch.Tensor) -> set:
    """(query tile, key tile) pairs a BlockMask lists: the first ``num`` indices of each row."""
    return {(i, int(j)) for i in range(num.shape[-1]) for j in indices[0, 0, i, : int(num[0, 0, i])]}


@pytest.mark.parametrize("T,C", [(1, 0), (130, 0), (300, 5), (256, 128), (200, 300)])
@pytest.mark.parametrize("window", [1, 100, 128, 200, None])
@pytest.mark.parametrize("exact", [True, False])
def test_block_mask_lists_exactly_the_visible_tiles(T, C, window, exact):
    """A tile pair is listed iff some query of it sees some key of it; a full one is seen entirely."""
    L = C + T
    distance = (C + torch.arange(T))[:, None] - torch.arange(L)
    visible = (distance >= 0) & (distance < (window or L + 1))
    mask = band_block_mask(T, L, window, exact, None, "cpu")
    partial = _tiles(mask.kv_num_blocks, mask.kv_indices)
    full = _tiles(mask.full_kv_num_blocks, mask.full_kv_indices)
    assert not partial & full
    for i, j in itertools.product(range(-(-T // BLOCK)), range(-(-L // BLOCK))):
        tile = visible[i * BLOCK:(i + 1) * BLOCK, j * BLOCK:(j + 1) * BLOCK]
        assert ((i, j) in partial | full) == bool(tile.any()), (i, j)
        if (i, j) in full:
            assert exact and tile.all() and tile.shape[1] == BLOCK, (i, j)
    if exact and window is not None and T >= 2 * BLOCK and window <= BLOCK:
        assert not full, "a window narrower than a tile covers no tile entirely"
    if exact and window is None and T >= 2 * BLOCK:
        assert full, "causal attention over several tiles has full tiles below the diagonal"


def _dense_window(q, k, v, *, window, key_mask, reset, scale):
    """Differentiable window attention without sinks, with its log-normaliser (what flex returns)."""
    T, L = q.shape[2], k.shape[2]
    G = q.shape[1] // k.shape[1]
    scores = (q @ k.repeat_interleave(G, 1).mT) * scale
    distance = (L - T + torch.arange(T))[:, None] - torch.arange(L)
    visible = ((distance >= 0) & (distance < (window or L + 1)))[None, None] & key_mask[:, None, None, :]
    if reset is not None:
        visible = visible & (torch.arange(L) >= document_starts(reset, L - T)[:, None, :, None])
    scores = scores.masked_fill(~visible, float("-inf"))
    lse = torch.logsumexp(scores, -1)
    probs = torch.exp(scores - torch.where(torch.isfinite(lse), lse, 0.0).unsqueeze(-1))
    return probs @ v.repeat_interleave(G, 1), lse


@pytest.mark.parametrize("window", [1, 5, None])
def test_sink_merge_matches_reference_with_gradients(window):
    """Window attention + merge_sinks == attention over window and sinks, outputs and every gradient
    (the window's output and log-sum-exp are what flex returns; on the GPU its backward takes both)."""
    inputs = make(23, 4, n_sinks=3, holes=True, resets=True, heads=(4, 2), sink_q=True)
    inputs["key_mask"][0, :12] = False  # some queries see only the sinks
    scale = 0.4

    def merged(q, k, v, sink_k, sink_v, sink_q, key_mask, reset, window):
        out, lse = _dense_window(q, k, v, window=window, key_mask=key_mask, reset=reset, scale=scale)
        sink_scores = (sink_q @ sink_k.repeat_interleave(2, 1).mT) * scale
        return merge_sinks(out, lse, sink_scores, sink_v.repeat_interleave(2, 1))

    out, grads = outputs_and_grads(merged, inputs, window=window)
    ref, ref_grads = outputs_and_grads(attention_reference, inputs, window=window, scale=scale)
    torch.testing.assert_close(out, ref, atol=1e-12, rtol=0)
    for name in ref_grads:
        torch.testing.assert_close(grads[name], ref_grads[name], atol=1e-12, rtol=0, msg=f"grad of {name}")


def test_low_precision_on_flex():
    inputs = make(150, 3, n_sinks=2, holes=True)
    ref = attention_reference(**inputs, window=40)
    low = {n: t.to(torch.float32) if t.is_floating_point() else t for n, t in inputs.items()}
    with torch.no_grad():
        out = sliding_window_attention(**low, window=40, backend="flex")
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.double(), ref, atol=1e-5, rtol=0)
