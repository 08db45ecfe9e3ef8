"""Forgetting towards the reset weights (``forget_to_reset_weights``): the chunked op against the
per-token reference, and the recurrence it stands for, ``W_t - W0 = (1 - alpha_t)(W_{t-1} - W0) + S_t``."""

import pytest
import torch
from memory_inputs import flat, make_inputs, run_with_grads

from titans.ops import chunk_memory_update, naive_memory_update
from titans.ops.token_step import token_step


def _with_anchor(inputs, seed=3):
    g = torch.Generator().manual_seed(seed)
    anchor = tuple(torch.randn(w[:1].shape, generator=g, dtype=w.dtype) * 0.3 for w in inputs["weights"])
    return {**inputs, "reset_weights": anchor}  # shared by the batch (broadcast)


def _leaves(inputs):
    return flat(inputs) + list(inputs["reset_weights"])


def _assert_close(ref, out, atol=1e-10):
    for name, a, b in (("y", ref[0], out[0]), *((f"state {i}", a, b) for i, (a, b) in
                                                 enumerate(zip(ref[1] + ref[2], out[1] + out[2])))):
        torch.testing.assert_close(b, a, atol=atol, rtol=0, msg=lambda m, n=name: f"{n}: {m}")
    assert len(ref[3]) == len(out[3])
    for i, (a, b) in enumerate(zip(ref[3], out[3])):
        assert a is not None and b is not None, f"gradient {i} missing"
        torch.testing.assert_close(b, a, atol=atol, rtol=0, msg=lambda m, i=i: f"gradient {i}: {m}")


@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("chunk_size", [1, 5, 8])
@pytest.mark.parametrize("with_resets", [False, True])
def test_chunked_equals_naive(depth, chunk_size, with_resets):
    inputs = _with_anchor(make_inputs(T=29, depth=depth, seed=depth + chunk_size))
    g = torch.Generator().manual_seed(chunk_size)
    kw = dict(chunk_size=chunk_size, forget_to_reset_weights=True, mask=torch.rand(2, 29, generator=g) > 0.2)
    if with_resets:
        kw["reset"] = torch.rand(2, 29, generator=g) > 0.8
    ref = run_with_grads(naive_memory_update, inputs, _leaves, **kw)
    out = run_with_grads(chunk_memory_update, inputs, _leaves, **kw)
    _assert_close(ref, out)


def test_the_memory_decays_to_the_anchor_not_to_zero():
    """With no writes (theta = 0, no momentum) the weights close the gap to W0 by (1 - alpha) a token."""
    inputs = _with_anchor(make_inputs(T=12, depth=2, seed=5))
    inputs.update(theta=torch.zeros_like(inputs["theta"]), momentum=None)
    _, W, _ = chunk_memory_update(**inputs, chunk_size=4, forget_to_reset_weights=True)
    kept = (1 - inputs["alpha"]).prod(-1)[..., None, None]  # [B, H, 1, 1]
    for w, w_start, w0 in zip(W, inputs["weights"], inputs["reset_weights"]):
        torch.testing.assert_close(w, w0 + kept * (w_start - w0), atol=1e-12, rtol=0)
    _, W_zero, _ = chunk_memory_update(**inputs, chunk_size=4)  # Eq. 13 as written: towards zero
    for w, w_start in zip(W_zero, inputs["weights"]):
        torch.testing.assert_close(w, kept * w_start, atol=1e-12, rtol=0)


def test_without_forgetting_the_anchor_changes_nothing():
    inputs = _with_anchor(make_inputs(T=17, depth=2, seed=6))
    inputs["alpha"] = torch.zeros_like(inputs["alpha"])
    plain = chunk_memory_update(**{n: v for n, v in inputs.items() if n != "reset_weights"}, chunk_size=4)
    anchored = chunk_memory_update(**inputs, chunk_size=4, forget_to_reset_weights=True)
    for a, b in zip([plain[0], *plain[1], *plain[2]], [anchored[0], *anchored[1], *anchored[2]]):
        torch.testing.assert_close(b, a, atol=1e-12, rtol=0)


def test_token_step_equals_the_op_on_one_token():
    inputs = _with_anchor(make_inputs(T=1, depth=2, seed=7))
    y, W, S = chunk_memory_update(**inputs, chunk_size=4, forget_to_reset_weights=True)
    log_keep, log_eta = torch.log1p(-inputs["alpha"]), inputs["eta"].log()
    y1, W1, S1, _ = token_step(inputs["q"], inputs["k"], inputs["v"], inputs["theta"], log_eta, log_keep,
                               inputs["weights"], inputs["weights"], inputs["momentum"], activation="gelu",
                               residual=False, forget_toward=inputs["reset_weights"])
    for a, b in zip([y, *W, *S], [y1, *W1, *S1]):
        torch.testing.assert_close(b, a, atol=1e-12, rtol=0)


def test_forgetting_towards_weights_needs_them():
    inputs = make_inputs(T=8, seed=1)
    with pytest.raises(ValueError, match="forget_to_reset_weights needs reset_weights"):
        chunk_memory_update(**inputs, chunk_size=4, forget_to_reset_weights=True)
    with pytest.raises(ValueError, match="forget_to_reset_weights needs reset_weights"):
        naive_memory_update(**inputs, chunk_size=4, forget_to_reset_weights=True)
