"""The memory op's Triton kernels and the attention op's fused paths on a CUDA device (issue 27 §1).

Skipped without one: CI has no GPU, and the interpreter tests (test_triton_memory.py) check what the
kernels compute on the CPU. On a GPU this file checks the compiled kernels: every interpreter case,
plus the largest sizes ``backend="auto"`` gives the kernels (state tile 32 x 128, chunks of 16 and
32), against the PyTorch walk on the same device; and the flex / SDPA attention paths against the
reference, outputs and every gradient.
"""

import importlib.util

import pytest
import torch
from memory_inputs import make_inputs
from test_attention import make, outputs_and_grads
from triton_cases import CASES, _to, run_case

from titans.ops import chunk_memory_update, triton_walk
from titans.ops.attention import _choose_backend, attention_reference, sliding_window_attention

pytestmark = [pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
              pytest.mark.usefixtures("true_float32_matmuls")]
needs_triton = pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton is not installed")

# the sizes "auto" sends to the kernels at their largest, several chunks long, every feature on
AUTO_SIZES = {
    "depth2-gelu-resets-mask-chunk16": (dict(T=100, D=32, hidden=128), dict(chunk_size=16, resets=True, mask=True),
                                        "triton"),
    "depth2-silu-residual-chunk32": (dict(T=130, D=32, hidden=128), dict(chunk_size=32, activation="silu",
                                                                         residual=True), "triton"),
    "depth2-bfloat16-resets-chunk32": (dict(T=96, D=32, hidden=128, dtype=torch.bfloat16),
                                       dict(chunk_size=32, resets=True), "triton"),
    "depth1-64-resets-mask-chunk32": (dict(T=100, D=64, depth=1), dict(chunk_size=32, resets=True, mask=True),
                                      "triton"),
}


@needs_triton
@pytest.mark.parametrize("case", list(CASES))
def test_triton_kernels_equal_torch_walk_on_cuda(case):
    run_case(case, device="cuda")


@needs_triton
@pytest.mark.parametrize("case", list(AUTO_SIZES))
def test_triton_kernels_at_the_auto_sizes(case):
    run_case(case, device="cuda", cases=AUTO_SIZES)


@needs_triton
@pytest.mark.parametrize("dtype,precision", [(torch.bfloat16, "tf32"), (torch.float32, "ieee")])
def test_bfloat16_callers_get_tf32_dots(monkeypatch, dtype, precision):
    launched = []
    meta = triton_walk._meta
    monkeypatch.setattr(triton_walk, "_meta", lambda *a, **k: launched.append(meta(*a, **k)["PREC"]) or meta(*a, **k))
    inputs = {n: _to(v, "cuda") for n, v in make_inputs(B=1, T=40, D=32, hidden=128, dtype=dtype).items()}
    for t in inputs["weights"] + (inputs["q"],):
        t.requires_grad_()
    y, _, _ = chunk_memory_update(**inputs, chunk_size=16, backend="auto")
    y.float().sum().backward()
    assert launched == [precision, precision], launched  # forward and backward


ATTENTION_CASES = [  # T, C, window, sinks, holes, resets
    (300, 5, 150, 3, True, True),
    (1000, 0, 64, 4, False, False),
    (513, 0, None, 0, True, True),
    (256, 0, None, 0, False, False),  # plain causal: SDPA under auto (float32: not its flash kernel)
]


@pytest.mark.parametrize("T,C,window,sinks,holes,resets", ATTENTION_CASES)
@pytest.mark.parametrize("backend", ["auto", "flex", "sdpa", "blocked"])
def test_attention_paths_equal_reference_on_cuda(backend, T, C, window, sinks, holes, resets):
    if backend == "blocked" and window is None:
        pytest.skip("the blocked path needs a window")
    # heads of width 16: flex's CUDA kernel takes no narrower (auto keeps narrower heads off it)
    inputs = make(T, C, n_sinks=sinks, holes=holes, resets=resets, sink_q=sinks > 0, width=16)
    inputs = {n: (t.float() if t.is_floating_point() else t).cuda() for n, t in inputs.items()}
    out, grads = outputs_and_grads(sliding_window_attention, inputs, window=window, backend=backend)
    ref, ref_grads = outputs_and_grads(attention_reference, {n: t.double() if t.is_floating_point() else t
                                                             for n, t in inputs.items()}, window=window)
    torch.testing.assert_close(out.double(), ref, atol=2e-5, rtol=0)
    for name in ref_grads:
        torch.testing.assert_close(grads[name].double(), ref_grads[name], atol=1e-4, rtol=0, msg=f"grad of {name}")


def test_auto_keeps_heads_narrower_than_flex_takes_off_flex():
    inputs = make(200, 0, n_sinks=2, width=8)
    inputs = {n: (t.float() if t.is_floating_point() else t).cuda() for n, t in inputs.items()}
    assert _choose_backend("auto", inputs["q"], 64, inputs["sink_k"], None, None, 200) == "blocked"
    out = sliding_window_attention(**inputs, window=64)
    ref = attention_reference(**{n: t.double() if t.is_floating_point() else t for n, t in inputs.items()}, window=64)
    torch.testing.assert_close(out.double(), ref, atol=2e-5, rtol=0)
