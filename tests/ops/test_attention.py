"""Attention op (SPEC §3): blocked and SDPA paths against the naive reference — outputs and gradients.
(The flex path, which has no CPU backward: test_attention_flex.py.)"""

import pytest
import torch

from titans.ops.attention import _choose_backend, attention_reference, sliding_window_attention

B, HQ, HKV, DH = 2, 4, 2, 8


def rand(*shape, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g).to(dtype)


def make(T, C, n_sinks=0, holes=False, heads=(HQ, HKV), sink_batch=B, sink_q=False, resets=False,
         dtype=torch.float64, seed=0, width=DH):
    Hq, Hkv = heads
    L = C + T
    inputs = dict(q=rand(B, Hq, T, width, seed=seed, dtype=dtype),
                  k=rand(B, Hkv, L, width, seed=seed + 1, dtype=dtype), v=rand(B, Hkv, L, width, seed=seed + 2, dtype=dtype))
    if n_sinks:
        inputs["sink_k"] = rand(sink_batch, Hkv, n_sinks, width, seed=seed + 3, dtype=dtype)
        inputs["sink_v"] = rand(sink_batch, Hkv, n_sinks, width, seed=seed + 4, dtype=dtype)
    if sink_q:
        inputs["sink_q"] = rand(B, Hq, T, width, seed=seed + 5, dtype=dtype)
    if holes:
        g = torch.Generator().manual_seed(seed + 6)
        key_mask = torch.rand(B, L, generator=g) > 0.3
        key_mask[1, :3] = False  # left padding in one row
        inputs["key_mask"] = key_mask
    if resets:
        g = torch.Generator().manual_seed(seed + 7)
        reset = torch.rand(B, T, generator=g) < 0.15
        reset[0, 0] = True  # a document starts with the first query: the whole cache is hidden
        reset[1, T // 2] = True  # and one in the middle of the other row
        inputs["reset"] = reset
    return inputs


def outputs_and_grads(fn, inputs, **kwargs):
    leaves = {n: t.detach().clone().requires_grad_() for n, t in inputs.items() if t.is_floating_point()}
    others = {n: t for n, t in inputs.items() if not t.is_floating_point()}
    out = fn(**leaves, **others, **kwargs)
    weight = rand(*out.shape, seed=99, dtype=out.dtype).to(out.device)
    grads = torch.autograd.grad((out * weight).sum(), list(leaves.values()))
    return out, dict(zip(leaves, grads))


def assert_match(inputs, atol=1e-12, backend="auto", **kwargs):
    out, grads = outputs_and_grads(sliding_window_attention, inputs, backend=backend, **kwargs)
    ref, ref_grads = outputs_and_grads(attention_reference, inputs, **kwargs)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, ref, atol=atol, rtol=0)
    for name in ref_grads:
        torch.testing.assert_close(grads[name], ref_grads[name], atol=atol, rtol=0, msg=f"grad of {name}")
    return out


def cases():
    for window in (1, 4, 16, None):
        for C in sorted({0, 3, (window or 6) - 1}):
            for T in (1, 7, 16, 37):
                for backend in ("auto", "sdpa") if window is None else ("auto", "blocked", "sdpa"):
                    yield T, window, C, backend


@pytest.mark.parametrize("T,window,C,backend", list(cases()))
@pytest.mark.parametrize(
    "n_sinks,holes,resets",
    [(0, False, False), (0, True, False), (3, True, False), (3, False, False), (0, True, True), (3, True, True)],
)
def test_matches_reference(T, window, C, n_sinks, holes, resets, backend):
    """Every backend (the blocked path needs a window; auto takes one of the others by the shape)."""
    assert_match(make(T, C, n_sinks=n_sinks, holes=holes, resets=resets), window=window, backend=backend)


@pytest.mark.parametrize("window,backend", [(4, "auto"), (4, "blocked"), (4, "sdpa"), (None, "auto"), (None, "sdpa")])
@pytest.mark.parametrize("heads", [(2, 2), (4, 1), (4, 2)])
@pytest.mark.parametrize("holes_and_resets", [True, False])
def test_matches_reference_heads_sink_queries_and_shared_sinks(window, heads, backend, holes_and_resets):
    """Plain multi-head, grouped and multi-query attention; sinks shared over the batch; separate sink
    queries; with padding and document starts, and without (one mask for every row)."""
    inputs = make(23, 5, n_sinks=2, holes=holes_and_resets, heads=heads, sink_batch=1, sink_q=True,
                  resets=holes_and_resets)
    assert_match(inputs, window=window, scale=0.3, backend=backend)


def test_window_is_the_visibility_rule():
    """Hand check, independent of the reference: equal scores and one-hot values make out[t] the
    uniform distribution over the keys query t sees."""
    T, C, w = 6, 2, 3
    L = C + T
    zeros = lambda n: torch.zeros(1, 1, n, L, dtype=torch.float64)  # noqa: E731
    v = torch.eye(L, dtype=torch.float64)[None, None]  # value j = e_j
    out = sliding_window_attention(zeros(T), zeros(L), v, window=w)
    for t in range(T):
        i = C + t
        expected = torch.zeros(L, dtype=torch.float64)
        expected[max(0, i - w + 1): i + 1] = 1.0 / min(w, i + 1)
        torch.testing.assert_close(out[0, 0, t], expected, atol=1e-15, rtol=0)


@pytest.mark.parametrize("window", [3, 5, None])
def test_a_document_start_hides_every_earlier_key(window):
    """Hand check as above: query t sees the keys of its window from its document's first token on
    (documents start at queries 2 and 4, key indices 4 and 6), and the sink whatever the resets."""
    T, C = 7, 2
    L = C + T
    reset = torch.zeros(1, T, dtype=torch.bool)
    reset[0, [2, 4]] = True
    zeros = lambda *shape: torch.zeros(1, 1, *shape, dtype=torch.float64)  # noqa: E731
    v = torch.eye(L + 1, dtype=torch.float64)[None, None]  # value j = e_j, the sink's is e_L
    out = sliding_window_attention(zeros(T, L + 1), zeros(L, L + 1), v[:, :, :L], window=window, reset=reset,
                                   sink_k=zeros(1, L + 1), sink_v=v[:, :, L:])
    for t in range(T):
        i, first = C + t, (0 if t < 2 else C + 2 if t < 4 else C + 4)
        seen = [j for j in range(first, i + 1) if window is None or i - j < window] + [L]
        expected = torch.zeros(L + 1, dtype=torch.float64)
        expected[seen] = 1.0 / len(seen)
        torch.testing.assert_close(out[0, 0, t], expected, atol=1e-15, rtol=0)


@pytest.mark.parametrize("window", [1, 3, None])
def test_query_seeing_nothing_gives_zeros(window):
    inputs = make(7, 3, holes=False)
    key_mask = torch.ones(B, 10, dtype=torch.bool)
    key_mask[0] = False  # row 0: no key at all
    key_mask[1, :6] = False  # row 1: queries 0..2 (key indices 3..5) see nothing
    inputs["key_mask"] = key_mask
    out = assert_match(inputs, window=window)
    assert torch.equal(out[0], torch.zeros_like(out[0]))
    blind = [t for t in range(7) if not any(key_mask[1, j] for j in range(10)
                                           if 0 <= 3 + t - j < (window or 99))]
    assert blind, "the case must contain a blind query in row 1"
    assert torch.equal(out[1, :, blind], torch.zeros_like(out[1, :, blind]))
    assert (out[1, :, [t for t in range(7) if t not in blind]].abs().sum(-1) > 0).all()


def test_low_precision_accumulates_in_float32():
    inputs = make(37, 3, n_sinks=2, holes=True)
    ref = attention_reference(**inputs, window=4)
    for window in (4, None):
        low = {n: t.to(torch.bfloat16) if t.is_floating_point() else t for n, t in inputs.items()}
        out = sliding_window_attention(**low, window=window)
        assert out.dtype == torch.bfloat16
        if window == 4:
            torch.testing.assert_close(out.double(), ref, atol=3e-2, rtol=0)
        f32 = {n: t.float() if t.is_floating_point() else t for n, t in inputs.items()}
        torch.testing.assert_close(sliding_window_attention(**f32, window=window).double(),
                                   attention_reference(**inputs, window=window), atol=1e-5, rtol=0)


def test_blocked_memory_is_linear_in_the_window():
    """No saved tensor of the windowed path is anywhere near T x L (the reference's is)."""
    T, w = 512, 8
    inputs = make(T, w - 1, n_sinks=2, holes=True, resets=True)
    q = inputs["q"].requires_grad_()
    largest = [0]

    def pack(t):
        largest[0] = max(largest[0], t.numel())
        return t

    for fn, check in ((sliding_window_attention, lambda n: n <= B * HQ * T * 2 * w),
                      (attention_reference, lambda n: n >= B * HQ * T * T)):
        largest[0] = 0
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            fn(**{**inputs, "q": q}, window=w)
        assert check(largest[0]), (fn.__name__, largest[0])


def test_errors():
    good = make(5, 2, n_sinks=2, holes=True)
    bad_cases = [
        (dict(q=good["q"][0]), "q: expected"),
        (dict(q=good["q"][:, :3]), "multiple of the key/value heads"),
        (dict(k=good["k"][:, :, :3], v=good["v"][:, :, :3], key_mask=good["key_mask"][:, :3]),
         "3 keys for 5 queries"),
        (dict(v=good["v"][..., :4]), "v: expected the shape of k"),
        (dict(k=good["k"][..., :4], v=good["v"][..., :4]), "k: expected"),
        (dict(sink_v=None), "together"),
        (dict(sink_k=good["sink_k"][:, :1], sink_v=good["sink_v"][:, :1]), "sink_k: expected"),
        (dict(key_mask=good["key_mask"][:, 1:]), "key_mask: expected"),
        (dict(key_mask=good["key_mask"].float()), "bool"),
        (dict(q=good["q"][:, :, :0]), "T = 0"),
        (dict(sink_q=good["q"][:, :, 1:]), "sink_q: expected"),
        (dict(reset=torch.zeros(B, 4, dtype=torch.bool)), "reset: expected"),
        (dict(reset=torch.zeros(B, 5)), "reset: expected .* bool"),
    ]
    for change, message in bad_cases:
        for fn in (sliding_window_attention, attention_reference):
            with pytest.raises(ValueError, match=message):
                fn(**{**good, **change}, window=4)
    for window in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="window must be a positive int"):
            sliding_window_attention(**good, window=window)
    with pytest.raises(ValueError, match="backend must be one of"):
        sliding_window_attention(**good, window=4, backend="cudnn")
    with pytest.raises(ValueError, match="needs a window"):
        sliding_window_attention(**good, window=None, backend="blocked")


@pytest.mark.parametrize("T,C,window,expected", [
    (256, 0, 128, "sdpa"),     # a row of two windows (the main job's SWA blocks): as many scores either way
    (128, 127, 128, "sdpa"),   # one window's queries after a full cache
    (1, 127, 128, "sdpa"),     # decoding
    (512, 0, 128, "blocked"),  # four windows: dense would take twice the scores
    (256, 0, 64, "blocked"),
    (2048, 0, 512, "blocked"),
    (256, 0, None, "sdpa"),    # no window: SDPA's causal kernel
])
def test_cpu_takes_dense_attention_only_where_it_computes_no_more_scores(T, C, window, expected):
    q = torch.zeros(1, 1, T, 4)
    assert _choose_backend("auto", q, window, None, None, None, C + T) == expected
