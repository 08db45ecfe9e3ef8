"""What a decoded token does not redo: MAL's sinks come from the state, the memory's open chunk is not re-run."""

import torch
from model_inputs import make_model, tokens_for

import titans.layers.neural_memory as neural_memory
import titans.models.mal as mal


def _refuse(*args, **kwargs):
    raise AssertionError("recomputed while decoding")


def test_mal_decoding_reads_its_sinks_from_the_state(monkeypatch):
    model = make_model("mal")
    tokens = tokens_for(length=12)
    with torch.no_grad():
        full, _ = model(tokens)
        prefix, state = model(tokens[:, :5])
        monkeypatch.setattr(mal, "prime_memory", _refuse)
        monkeypatch.setattr(neural_memory, "chunk_memory_update", _refuse)  # inside a chunk: the running form
        steps = []
        for t in range(5, 8):  # the tiny preset's memory chunk is 4: tokens 5..7 stay inside the second chunk
            out, state = model(tokens[:, t: t + 1], state)
            steps.append(out)
    torch.testing.assert_close(torch.cat([prefix, *steps], 1), full[:, :8], atol=1e-10, rtol=0)


def test_mal_sinks_keep_their_gradient_while_training_with_a_carried_state():
    model = make_model("mal")
    tokens = tokens_for(length=12)
    _, state = model(tokens[:, :6])
    out, _ = model(tokens[:, 6:], state.detach())
    out.square().sum().backward()
    assert all(block.persistent.tokens.grad is not None for block in model.blocks)
