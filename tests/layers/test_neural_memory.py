"""NeuralMemory layer (SPEC §2): streaming, causality, mask, resets, state, stability, errors."""

import math

import pytest
import torch
from safetensors.torch import load_file, save_file

from titans.layers import MemoryState, NeuralMemory
from titans.ops import naive_memory_update

DIM, HEADS, B_CHUNK = 32, 2, 8


def make_mem(depth=2, dtype=torch.float64, seed=0, gate_std=0.1, **kwargs):
    """A tiny memory whose gates depend on the data (gate weights are zero at init)."""
    torch.manual_seed(seed)
    kwargs.setdefault("heads", HEADS)
    kwargs.setdefault("chunk_size", B_CHUNK)
    mem = NeuralMemory(DIM, depth=depth, **kwargs)
    if gate_std:
        with torch.no_grad():
            mem.to_gates.weight.normal_(0.0, gate_std)
    return mem.to(dtype)


def randx(*shape, dtype=torch.float64, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g).to(dtype)


def run_split(mem, x, cuts, mask=None, reset=None, state=None):
    """Run x in pieces cut at ``cuts``, carrying the state; returns the concatenated output and state."""
    ys = []
    bounds = [0, *cuts, x.shape[1]]
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        kw = {}
        if mask is not None:
            kw["mask"] = mask[:, lo:hi]
        if reset is not None:
            kw["reset"] = reset[:, lo:hi]
        y, state = mem(x[:, lo:hi], state=state, **kw)
        ys.append(y)
    return torch.cat(ys, 1), state


def assert_states_close(a: MemoryState, b: MemoryState, atol):
    assert a.position == b.position
    assert a.signature == b.signature
    ta, tb = a.tensors(), b.tensors()
    assert ta.keys() == tb.keys()
    for name in ta:
        assert ta[name].shape == tb[name].shape, name
        if ta[name].dtype == torch.bool:
            assert torch.equal(ta[name], tb[name]), name
        else:
            torch.testing.assert_close(ta[name], tb[name], atol=atol, rtol=0, msg=name)


# 1. construction defaults ---------------------------------------------------------------------------

def test_construction_defaults():
    torch.manual_seed(0)
    mem = NeuralMemory(dim=256, heads=4, chunk_size=64)
    assert (mem.heads, mem.dim_head, mem.depth, mem.chunk_size) == (4, 64, 2, 64)
    assert [tuple(w.shape) for w in mem.initial_weights] == [(4, 64, 256), (4, 256, 64)]
    # initial weights ~ N(0, 1/d_in)
    for w, d_in in zip(mem.initial_weights, (64, 256)):
        assert abs(w.std().item() * math.sqrt(d_in) - 1.0) < 0.05
    bias = mem.to_gates.bias.detach()
    # theta_max = 0.016 / chunk_size, theta_init = theta_max / 2
    torch.testing.assert_close(mem.theta_max * torch.sigmoid(bias[:4]), torch.full((4,), 0.000125))
    torch.testing.assert_close(torch.sigmoid(bias[4:8]), torch.full((4,), 0.9))
    torch.testing.assert_close(torch.sigmoid(bias[8:]), torch.full((4,), 0.01))
    x = randx(2, 16, 256, dtype=torch.float32)
    with torch.no_grad():
        y, state = mem(x)
    assert y.shape == x.shape
    stats = mem.last_stats
    assert stats["theta"].item() == pytest.approx(0.000125, rel=1e-5)
    assert stats["eta"].item() == pytest.approx(0.9, rel=1e-5)
    assert stats["alpha"].item() == pytest.approx(0.01, rel=1e-5)
    assert [tuple(w.shape) for w in state.weights] == [(2, 4, 64, 256), (2, 4, 256, 64)]
    assert state.position == 16


# 2. streaming equivalence ---------------------------------------------------------------------------

SPLITS = {
    "inside_chunk": [5],
    "chunk_boundary": [8],
    "mixed": [3, 16],
    "several": [13, 14, 21],
    "token_by_token": list(range(1, 27)),
}


@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("split", list(SPLITS))
def test_streaming_equals_one_call_float64(depth, split):
    mem = make_mem(depth)
    x = randx(2, 27, DIM)
    with torch.no_grad():
        y, state = mem(x)
        y_split, state_split = run_split(mem, x, SPLITS[split])
    torch.testing.assert_close(y_split, y, atol=1e-10, rtol=0)
    assert_states_close(state_split, state, atol=1e-10)
    assert state.position == 27 and state.pending_q.shape[2] == 27 % B_CHUNK


@pytest.mark.parametrize("split", ["inside_chunk", "several", "token_by_token"])
def test_streaming_equals_one_call_float32(split):
    mem = make_mem(2, dtype=torch.float32)
    x = randx(2, 27, DIM, dtype=torch.float32)
    with torch.no_grad():
        y, state = mem(x)
        y_split, state_split = run_split(mem, x, SPLITS[split])
    torch.testing.assert_close(y_split, y, atol=1e-5, rtol=0)
    assert_states_close(state_split, state, atol=1e-5)


def _mask_and_reset(T=27):
    mask = torch.ones(2, T, dtype=torch.bool)
    mask[0, :3] = False  # left padding
    mask[0, 9:12] = False  # a hole inside a chunk
    mask[1, 20:] = False  # trailing padding
    reset = torch.zeros(2, T, dtype=torch.bool)
    reset[0, 11] = True  # a document start on a masked token
    reset[0, 14] = True
    reset[1, 16] = True  # at a chunk boundary
    reset[1, 5] = True
    return mask, reset


# resets (_mask_and_reset): row 0 at 11, 14; row 1 at 5, 16; splits land on, just after and well after them
RESET_SPLITS = {"inside_chunk": [5], "boundary_and_inside": [9, 24], "many": [3, 4, 10, 11, 20, 22, 23],
                "just_after_reset": [6, 12, 13, 17], "token_by_token": list(range(1, 27))}


@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("split", list(SPLITS))
def test_streaming_with_mask(depth, split):
    mem = make_mem(depth)
    x = randx(2, 27, DIM)
    mask, _ = _mask_and_reset()
    with torch.no_grad():
        y, state = mem(x, mask=mask)
        y_split, state_split = run_split(mem, x, SPLITS[split], mask=mask)
    torch.testing.assert_close(y_split, y, atol=1e-10, rtol=0)
    assert_states_close(state_split, state, atol=1e-10)


@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("split", list(RESET_SPLITS))
@pytest.mark.parametrize("with_mask", [False, True])
def test_streaming_with_reset(depth, split, with_mask):
    mem = make_mem(depth)
    x = randx(2, 27, DIM)
    mask, reset = _mask_and_reset()
    mask = mask if with_mask else None
    with torch.no_grad():
        y, state = mem(x, mask=mask, reset=reset)
        y_split, state_split = run_split(mem, x, RESET_SPLITS[split], mask=mask, reset=reset)
    torch.testing.assert_close(y_split, y, atol=1e-10, rtol=0)
    assert_states_close(state_split, state, atol=1e-10)


# 3. causality ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("depth", [1, 2])
def test_causality(depth):
    mem = make_mem(depth)
    x = randx(1, 20, DIM)
    with torch.no_grad():
        y, _ = mem(x)
        for t in (0, 3, 8, 13, 19):
            x2 = x.clone()
            x2[:, t] += randx(DIM, seed=t + 10)
            y2, _ = mem(x2)
            if t:
                assert (y2[:, :t] - y[:, :t]).abs().max().item() < 1e-12, t
            assert (y2[:, t] - y[:, t]).abs().max().item() > 1e-6, t


# 4. gradients ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("depth", [1, 2])
def test_gradients_reach_every_parameter(depth):
    mem = make_mem(depth, dtype=torch.float32, gate_std=0.0)  # gate weights at their zero init
    x = randx(2, 20, DIM, dtype=torch.float32)
    y, _ = mem(x)
    y.sum().backward()
    names = [name for name, _ in mem.named_parameters()]
    for required in ("to_qkv.weight", "to_gates.weight", "to_gates.bias", "convs.0.weight", "convs.1.weight",
                     "convs.2.weight", "out_norm_weight", "to_out_gate.weight", "to_out.weight"):
        assert required in names
    assert sum(name.startswith("initial_weights.") for name in names) == depth
    for name, p in mem.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


# 5. mask --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("depth", [1, 2])
def test_left_padding_matches_unpadded_row(depth):
    mem = make_mem(depth)
    pad, n = B_CHUNK, 13  # padding of a whole chunk keeps the real tokens on the same chunk grid
    real = randx(1, n, DIM, seed=2)
    other = randx(1, pad + n, DIM, seed=3)
    x = torch.cat([torch.cat([5 * randx(1, pad, DIM, seed=4), real], 1), other], 0)
    mask = torch.ones(2, pad + n, dtype=torch.bool)
    mask[0, :pad] = False
    with torch.no_grad():
        y, state = mem(x, mask=mask)
        y_real, state_real = mem(real)
        y_other, _ = mem(other)
    torch.testing.assert_close(y[0:1, pad:], y_real, atol=1e-10, rtol=0)
    torch.testing.assert_close(y[1:2], y_other, atol=1e-10, rtol=0)
    assert torch.equal(y[0, :pad], torch.zeros_like(y[0, :pad]))  # exactly zero
    # the row's memory after the padded sequence equals the unpadded row's memory (same chunk grid)
    for w, w_real in zip(state.weights, state_real.weights):
        torch.testing.assert_close(w[0:1], w_real, atol=1e-10, rtol=0)


@pytest.mark.parametrize("depth", [1, 2])
def test_masked_content_is_ignored_and_output_zero(depth):
    mem = make_mem(depth)
    x = randx(2, 27, DIM)
    mask, _ = _mask_and_reset()
    x2 = x.clone()
    x2[~mask] = 100 * randx(int((~mask).sum()), DIM, seed=7)  # other, huge padding content
    with torch.no_grad():
        y, state = mem(x, mask=mask)
        y2, state2 = mem(x2, mask=mask)
        y_nomask, _ = mem(x)
    assert torch.equal(y[~mask], torch.zeros_like(y[~mask]))
    assert y[mask].abs().min() > 0
    torch.testing.assert_close(y2, y, atol=1e-10, rtol=0)
    for w, w2 in zip(state.weights, state2.weights):
        torch.testing.assert_close(w2, w, atol=1e-10, rtol=0)
    # the mask does something: without it the real tokens read differently
    assert (y_nomask[mask] - y[mask]).abs().max() > 1e-4


@pytest.mark.parametrize("depth", [1, 2])
def test_masked_memory_matches_naive_reference(depth):
    """The layer's memory under a mask equals the op-level ground truth fed with its own q, k, v, gates."""
    mem = make_mem(depth)
    T = 3 * B_CHUNK  # ends on a chunk boundary: the state's weights are the final weights
    x = randx(2, T, DIM)
    mask = torch.ones(2, T, dtype=torch.bool)
    mask[0, 2:5] = False
    mask[0, 11] = False
    mask[1, 8:16] = False
    mask[1, 20:] = False
    with torch.no_grad():
        _, state = mem(x, mask=mask)
        init = mem.initial_state(2, dtype=torch.float64)
        q, k, v, _ = mem._project(x, init, mask, None)
        theta, log_eta, log_keep = mem._gates(x)
        # detached: weights that are no-grad views of a parameter trip the naive loop (see report)
        W0 = tuple(w.detach() for w in init.weights)
        args = (q, k, v, theta, log_eta, log_keep, W0, init.momentum)
        _, W_ref, S_ref = naive_memory_update(*args, chunk_size=B_CHUNK, mask=mask, log_gates=True)
        _, W_nomask, _ = naive_memory_update(*args, chunk_size=B_CHUNK, log_gates=True)
    for w, w_ref, s, s_ref in zip(state.weights, W_ref, state.momentum, S_ref):
        torch.testing.assert_close(w, w_ref, atol=1e-10, rtol=0)
        torch.testing.assert_close(s, s_ref, atol=1e-10, rtol=0)
    assert max((w - w0).abs().max() for w, w0 in zip(W_ref, W_nomask)) > 1e-4


@pytest.mark.parametrize("depth", [1, 2])
def test_masked_chunk_inserted_at_boundary_is_a_no_op(depth):
    """With conv kernel 1 (no window across the hole), a whole masked chunk inserted at a chunk
    boundary leaves every real output and the final memory unchanged."""
    mem = make_mem(depth, conv_kernel=1)
    x = randx(1, 2 * B_CHUNK, DIM)
    hole = 3 * randx(1, B_CHUNK, DIM, seed=5)
    x_hole = torch.cat([x[:, :B_CHUNK], hole, x[:, B_CHUNK:]], 1)
    mask = torch.ones(1, 3 * B_CHUNK, dtype=torch.bool)
    mask[:, B_CHUNK : 2 * B_CHUNK] = False
    with torch.no_grad():
        y, state = mem(x)
        y_hole, state_hole = mem(x_hole, mask=mask)
    torch.testing.assert_close(y_hole[mask[0:1].expand(1, -1)].view(1, -1, DIM), y, atol=1e-10, rtol=0)
    for a, b in zip(state.weights + state.momentum, state_hole.weights + state_hole.momentum):
        torch.testing.assert_close(b, a, atol=1e-10, rtol=0)


# 6. resets ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("depth", [1, 2])
def test_reset_at_chunk_boundary_matches_fresh_document(depth):
    mem = make_mem(depth)
    doc1, doc2 = randx(1, 2 * B_CHUNK, DIM, seed=2), randx(1, 13, DIM, seed=3)
    x = torch.cat([doc1, doc2], 1)
    reset = torch.zeros(1, x.shape[1], dtype=torch.bool)
    reset[0, doc1.shape[1]] = True
    with torch.no_grad():
        y, state = mem(x, reset=reset)
        y2, state2 = mem(doc2)
        y_noreset, _ = mem(x)
    torch.testing.assert_close(y[:, doc1.shape[1]:], y2, atol=1e-10, rtol=0)
    for a, b in zip(state.weights + state.momentum, state2.weights + state2.momentum):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=0)
    assert (y_noreset[:, doc1.shape[1]:] - y2).abs().max() > 1e-4


@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("start", [8, 11, 15])
def test_first_document_never_reaches_second(depth, start):
    mem = make_mem(depth)
    doc2 = randx(1, 29 - start, DIM, seed=3)
    docs1 = [randx(1, start, DIM, seed=s) * scale for s, scale in ((4, 1.0), (5, 3.0))]
    reset = torch.zeros(1, 29, dtype=torch.bool)
    reset[0, start] = True
    with torch.no_grad():
        (ya, sa), (yb, sb) = (mem(torch.cat([d1, doc2], 1), reset=reset) for d1 in docs1)
        yc, _ = mem(torch.cat([docs1[1], doc2], 1))
    assert (ya[:, start:] - yb[:, start:]).abs().max().item() < 1e-12
    for a, b in zip(sa.weights + sa.momentum, sb.weights + sb.momentum):
        assert (a - b).abs().max().item() < 1e-12
    assert (ya[:, :start] - yb[:, :start]).abs().max() > 1e-4  # doc1 itself did change
    assert (yc[:, start:] - yb[:, start:]).abs().max() > 1e-4  # and without the reset it would leak


def test_read_from_a_document_start_uses_the_initial_weights():
    """MAC's h: from a document start on, the read ignores the given (previous document's) weights and
    its conv window; before it, and in a row without a start, nothing changes."""
    mem = make_mem()
    x, start = randx(2, 13, DIM), 5
    reset = torch.zeros(2, 13, dtype=torch.bool)
    reset[0, start] = True
    with torch.no_grad():
        _, written = mem(randx(2, 2 * B_CHUNK, DIM, seed=5))
        y, _ = mem.read(x, written.weights, reset=reset)
        y_plain, _ = mem.read(x, written.weights)
        y_alone, _ = mem.read(x[:1, start:], mem.initial_state(1).weights)
    torch.testing.assert_close(y[:1, start:], y_alone, atol=1e-12, rtol=0)
    torch.testing.assert_close(y[:1, :start], y_plain[:1, :start], atol=0, rtol=0)
    torch.testing.assert_close(y[1:], y_plain[1:], atol=0, rtol=0)
    assert (y_plain[:1, start:] - y_alone).abs().max() > 1e-4


def test_float64_initial_weights_are_not_rounded():
    mem = make_mem(1)
    with torch.no_grad():
        for w in mem.initial_weights:
            w.add_(1e-3 * torch.randn_like(w))  # float64 values that float32 cannot hold
    doc1, doc2 = randx(1, B_CHUNK, DIM, seed=2), randx(1, 5, DIM, seed=3)
    reset = torch.zeros(1, B_CHUNK + 5, dtype=torch.bool)
    reset[0, B_CHUNK] = True
    with torch.no_grad():
        y, _ = mem(torch.cat([doc1, doc2], 1), reset=reset)
        y2, state2 = mem(doc2)
    assert state2.weights[0].dtype == torch.float64
    torch.testing.assert_close(y[:, B_CHUNK:], y2, atol=1e-10, rtol=0)


# 7. stability with the defaults ---------------------------------------------------------------------

def _long_run(seed, theta_bias=None):
    torch.manual_seed(seed)
    mem = NeuralMemory(256, heads=4, chunk_size=64)
    if theta_bias is not None:
        with torch.no_grad():
            mem.to_gates.bias[:4] = theta_bias
    x = torch.randn(1, 4096, 256)
    with torch.no_grad():
        y, state = mem(x)
    return mem, y, state


def _assert_bounded(mem, y, state):
    assert torch.isfinite(y).all()
    assert state.pending_q.shape[2] == 0  # 4096 = 64 chunks: the state holds the final weights
    for w, w0 in zip(state.weights, mem.initial_weights):
        assert torch.isfinite(w).all()
        norms, norms0 = w.norm(dim=(-2, -1))[0], w0.detach().norm(dim=(-2, -1))
        assert (norms <= 2 * norms0).all(), (norms, norms0)


def test_default_memory_stays_bounded_on_4k_tokens():
    mem, y, state = _long_run(0)
    assert mem.last_stats["theta"].item() == pytest.approx(mem.theta_max / 2, rel=1e-4)
    _assert_bounded(mem, y, state)


def test_default_memory_stays_bounded_at_theta_ceiling():
    for seed in (100, 101, 102):
        mem, y, state = _long_run(seed, theta_bias=20.0)
        assert mem.last_stats["theta"].item() == pytest.approx(mem.theta_max, rel=1e-4)
        _assert_bounded(mem, y, state)


# 8. stats -------------------------------------------------------------------------------------------

def test_stats_are_finite_scalars():
    mem = make_mem(2)
    with torch.no_grad():
        mem(randx(2, 13, DIM))
    stats = mem.last_stats
    assert set(stats) == {"theta", "eta", "alpha", "inner_loss"}
    for name, value in stats.items():
        assert value.dim() == 0 and torch.isfinite(value), name
    assert 0 < stats["theta"] < mem.theta_max
    assert 0 < stats["eta"] < 1 and 0 < stats["alpha"] < 1
    assert stats["inner_loss"] > 0


def test_stats_exclude_masked_tokens():
    mem = make_mem(2, gate_std=0.3)
    real = randx(1, 13, DIM, seed=2)
    x = torch.cat([real, 5 * randx(1, 6, DIM, seed=3)], 1)
    mask = torch.ones(1, 19, dtype=torch.bool)
    mask[0, 13:] = False
    with torch.no_grad():
        mem(real)
        alone = dict(mem.last_stats)
        mem(x, mask=mask)
        padded = dict(mem.last_stats)
        mem(x)
        unmasked = dict(mem.last_stats)
    for name in alone:
        assert padded[name].item() == pytest.approx(alone[name].item(), rel=1e-5), name
    # the padding would have moved the means had it been counted
    assert any(abs(unmasked[n].item() / alone[n].item() - 1) > 1e-2 for n in ("theta", "eta", "alpha"))


# 9. the state object --------------------------------------------------------------------------------

def test_state_detach():
    mem = make_mem(2, dtype=torch.float32)
    _, state = mem(randx(1, 13, DIM, dtype=torch.float32))
    assert any(t.requires_grad for t in state.tensors().values())
    detached = state.detach()
    assert not any(t.requires_grad for t in detached.tensors().values())
    assert (detached.position, detached.signature) == (state.position, state.signature)
    for name, t in detached.tensors().items():
        assert torch.equal(t, state.tensors()[name]), name


def test_state_to_float64_keeps_bool_masks():
    mem = make_mem(2, dtype=torch.float32)
    with torch.no_grad():
        _, state = mem(randx(1, 13, DIM, dtype=torch.float32))
    converted = state.to(dtype=torch.float64)
    for name, t in converted.tensors().items():
        orig = state.tensors()[name]
        if name in ("pending_mask", "pending_reset"):
            assert t.dtype == torch.bool and torch.equal(t, orig), name
        else:
            assert orig.dtype == torch.float32 and t.dtype == torch.float64, name
            assert torch.equal(t, orig.double()), name
    assert converted.pending_mask.shape == (1, 13 % B_CHUNK)


def _continue(mem, state, x2):
    with torch.no_grad():
        return mem(x2, state=state)


def test_state_from_tensors_round_trip():
    mem = make_mem(2)
    x1, x2 = randx(2, 13, DIM, seed=2), randx(2, 10, DIM, seed=3)
    with torch.no_grad():
        _, state = mem(x1)
    rebuilt = MemoryState.from_tensors(state.tensors(), state.position, state.signature)
    assert_states_close(rebuilt, state, atol=0)
    y, s = _continue(mem, state, x2)
    y_rebuilt, s_rebuilt = _continue(mem, rebuilt, x2)
    assert torch.equal(y_rebuilt, y)
    assert_states_close(s_rebuilt, s, atol=0)


@pytest.mark.parametrize("T", [13, 16])
def test_state_safetensors_round_trip(tmp_path, T):
    mem = make_mem(2)
    x1, x2 = randx(2, T, DIM, seed=2), randx(2, 10, DIM, seed=3)
    with torch.no_grad():
        _, state = mem(x1)
    path = tmp_path / "state.safetensors"
    save_file({k: v.contiguous() for k, v in state.tensors().items()}, str(path))
    loaded = MemoryState.from_tensors(load_file(str(path)), state.position, list(state.signature))
    assert loaded.signature == mem.signature
    y, _ = _continue(mem, state, x2)
    y_loaded, _ = _continue(mem, loaded, x2)
    assert torch.equal(y_loaded, y)


def test_initial_state_can_be_saved(tmp_path):
    mem = make_mem(2)
    state = mem.initial_state(1, dtype=torch.float64)
    save_file({k: v.detach().contiguous() for k, v in state.tensors().items()}, str(tmp_path / "s.safetensors"))


def test_state_does_not_keep_the_sequence_alive():
    mem = make_mem(2)
    with torch.no_grad():
        _, state = mem(randx(1, 200, DIM))
    for i, tail in enumerate(state.conv_tails):
        assert tail.untyped_storage().nbytes() == tail.numel() * tail.element_size(), i


# 10. errors -----------------------------------------------------------------------------------------

def test_errors():
    mem = make_mem(2)
    x = randx(2, 5, DIM)
    with pytest.raises(ValueError, match=r"x: expected \[batch, tokens, 32\]"):
        mem(x[0])
    with pytest.raises(ValueError, match=r"x: expected \[batch, tokens, 32\]"):
        mem(randx(2, 5, DIM + 1))
    with pytest.raises(ValueError, match=r"T = 0"):
        mem(x[:, :0])
    with torch.no_grad():
        _, state = mem(x)
    other = make_mem(2, chunk_size=4)
    with pytest.raises(ValueError, match=r"state was made by a memory configured as"):
        other(x, state=state)
    with pytest.raises(ValueError, match=r"state holds batch size 2, x has batch size 1"):
        mem(x[:1], state=state)
    bad = x.clone()
    bad[1, 3, 7] = float("nan")
    with pytest.raises(ValueError, match=r"NaN or inf"):
        mem(bad)
    bad[1, 3, 7] = float("inf")
    with pytest.raises(ValueError, match=r"NaN or inf"):
        mem(bad)
    with pytest.raises(ValueError, match=r"not divisible by heads"):
        NeuralMemory(30, heads=4)
    with pytest.raises(ValueError, match=r"mask: expected a \[batch, tokens\]"):
        mem(x, mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"reset: expected a \[batch, tokens\]"):
        mem(x, reset=torch.zeros(5, dtype=torch.bool))
    # a valid call still works after the rejected ones
    y, _ = mem(x, state=state)
    assert torch.isfinite(y).all()


def test_state_from_another_activation_is_refused():
    gelu = NeuralMemory(DIM, heads=HEADS, chunk_size=B_CHUNK)
    silu = NeuralMemory(DIM, heads=HEADS, chunk_size=B_CHUNK, activation="silu")
    with torch.no_grad():
        _, state = gelu(torch.randn(1, 5, DIM))
        with pytest.raises(ValueError, match="configured as"):
            silu(torch.randn(1, 5, DIM), state=state)


@pytest.mark.parametrize("name", ["eta_init", "alpha_init"])
@pytest.mark.parametrize("value", [0.0, 1.0, 1.5])
def test_gate_initial_values_outside_the_open_interval_are_refused(name, value):
    with pytest.raises(ValueError, match=f"{name} must lie strictly between 0 and 1"):
        NeuralMemory(DIM, heads=HEADS, chunk_size=B_CHUNK, **{name: value})
