"""torch.compile of the whole model (issue 27 §2): where the graphs break, and compiled == eager.

The only graph breaks left in a block's forward are at the memory's chunk walk, which is kept out of
the graphs on purpose (NeuralMemory._walk: a loop over the chunks, threads or Triton kernels). Compiling
with inductor takes minutes on two CPU cores, so that check is marked slow (TITANS_SLOW=1 runs it);
the default run compiles through AOTAutograd without code generation (aot_eager), which traces the
same forward and backward graphs.
"""

import os
import warnings

import pytest
import torch
import torch._dynamo as dynamo
from model_inputs import tokens_for

from titans import TitansConfig, TitansLM

slow = pytest.mark.skipif(os.environ.get("TITANS_SLOW") != "1", reason="minutes on a CPU: TITANS_SLOW=1 runs it")


def _model(variant):
    torch.manual_seed(0)
    return TitansLM(TitansConfig.from_name("tiny", variant=variant))


def _inputs():
    tokens = tokens_for(length=16)
    reset = torch.zeros_like(tokens, dtype=torch.bool)
    reset[1, 7] = True  # a packed document start: the reset paths are compiled too
    return tokens, reset


def _explain(fn, *args, **kwargs):
    dynamo.reset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dynamo.explain(fn)(*args, **kwargs)


def test_attention_models_compile_to_one_graph():
    tokens, reset = _inputs()
    explained = _explain(_model("swa"), tokens, reset=reset)
    assert explained.graph_break_count == 0, [b.reason for b in explained.break_reasons]


def test_memory_blocks_break_only_at_the_chunk_walk():
    model = _model("mag")
    tokens, reset = _inputs()
    explained = _explain(model.blocks[0], model.embed(tokens), reset=reset)
    reasons = [b.reason for b in explained.break_reasons]
    assert reasons and all("torch.compiler.disable" in r and "NeuralMemory._walk" in r for r in reasons), reasons


def _logits_and_grads(call, model, tokens, reset):
    model.zero_grad(set_to_none=True)
    logits, _ = call(tokens, reset=reset)
    logits.square().mean().backward()
    return logits.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def _assert_compiled_matches_eager(variant, backend):
    model = _model(variant)
    tokens, reset = _inputs()
    ref, ref_grads = _logits_and_grads(model, model, tokens, reset)
    dynamo.reset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out, grads = _logits_and_grads(torch.compile(model, backend=backend), model, tokens, reset)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    assert grads.keys() == ref_grads.keys()
    for name in ref_grads:
        torch.testing.assert_close(grads[name], ref_grads[name], atol=1e-5, rtol=1e-4, msg=name)


def test_compiled_lmm_matches_eager_through_aot_autograd():
    _assert_compiled_matches_eager("lmm", "aot_eager")


@slow
@pytest.mark.parametrize("variant", ["mac", "mag", "transformer"])
def test_inductor_compiled_model_matches_eager(variant):
    _assert_compiled_matches_eager(variant, "inductor")
