"""A decoded token costs a constant time: it never re-runs the open chunk, and it equals the chunked path."""

import pytest
import torch
from test_neural_memory import B_CHUNK, DIM, assert_states_close, make_mem, randx

import titans.layers.neural_memory as neural_memory
from titans.layers.memory_state import MemoryState


def _no_chunk_op(*args, **kwargs):
    raise AssertionError("a single decoded token re-ran the open chunk through the chunk op")


@pytest.mark.parametrize("prefix", [1, 3, B_CHUNK - 1, B_CHUNK + 2])
def test_decoded_tokens_never_rerun_the_chunk_and_equal_one_call(monkeypatch, prefix):
    mem = make_mem(2)
    x = randx(2, prefix + B_CHUNK + 1, DIM, seed=4)
    with torch.no_grad():
        y_full, state_full = mem(x)
        y, state = mem(x[:, :prefix])
        monkeypatch.setattr(neural_memory, "chunk_memory_update", _no_chunk_op)
        outs = [y]
        for t in range(prefix, x.shape[1]):  # across a chunk boundary
            out, state = mem(x[:, t: t + 1], state=state)
            outs.append(out)
    torch.testing.assert_close(torch.cat(outs, 1), y_full, atol=1e-10, rtol=0)
    assert_states_close(state, state_full, atol=1e-10)


def test_decoding_after_a_reset_inside_the_open_chunk_takes_gradients_at_the_initial_weights():
    mem = make_mem(2)
    x = randx(2, 2 * B_CHUNK, DIM, seed=5)
    reset = torch.zeros(2, 2 * B_CHUNK, dtype=torch.bool)
    reset[0, B_CHUNK + 2] = True  # a document starts inside the second chunk, before the decoded tokens
    reset[1, B_CHUNK + 5] = True  # ... and on a decoded token
    with torch.no_grad():
        y_full, state_full = mem(x, reset=reset)
        y, state = mem(x[:, : B_CHUNK + 4], reset=reset[:, : B_CHUNK + 4])
        outs = [y]
        for t in range(B_CHUNK + 4, 2 * B_CHUNK):
            out, state = mem(x[:, t: t + 1], state=state, reset=reset[:, t: t + 1])
            outs.append(out)
    torch.testing.assert_close(torch.cat(outs, 1), y_full, atol=1e-10, rtol=0)
    assert_states_close(state, state_full, atol=1e-10)


def test_a_state_saved_before_the_running_weights_existed_still_continues_exactly():
    mem = make_mem(2)
    x = randx(2, B_CHUNK + 3, DIM, seed=6)  # saved mid-chunk: three pending tokens
    with torch.no_grad():
        y_full, _ = mem(x)
        _, state = mem(x[:, : B_CHUNK + 1])
    old = {k: v for k, v in state.tensors().items() if not k.startswith("running_")}
    loaded = MemoryState.from_tensors(old, state.position, state.signature)
    assert loaded.running_weights is None
    with torch.no_grad():
        y1, loaded = mem(x[:, B_CHUNK + 1: B_CHUNK + 2], state=loaded)  # re-runs the pending tokens once
        y2, _ = mem(x[:, B_CHUNK + 2:], state=loaded)  # then decodes from the running state
    assert loaded.running_weights is not None
    torch.testing.assert_close(torch.cat([y1, y2], 1), y_full[:, B_CHUNK + 1:], atol=1e-10, rtol=0)
