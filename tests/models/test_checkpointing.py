"""Block recomputation (gradient checkpointing) changes memory, not results: same loss, gradients, state."""

import pytest
import torch
from model_inputs import make_model, tokens_for

from titans.config import VARIANTS


def loss_and_grads(model, tokens, reset):
    model.zero_grad(set_to_none=True)
    logits, state = model(tokens, reset=reset)
    loss = logits.square().mean()
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}, state


@pytest.mark.parametrize("variant", VARIANTS)
def test_checkpointed_blocks_give_the_same_gradients(variant):
    model = make_model(variant)
    tokens = tokens_for(batch=2, length=21)
    reset = torch.zeros_like(tokens, dtype=torch.bool)
    reset[1, 9] = True
    loss, grads, state = loss_and_grads(model, tokens, reset)
    model.gradient_checkpointing = True
    loss_c, grads_c, state_c = loss_and_grads(model, tokens, reset)
    assert torch.equal(loss, loss_c)
    for name, grad in grads.items():
        torch.testing.assert_close(grads_c[name], grad, rtol=1e-12, atol=1e-14, msg=name)
    assert len(_tensors(state)) == len(_tensors(state_c)) > 0
    for a, b in zip(_tensors(state), _tensors(state_c)):
        assert torch.equal(a.detach(), b.detach())


def _tensors(state):
    out = []
    for layer in state.layers:
        for value in (layer.values() if isinstance(layer, dict) else [layer]):
            if isinstance(value, torch.Tensor):
                out.append(value)
            elif value is not None:
                out.extend(value.tensors().values())
    return out
