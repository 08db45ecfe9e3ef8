"""Every model on a CUDA device (issue 27): where the memory walks on the Triton kernels (backend
"auto" at the tiny preset's sizes), the models give what the PyTorch walk gives, stay causal and stream
exactly. Skipped without a GPU (the CPU tests cover the same properties in float64)."""

import pytest
import torch
from model_inputs import TOKENS, make_model, tokens_for
from test_models import run_split

from titans import TitansConfig
from titans.config import VARIANTS
from titans.ops import chunk

pytestmark = [pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
              pytest.mark.usefixtures("true_float32_matmuls")]


def cuda_model(variant):
    return make_model(variant).float().cuda()


@pytest.fixture
def walks(monkeypatch):
    """Whether each memory call took the Triton walk, in order (chunk.py reads use_triton as a global)."""
    took = []
    choose = chunk.use_triton
    monkeypatch.setattr(chunk, "use_triton", lambda *a, **k: took.append(choose(*a, **k)) or took[-1])
    return took


def assert_triton_walked(variant, took):
    if TitansConfig.from_name("tiny", variant=variant).uses_memory:
        assert took and all(took), f"the Triton walk should serve every memory call at these sizes: {took}"


def logits_and_grads(model, tokens):
    model.zero_grad(set_to_none=True)
    logits, _ = model(tokens)
    logits.square().mean().backward()
    return logits.detach(), {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("variant", VARIANTS)
def test_triton_walk_in_the_model_equals_torch_walk(variant, walks, monkeypatch):
    model, tokens = cuda_model(variant), tokens_for().cuda()
    logits, grads = logits_and_grads(model, tokens)
    assert_triton_walked(variant, walks)
    monkeypatch.setattr(chunk, "use_triton", lambda *a, **k: False)
    ref_logits, ref_grads = logits_and_grads(model, tokens)
    torch.testing.assert_close(logits, ref_logits, atol=1e-4, rtol=1e-4)
    assert grads.keys() == ref_grads.keys()
    for name in grads:
        torch.testing.assert_close(grads[name], ref_grads[name], atol=1e-4, rtol=1e-3, msg=name)


@pytest.mark.parametrize("variant", VARIANTS)
def test_causal_on_cuda(variant, walks):
    model, tokens = cuda_model(variant), tokens_for().cuda()
    with torch.no_grad():
        base, _ = model(tokens)
        for t in (1, 7, 8, 16, 20, TOKENS - 1):
            changed = tokens.clone()
            changed[:, t] = (changed[:, t] + 1) % 256
            out, _ = model(changed)
            assert (out[:, :t] - base[:, :t]).abs().max() < 1e-5, f"token {t} changed an earlier logit"
            assert (out[:, t] - base[:, t]).abs().max() > 1e-4
    assert_triton_walked(variant, walks)


@pytest.mark.parametrize("variant", VARIANTS)
def test_streaming_equals_one_call_on_cuda(variant, walks):
    model, tokens = cuda_model(variant), tokens_for().cuda()
    with torch.no_grad():
        full, _ = model(tokens)
        split, _ = run_split(model, tokens, [3, 8, 13, 26])
    assert_triton_walked(variant, walks)
    torch.testing.assert_close(split, full, atol=1e-4, rtol=1e-4)
