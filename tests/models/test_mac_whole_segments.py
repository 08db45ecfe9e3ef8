"""MAC's whole segments in one call (``MACBlock._segments``) against the same segments one at a time
(``_piece``): outputs, carried state and every gradient; and the memory's ``write_and_read(segment=)``."""

import pytest
import torch
from model_inputs import make_model

from titans.layers import NeuralMemory

SEGMENT = 8  # the tiny preset's


def rows(length, seed, dim):
    return torch.randn(2, length, dim, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def one_at_a_time(block):
    """The block with every segment taken on its own: the reference."""
    block.whole_segments_at_once = False
    return block


@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("inputs", ["plain", "mask", "reset", "forget-to-init"])
@pytest.mark.parametrize("start", [0, 3], ids=["at-a-boundary", "mid-segment"])
def test_whole_segments_at_once_equal_one_at_a_time(depth, inputs, start):
    overrides = {"memory_depth": depth}
    if inputs == "forget-to-init":
        overrides["memory_forget_to"] = "init"
    batched, reference = (make_model("mac", **overrides).blocks[0] for _ in range(2))
    one_at_a_time(reference)
    dim = batched.norm.weight.shape[0]
    length = start + 3 * SEGMENT + 5  # a partial piece, three whole segments, a partial one
    assert any(whole for _, whole in batched._pieces(start, length - start))
    assert not any(whole for _, whole in reference._pieces(start, length - start))
    mask = reset = None
    if inputs == "mask":
        mask = torch.ones(2, length - start, dtype=torch.bool)
        mask[0, :4] = False  # left padding
    if inputs == "reset":
        reset = torch.zeros(2, length - start, dtype=torch.bool)
        reset[0, SEGMENT + 2] = True  # a document starts inside a whole segment
        reset[1, 2 * SEGMENT] = True  # and at a segment's first token
    prefix, x = rows(start, 1, dim), rows(length - start, 2, dim).requires_grad_()

    def run(block):
        state = None
        if start:
            with torch.no_grad():
                _, state = block(prefix)
        out, new_state = block(x, state, mask=mask, reset=reset)
        return out, new_state

    (out_b, state_b), (out_r, state_r) = run(batched), run(reference)
    torch.testing.assert_close(out_b, out_r, atol=1e-12, rtol=0)
    tb, tr = state_b.tensors(), state_r.tensors()
    assert tb.keys() == tr.keys() and state_b.header() == state_r.header()
    for name in tb:
        torch.testing.assert_close(tb[name], tr[name], atol=1e-12, rtol=0, msg=name)

    probe = rows(length - start, 3, dim)
    grads = []
    for block, out, state in ((batched, out_b, state_b), (reference, out_r, state_r)):
        params = list(block.parameters())
        loss = (out * probe).sum() + state.memory.weights[0].square().sum()
        grads.append(torch.autograd.grad(loss, [x, *params], allow_unused=True))
    for name, g_b, g_r in zip(["x", *(n for n, _ in batched.named_parameters())], *grads):
        if g_r is None:
            assert g_b is None, name
        else:
            torch.testing.assert_close(g_b, g_r, atol=1e-11, rtol=0, msg=name)


@pytest.mark.parametrize("chunk,segment,length", [(4, 8, 24), (1, 1, 1)], ids=["segments", "one-token"])
def test_memory_segments_read_each_at_its_entering_weights(chunk, segment, length):
    """write_and_read(segment=) equals one write_and_read per segment, each reading h at the weights the
    previous one left: every output, the state and every gradient."""
    torch.manual_seed(0)
    mem = NeuralMemory(16, heads=2, chunk_size=chunk, depth=2).double()
    with torch.no_grad():
        mem.to_gates.weight.normal_(0.0, 0.1)
    x = rows(length, 4, 16).requires_grad_()
    state = mem.initial_state(2)

    m, h, together = mem.write_and_read(x, state, state.weights, segment=segment)
    ms, hs, apart = [], [], state
    for piece in x.split(segment, dim=1):
        m_, h_, apart = mem.write_and_read(piece, apart, apart.weights)
        ms.append(m_)
        hs.append(h_)
    torch.testing.assert_close(m, torch.cat(ms, 1), atol=1e-12, rtol=0)
    torch.testing.assert_close(h, torch.cat(hs, 1), atol=1e-12, rtol=0)
    for name, t in together.tensors().items():
        torch.testing.assert_close(t, apart.tensors()[name], atol=1e-12, rtol=0, msg=name)
    probe = rows(length, 5, 16)
    grads = [torch.autograd.grad((a * probe).sum() + b.square().sum(), [x, *mem.parameters()])
             for a, b in ((m, h), (torch.cat(ms, 1), torch.cat(hs, 1)))]
    for g, r in zip(*grads):
        torch.testing.assert_close(g, r, atol=1e-11, rtol=0)


@pytest.mark.parametrize("length,prefix", [(20, 0), (16, 3)], ids=["not-whole-segments", "not-at-a-boundary"])
def test_memory_segments_need_whole_segments_from_a_boundary(length, prefix):
    mem = NeuralMemory(16, heads=2, chunk_size=4, depth=1).double()
    state = mem.initial_state(2)
    if prefix:
        _, state = mem(rows(prefix, 6, 16), state)
    with pytest.raises(ValueError, match="whole segments"):
        mem.write_and_read(rows(length, 7, 16), state, state.weights, segment=8)


def test_a_segment_that_is_not_a_multiple_of_the_chunk_is_refused():
    mem = NeuralMemory(16, heads=2, chunk_size=4, depth=1)
    state = mem.initial_state(1)
    with pytest.raises(ValueError, match="multiple of the memory's chunk size"):
        mem.write_and_read(torch.randn(1, 12, 16), state, state.weights, segment=6)
