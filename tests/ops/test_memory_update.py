"""chunk_memory_update against the per-token reference, and the op's behaviour at its edges."""

import pytest
import torch
from memory_inputs import flat, make_inputs, run_with_grads

from titans.ops import chunk_memory_update, naive_memory_update

NAMES = ["q", "k", "v", "theta", "eta", "alpha", "W1", "W2", "W3", "S1", "S2", "S3"]


def assert_match(ref, out, atol=1e-10, depth=2, skip=()):
    y0, W0, S0, g0 = ref
    y1, W1, S1, g1 = out
    torch.testing.assert_close(y1, y0, atol=atol, rtol=0)
    for a, b in zip(W0 + S0, W1 + S1):
        torch.testing.assert_close(b, a, atol=atol, rtol=0)
    names = NAMES[:6] + [f"W{i + 1}" for i in range(depth)] + [f"S{i + 1}" for i in range(depth)]
    for name, a, b in zip(names, g0, g1):
        if name in skip:
            continue
        assert a is not None and b is not None, name
        torch.testing.assert_close(b, a, atol=atol, rtol=0, msg=lambda m: f"gradient of {name}: {m}")


@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("chunk_size", [1, 4, 16, 64])
@pytest.mark.parametrize("T", [1, 17, 64, 77])
def test_chunked_equals_naive(T, chunk_size, depth):
    inputs = make_inputs(T=T, depth=depth, seed=T * 7 + chunk_size)
    ref = run_with_grads(naive_memory_update, inputs, chunk_size=chunk_size)
    out = run_with_grads(chunk_memory_update, inputs, chunk_size=chunk_size)
    assert_match(ref, out, depth=depth)


@pytest.mark.parametrize("activation", ["gelu", "silu"])
@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_activations_residual_and_deeper_memories(activation, residual, depth):
    inputs = make_inputs(T=23, depth=depth, seed=depth)
    kw = dict(chunk_size=8, activation=activation, residual=residual)
    assert_match(run_with_grads(naive_memory_update, inputs, **kw),
                 run_with_grads(chunk_memory_update, inputs, **kw), depth=depth)


def test_gradcheck_tiny():
    inputs = make_inputs(B=1, H=1, T=5, D=2, hidden=3)
    leaves = [t.requires_grad_() for t in flat(inputs)]
    n = len(inputs["weights"])

    def fn(q, k, v, theta, eta, alpha, *state):
        y, W, S = chunk_memory_update(q, k, v, theta, eta, alpha, state[:n], state[n:], chunk_size=2)
        return (y, *W, *S)

    assert torch.autograd.gradcheck(fn, leaves, atol=1e-7)


def test_gate_extremes_are_finite_and_exact():
    inputs = make_inputs(T=37, seed=3)
    pattern = torch.arange(37) % 5
    inputs["eta"] = torch.where(pattern == 0, 0.0, inputs["eta"])  # no momentum
    inputs["alpha"] = torch.where(pattern == 1, 1.0, inputs["alpha"])  # forget everything
    inputs["theta"] = torch.where(pattern == 2, 0.0, inputs["theta"])  # no write
    inputs["eta"] = torch.where(pattern == 3, 1.0, inputs["eta"])
    inputs["alpha"] = torch.where(pattern == 3, 0.0, inputs["alpha"])
    ref = run_with_grads(naive_memory_update, inputs, chunk_size=8)
    out = run_with_grads(chunk_memory_update, inputs, chunk_size=8)
    assert torch.isfinite(out[0]).all()
    # d/d eta at eta = 0 and d/d alpha at alpha = 1 go through log(0): SPEC §1 lets them be left out
    assert_match(ref, out, skip=("eta", "alpha"))


def test_log_gates_equal_linear_gates():
    inputs = make_inputs(T=29, seed=4)
    log_inputs = dict(inputs, eta=inputs["eta"].log(), alpha=torch.log1p(-inputs["alpha"]))
    y0, W0, S0 = chunk_memory_update(**inputs, chunk_size=8)
    y1, W1, S1 = chunk_memory_update(**log_inputs, chunk_size=8, log_gates=True)
    torch.testing.assert_close(y1, y0, atol=1e-12, rtol=0)
    y2, _, _ = naive_memory_update(**log_inputs, chunk_size=8, log_gates=True)
    torch.testing.assert_close(y2, y0, atol=1e-12, rtol=0)


def test_extreme_log_gates_have_finite_gradients():
    """The layer's path: logsigmoid gates at -inf-like values never produce NaN gradients."""
    inputs = make_inputs(T=20, seed=5)
    inputs["eta"] = torch.full_like(inputs["eta"], -1e4)  # log eta: eta ~ 0
    inputs["alpha"] = torch.full_like(inputs["alpha"], -1e4)  # log(1 - alpha): alpha ~ 1
    _, _, _, grads = run_with_grads(chunk_memory_update, inputs, chunk_size=8, log_gates=True)
    assert all(torch.isfinite(g).all() for g in grads)


def test_masked_tokens_match_naive_and_leave_state_untouched():
    inputs = make_inputs(T=30, seed=6)
    mask = torch.rand(2, 30, generator=torch.Generator().manual_seed(0)) > 0.4
    mask[1, 20:] = False  # trailing padding
    ref = run_with_grads(naive_memory_update, inputs, chunk_size=4, mask=mask)
    out = run_with_grads(chunk_memory_update, inputs, chunk_size=4, mask=mask)
    assert_match(ref, out)
    # trailing padding leaves the final state equal to the state after token 20
    short = {n: (tuple(w[1:] for w in t) if isinstance(t, tuple) else t[1:, :, :20]) for n, t in inputs.items()}
    _, W_short, S_short = chunk_memory_update(**short, chunk_size=4, mask=mask[1:, :20])
    for a, b in zip(out[1] + out[2], W_short + S_short):
        torch.testing.assert_close(a[1:], b, atol=1e-12, rtol=0)


def test_masked_extreme_gates_do_not_poison_gradients():
    inputs = make_inputs(T=16, seed=7)
    mask = torch.ones(2, 16, dtype=torch.bool)
    mask[:, 5:9] = False
    inputs["eta"] = torch.where(mask[:, None, :], inputs["eta"], 0.0)
    inputs["alpha"] = torch.where(mask[:, None, :], inputs["alpha"], 1.0)
    _, _, _, grads = run_with_grads(chunk_memory_update, inputs, chunk_size=4, mask=mask)
    assert all(torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("activation", ["gelu", "silu"])
@pytest.mark.parametrize("depth", [1, 2])
def test_resets_match_naive(depth, activation):
    inputs = make_inputs(T=41, depth=depth, seed=8)
    g = torch.Generator().manual_seed(1)
    reset = torch.rand(2, 41, generator=g) > 0.85
    mask = torch.rand(2, 41, generator=g) > 0.2
    reset_weights = tuple(w[:1, :].clone() for w in inputs["weights"])  # broadcast over the batch
    kw = dict(chunk_size=8, mask=mask, reset=reset, reset_weights=reset_weights, activation=activation)
    assert_match(run_with_grads(naive_memory_update, inputs, **kw),
                 run_with_grads(chunk_memory_update, inputs, **kw), depth=depth)


def test_reset_at_chunk_boundary_starts_a_fresh_document():
    inputs = make_inputs(T=40, seed=9)
    initial = tuple(torch.randn_like(w) * 0.3 for w in inputs["weights"])
    reset = torch.zeros(2, 40, dtype=torch.bool)
    reset[:, 16] = True
    y, W, S = chunk_memory_update(**inputs, chunk_size=8, reset=reset, reset_weights=initial)
    doc2 = {n: t[:, :, 16:] for n, t in inputs.items() if not isinstance(t, tuple)}
    y2, W2, S2 = chunk_memory_update(**doc2, weights=initial, chunk_size=8)
    torch.testing.assert_close(y[:, :, 16:], y2, atol=1e-12, rtol=0)
    for a, b in zip(W + S, W2 + S2):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)


def test_inner_loss_matches_naive():
    inputs = make_inputs(T=19, seed=10)
    *_, loss0 = naive_memory_update(**inputs, chunk_size=4, return_inner_loss=True)
    *_, loss1 = chunk_memory_update(**inputs, chunk_size=4, return_inner_loss=True)
    assert loss1.shape == (2, 2, 19)
    torch.testing.assert_close(loss1, loss0, atol=1e-12, rtol=0)


def test_float32_and_bfloat16():
    ref = make_inputs(T=50, seed=11)
    y64, W64, _ = chunk_memory_update(**ref, chunk_size=16)
    as_dtype = lambda dt: {n: tuple(w.to(dt) for w in t) if isinstance(t, tuple) else t.to(dt)  # noqa: E731
                           for n, t in ref.items()}
    y32, W32, _ = chunk_memory_update(**as_dtype(torch.float32), chunk_size=16)
    assert y32.dtype == torch.float32 and W32[0].dtype == torch.float32
    torch.testing.assert_close(y32.double(), y64, atol=1e-5, rtol=0)
    y16, W16, _ = chunk_memory_update(**as_dtype(torch.bfloat16), chunk_size=16)
    assert y16.dtype == torch.bfloat16 and W16[0].dtype == torch.float32  # accumulates in float32
    assert (y16.double() - y64).abs().max() < 0.1


def orthogonal_pairs(n, d, seed):
    g = torch.Generator().manual_seed(seed)
    keys = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))[0][:n]  # [n, d]
    values = torch.randn(n, d, generator=g, dtype=torch.float64)
    return keys, values


def write_then_read(keys, values, weights, theta, eta, alpha, chunk_size):
    """Write each (k, v) pair once, then read every key back with q = k.

    The reads neither write (theta = 0) nor re-apply old momentum (eta = 0) nor forget (alpha = 0).
    """
    n, d = keys.shape
    k = torch.cat([keys, keys])[None, None]  # [1, 1, 2n, d]
    v = torch.cat([values, torch.zeros_like(values)])[None, None]
    gate = lambda write, read: torch.tensor([write] * n + [read] * n, dtype=torch.float64)[None, None]  # noqa: E731
    y, _, _ = chunk_memory_update(
        k, k, v, gate(theta, 0.0), gate(eta, 0.0), gate(alpha, 0.0), weights, chunk_size=chunk_size
    )
    return y[0, 0, n:]  # the reads


def recall_error(y, values):
    return (y - values).pow(2).sum(-1).mean().item()


def test_depth1_memory_recalls_what_it_wrote():
    keys, values = orthogonal_pairs(8, 16, seed=0)
    W = (torch.zeros(1, 1, 16, 16, dtype=torch.float64),)
    baseline = recall_error(write_then_read(keys, values, W, 0.0, 0.0, 0.0, 4), values)
    learned = recall_error(write_then_read(keys, values, W, 0.4, 0.0, 0.0, 4), values)
    assert learned < 0.1 * baseline


def test_depth2_memory_improves_on_its_baseline():
    keys, values = orthogonal_pairs(8, 16, seed=1)
    g = torch.Generator().manual_seed(2)
    W = (torch.randn(1, 1, 16, 64, generator=g, dtype=torch.float64) / 4,
         torch.randn(1, 1, 64, 16, generator=g, dtype=torch.float64) / 8)
    reps = 20  # several passes over the pairs: the MLP is not written in one step
    k, v = keys.repeat(reps, 1), values.repeat(reps, 1)
    baseline = recall_error(write_then_read(keys, values, W, 0.0, 0.0, 0.0, 1), values)
    y = write_then_read(k, v, W, 0.1, 0.0, 0.0, 1)[-8:]
    assert recall_error(y, values) < 0.5 * baseline


def test_full_forgetting_drops_everything_before_the_last_chunk():
    keys, values = orthogonal_pairs(16, 16, seed=3)
    W = (torch.zeros(1, 1, 16, 16, dtype=torch.float64),)
    y = write_then_read(keys, values, W, 0.4, 0.0, 1 - 1e-6, chunk_size=4)
    early = recall_error(y[:12], values[:12])  # written before the last chunk of writes
    baseline = values[:12].pow(2).sum(-1).mean().item()  # the reading of an empty memory
    assert early > 0.99 * baseline
    assert recall_error(y[-1:], values[-1:]) < 0.1 * values[-1:].pow(2).sum().item()  # the last write stays


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda d: d.update(q=d["q"][0]), r"q: expected shape \[B, H, T, D\]"),
        (lambda d: d.update(k=d["k"][:, :, :3]), "k: expected shape"),
        (lambda d: d.update(theta=d["theta"][..., :3]), "theta: expected shape"),
        (lambda d: d.update(weights=d["weights"][:1]), r"weights\[0\]: expected shape"),
        (lambda d: d.update(momentum=d["momentum"][:1]), "momentum: expected 2 tensors"),
        (lambda d: d.update(q=d["q"][:, :, :0], k=d["k"][:, :, :0], v=d["v"][:, :, :0],
                            theta=d["theta"][..., :0], eta=d["eta"][..., :0], alpha=d["alpha"][..., :0]),
         "T = 0"),
    ],
)
def test_bad_input_is_a_clear_error(change, match):
    inputs = make_inputs(T=8)
    change(inputs)
    with pytest.raises(ValueError, match=match):
        chunk_memory_update(**inputs, chunk_size=4)


def test_bad_settings_are_clear_errors():
    inputs = make_inputs(T=8)
    with pytest.raises(ValueError, match="chunk_size must be a positive int"):
        chunk_memory_update(**inputs, chunk_size=0)
    with pytest.raises(ValueError, match="activation must be one of"):
        chunk_memory_update(**inputs, chunk_size=4, activation="relu")
    with pytest.raises(ValueError, match="reset needs reset_weights"):
        chunk_memory_update(**inputs, chunk_size=4, reset=torch.zeros(2, 8, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"mask: expected shape \[B, T\]"):
        chunk_memory_update(**inputs, chunk_size=4, mask=torch.ones(8, dtype=torch.bool))


def _graph_nodes(t):
    seen, stack = set(), [t.grad_fn]
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        stack.extend(f for f, _ in fn.next_functions)
    return seen


def test_autograd_graph_does_not_grow_with_the_number_of_chunks():
    """The chunk walk is one node with its own backward: no per-chunk slices for autograd to zero-fill.

    A structural check (speed is measured in benchmarks/): 4 and 64 chunks give graphs of equal size.
    """
    sizes = []
    for T in (16, 256):
        inputs = make_inputs(T=T, seed=12)
        inputs["q"].requires_grad_()
        y, _, _ = chunk_memory_update(**inputs, chunk_size=4)
        nodes = _graph_nodes(y)
        assert any(type(fn).__name__ == "ChunkedMemoryBackward" for fn in nodes)
        sizes.append(len(nodes))
    assert sizes[0] == sizes[1]


def test_every_saved_activation_goes_through_saved_tensor_hooks():
    """Activation checkpointing (and offloading) works through saved-tensor hooks: the per-chunk
    activations must pass through them, not hide on the autograd context, or recomputation saves
    nothing. Bytes seen by a hook grow with the number of chunks; the backward still works."""
    seen = []

    def pack(t):
        seen.append(t.numel() * t.element_size())
        return t

    totals = []
    for T in (16, 256):
        inputs = make_inputs(T=T, seed=13)
        inputs["k"].requires_grad_()
        seen.clear()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            y, _, _ = chunk_memory_update(**inputs, chunk_size=4)
        totals.append(sum(seen))
        y.sum().backward()
        assert torch.isfinite(inputs["k"].grad).all()
    # 16x the chunks: the per-chunk activations (h, z, deltas, x, u, scores) dominate what is saved
    assert totals[1] > 12 * totals[0]


def _count_subnormal(tensors) -> int:
    tiny = torch.finfo(torch.float32).tiny
    return sum(int(((t != 0) & (t.abs() < tiny)).sum()) for t in tensors)


def test_a_decayed_memory_is_flushed_to_zero_not_left_subnormal():
    # no writes (theta = 0) and strong forgetting: the state decays by 0.5 per token, so after 136
    # tokens the reference's weights sit near 0.5^136 ~ 1e-41, in float32's subnormal range
    inputs = make_inputs(T=136, dtype=torch.float32, seed=5)
    inputs.update(theta=torch.zeros_like(inputs["theta"]), alpha=torch.full_like(inputs["alpha"], 0.5))
    ref = run_with_grads(naive_memory_update, inputs, chunk_size=4)
    out = run_with_grads(chunk_memory_update, inputs, chunk_size=4)
    assert _count_subnormal(ref[1]) > 0  # the case the flush exists for (in the reference, unflushed)
    assert _count_subnormal(out[1] + out[2]) == 0
    assert all(bool((w == 0).all()) for w in out[1] + out[2])
    assert_match(ref, out, atol=1e-6)  # float32 rounding; the flush itself moves nothing by more than 2.3e-13


def test_the_flush_leaves_normal_state_untouched():
    inputs = make_inputs(T=40, dtype=torch.float32, seed=6)
    for w in inputs["weights"]:
        w[0, 0, 0, 0] = 1e-12  # above the threshold: kept as it is when nothing decays or writes
    inputs.update(theta=torch.zeros_like(inputs["theta"]), alpha=torch.zeros_like(inputs["alpha"]),
                  eta=torch.zeros_like(inputs["eta"]))
    _, W, _ = chunk_memory_update(**inputs, chunk_size=8)
    for w0, w in zip(inputs["weights"], W):
        assert torch.equal(w, w0)


@pytest.mark.parametrize("with_resets", [False, True])
def test_rows_split_over_threads_give_bitwise_the_single_walk(with_resets):
    inputs = make_inputs(B=3, H=2, T=37, dtype=torch.float32, seed=8)  # 6 rows: split 3 + 3, or 2 + 2 + 2
    extra = {}
    if with_resets:
        reset = torch.zeros(3, 37, dtype=torch.bool)
        reset[0, 9] = reset[2, 20] = True
        extra = dict(reset=reset, reset_weights=tuple(w[0, :1].clone() for w in inputs["weights"]))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single = run_with_grads(chunk_memory_update, inputs, chunk_size=8, **extra)
        for n in (2, 3):
            torch.set_num_threads(n)
            split = run_with_grads(chunk_memory_update, inputs, chunk_size=8, **extra)
            for a, b in zip([single[0], *single[1], *single[2], *single[3]], [split[0], *split[1], *split[2], *split[3]]):
                assert torch.equal(a, b)
    finally:
        torch.set_num_threads(threads)


def test_the_split_walk_keeps_inference_mode_and_no_grad():
    inputs = make_inputs(B=2, H=2, T=20, dtype=torch.float32, seed=9)
    with torch.inference_mode():
        y, W, _ = chunk_memory_update(**inputs, chunk_size=8)
    assert y.is_inference() and not W[0].requires_grad


def test_the_walk_is_split_over_threads_on_the_cpu_only():
    from titans.ops.row_parallel import row_parts

    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert row_parts(5, torch.device("cpu")) == [slice(0, 2), slice(2, 5)]
        assert row_parts(5, torch.device("meta")) == [slice(0, 5)]  # a GPU walks all rows in one slice
    finally:
        torch.set_num_threads(threads)
