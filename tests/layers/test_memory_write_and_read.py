"""NeuralMemory.write_and_read (MAC's h and m from one projection) against forward and read called apart."""

import pytest
import torch

from titans.layers import NeuralMemory

DIM, HEADS, CHUNK = 32, 2, 8


def make_mem(depth, seed=0):
    torch.manual_seed(seed)
    mem = NeuralMemory(DIM, heads=HEADS, chunk_size=CHUNK, depth=depth)
    with torch.no_grad():
        mem.to_gates.weight.normal_(0.0, 0.1)  # gates that depend on the data
    return mem.double()


def randx(*shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def apart(mem, x, state, weights, q_tail, mask, reset):
    """The reference: the write and read-after-write (forward), then the read at ``weights`` (read)."""
    m, new_state = mem(x, state, mask=mask, reset=reset)
    h, q_tail = mem.read(x, weights, q_tail, mask=mask, reset=reset)
    return m, h, new_state, q_tail


def together(mem, x, state, weights, mask, reset):
    m, h, new_state = mem.write_and_read(x, state, weights, mask=mask, reset=reset)
    return m, h, new_state, new_state.conv_tails[0]


@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("length", [1, 5, 19])  # one decoded token, inside a chunk, across chunks
@pytest.mark.parametrize("with_mask,with_reset", [(False, False), (True, False), (False, True), (True, True)])
def test_write_and_read_equals_forward_and_read(depth, length, with_mask, with_reset):
    mem = make_mem(depth)
    # a state with pending tokens and written weights, and a read path whose tail it has carried
    prefix = randx(2, CHUNK + 3, DIM, seed=1)
    with torch.no_grad():
        _, state = mem(prefix)
        _, q_tail = mem.read(prefix, mem.initial_state(2).weights)
    weights = tuple(w.clone() for w in state.weights)
    x = randx(2, length, DIM, seed=2).requires_grad_()
    mask = reset = None
    if with_mask:
        mask = torch.ones(2, length, dtype=torch.bool)
        mask[1, 0] = False
    if with_reset:
        reset = torch.zeros(2, length, dtype=torch.bool)
        reset[0, length // 2] = True
    ref = apart(mem, x, state, weights, q_tail, mask, reset)
    out = together(mem, x, state, weights, mask, reset)
    for name, a, b in zip(("m", "h"), out[:2], ref[:2]):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0, msg=name)
    torch.testing.assert_close(out[3], ref[3], atol=1e-12, rtol=0, msg="h's conv tail")
    ta, tb = out[2].tensors(), ref[2].tensors()
    assert ta.keys() == tb.keys() and out[2].position == ref[2].position
    for name in ta:
        torch.testing.assert_close(ta[name], tb[name], atol=1e-12, rtol=0, msg=name)

    # every gradient: of x, of the parameters, through m and h alike
    probe_m, probe_h = randx(*out[0].shape, seed=3), randx(*out[1].shape, seed=4)
    params = [p for p in mem.parameters()]
    grads = [torch.autograd.grad((r[0] * probe_m).sum() + (r[1] * probe_h).sum(), [x, *params], allow_unused=True)
             for r in (apart(mem, x, state, weights, q_tail, mask, reset), together(mem, x, state, weights, mask, reset))]
    for g_ref, g_out in zip(*grads):
        if g_ref is None:
            assert g_out is None
        else:
            torch.testing.assert_close(g_out, g_ref, atol=1e-11, rtol=0)


def test_write_and_read_reads_the_given_weights():
    """h is read at the weights passed, not at the state's: a different memory gives a different h."""
    mem = make_mem(2)
    x = randx(2, 7, DIM, seed=2)
    with torch.no_grad():
        _, written = mem(randx(2, 2 * CHUNK, DIM, seed=5))
        _, h_fresh, _ = mem.write_and_read(x, written, mem.initial_state(2).weights)
        _, h_written, _ = mem.write_and_read(x, written, written.weights)
    assert (h_fresh - h_written).abs().max() > 1e-3
