"""SlidingWindowAttention and RoPE (SPEC §3): streaming, cache bound, causality, padding, sinks, errors."""

import math

import pytest
import torch

from titans.layers.attention import AttentionState, SlidingWindowAttention
from titans.layers.rope import RotaryEmbedding

DIM, HEADS, KV_HEADS = 16, 4, 2  # Dh = 4
T_LEN, N_SINKS = 19, 2


def make_attn(window, kv_heads=KV_HEADS, dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    return SlidingWindowAttention(DIM, HEADS, kv_heads=kv_heads, window=window).to(dtype)


def randx(*shape, seed=1, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g).to(dtype)


def left_padding(B, T, pads):
    """mask ``[B, T]`` with ``pads[b]`` padded tokens at the start of row b."""
    return torch.arange(T)[None, :] >= torch.tensor(pads)[:, None]


def run_split(attn, x, cuts, mask=None, sinks=None, state=None, reset=None):
    """x in pieces cut at ``cuts``, the state carried; checks the cache bound after every call."""
    ys = []
    bounds = [0, *cuts, x.shape[1]]
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        y, state = attn(x[:, lo:hi], state, mask=None if mask is None else mask[:, lo:hi], sinks=sinks,
                        reset=None if reset is None else reset[:, lo:hi])
        cached = state.k.shape[2]
        assert cached == (hi if attn.window is None else min(attn.window - 1, hi)), (lo, hi, cached)
        assert state.v.shape == state.k.shape and state.key_mask.shape == (x.shape[0], cached)
        assert state.position == hi
        ys.append(y)
    return torch.cat(ys, 1), state


# 1. streaming --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("window", [1, 3, 5, None])
@pytest.mark.parametrize("use_sinks", [False, True])
@pytest.mark.parametrize("padded", [False, True])
def test_split_and_token_by_token_match_one_call(window, use_sinks, padded):
    attn = make_attn(window)
    x = randx(2, T_LEN, DIM)
    sinks = randx(N_SINKS, DIM, seed=2) if use_sinks else None
    mask = left_padding(2, T_LEN, [0, 4]) if padded else None
    whole, state = run_split(attn, x, [], mask=mask, sinks=sinks)
    for cuts in ([1, 5, 6, 13], list(range(1, T_LEN))):
        split, split_state = run_split(attn, x, cuts, mask=mask, sinks=sinks)
        torch.testing.assert_close(split, whole, atol=1e-12, rtol=0)
        for name, t in state.tensors().items():
            if t.dtype == torch.bool:
                assert torch.equal(split_state.tensors()[name], t), name
            else:
                torch.testing.assert_close(split_state.tensors()[name], t, atol=1e-12, rtol=0, msg=name)


@pytest.mark.parametrize("window,cached", [(1, 0), (5, 4), (None, T_LEN)])
def test_cache_holds_window_minus_one_tokens(window, cached):
    attn = make_attn(window)
    x = randx(2, T_LEN, DIM)
    _, state = attn(x)
    assert state.k.shape == (2, KV_HEADS, cached, DIM // HEADS)
    assert state.position == T_LEN
    # the cache holds the last tokens' keys, rotated at their absolute positions
    last = x[:, T_LEN - cached:]
    k = attn.to_k(last).view(2, cached, KV_HEADS, DIM // HEADS).transpose(1, 2)
    torch.testing.assert_close(state.k, attn.rope(k, torch.arange(T_LEN - cached, T_LEN)), atol=1e-14, rtol=0)
    # a cache is a copy: it does not keep the whole call's keys alive
    if window is not None:
        assert state.k.untyped_storage().nbytes() == state.k.numel() * state.k.element_size()


# 2. what the layer computes ------------------------------------------------------------------------------


def naive_layer(attn, x, sinks, window):
    """The layer written out token by token: complex-number RoPE, explicit softmax per query."""
    B, T, _ = x.shape
    H, Hkv, Dh = attn.heads, attn.kv_heads, attn.dim_head
    q = attn.to_q(x).view(B, T, H, Dh)
    k = attn.to_k(x).view(B, T, Hkv, Dh)
    v = attn.to_v(x).view(B, T, Hkv, Dh)
    freqs = 10000.0 ** (-torch.arange(0, Dh, 2, dtype=torch.float64) / Dh)

    def rotate(t, p):  # half-split pairs (t_i, t_{i + Dh/2}) as complex numbers times e^{i p freq}
        z = torch.complex(t[..., : Dh // 2], t[..., Dh // 2:]) * torch.polar(torch.ones_like(freqs), p * freqs)
        return torch.cat([z.real, z.imag], -1)

    sk = attn.to_k(sinks).view(-1, Hkv, Dh)
    sv = attn.to_v(sinks).view(-1, Hkv, Dh)
    out = torch.zeros(B, T, H, Dh, dtype=x.dtype)
    for b in range(B):
        for t in range(T):
            for h in range(H):
                g = h // (H // Hkv)
                js = [j for j in range(t + 1) if window is None or t - j < window]
                scores = [rotate(q[b, t, h], t) @ rotate(k[b, j, g], j) for j in js]
                scores += [q[b, t, h] @ sk[n, g] for n in range(sk.shape[0])]  # sinks: no rotation at all
                p = torch.softmax(torch.stack(scores) / math.sqrt(Dh), 0)
                out[b, t, h] = p @ torch.cat([v[b, js, g], sv[:, g]])
    return attn.to_out(out.reshape(B, T, H * Dh))


@pytest.mark.parametrize("window", [3, None])
def test_matches_naive_layer(window):
    attn = make_attn(window)
    x, sinks = randx(2, 9, DIM), randx(N_SINKS, DIM, seed=2)
    with torch.no_grad():
        out, _ = attn(x, sinks=sinks)
        torch.testing.assert_close(out, naive_layer(attn, x, sinks, window), atol=1e-12, rtol=0)


@pytest.mark.parametrize("window", [3, None])
def test_outputs_do_not_depend_on_the_absolute_position(window):
    """RoPE is relative and sinks sit at distance 0: starting at position 10^6 changes nothing."""
    attn = make_attn(window)
    x, sinks = randx(2, 11, DIM), randx(N_SINKS, DIM, seed=2)
    out, _ = attn(x, sinks=sinks)
    far = attn.initial_state(2, dtype=torch.float64)
    far.position = 10**6
    out_far, state = attn(x, far, sinks=sinks)
    assert state.position == 10**6 + 11
    torch.testing.assert_close(out_far, out, atol=1e-9, rtol=0)


# 3. causality and padding --------------------------------------------------------------------------------


@pytest.mark.parametrize("window", [3, None])
def test_changing_token_t_changes_no_earlier_output(window):
    attn = make_attn(window)
    x, sinks = randx(2, T_LEN, DIM), randx(N_SINKS, DIM, seed=2)
    out, _ = attn(x, sinks=sinks)
    for t in (0, 7, T_LEN - 1):
        x2 = x.clone()
        x2[:, t] += randx(2, DIM, seed=3)
        out2, _ = attn(x2, sinks=sinks)
        torch.testing.assert_close(out2[:, :t], out[:, :t], atol=1e-14, rtol=0)
        assert (out2[:, t] - out[:, t]).abs().amax() > 1e-3


@pytest.mark.parametrize("window", [1, 3, None])
@pytest.mark.parametrize("use_sinks", [False, True])
def test_left_padding_matches_the_unpadded_row(window, use_sinks):
    attn = make_attn(window)
    pad, T = 5, 9
    real = randx(1, T, DIM)
    sinks = randx(N_SINKS, DIM, seed=2) if use_sinks else None
    alone, _ = attn(real, sinks=sinks)
    x = torch.cat([randx(1, pad, DIM, seed=4) * 10, real], 1)
    x = torch.cat([x, randx(1, pad + T, DIM, seed=5)])  # a second, unpadded row beside it
    out, _ = attn(x, mask=left_padding(2, pad + T, [pad, 0]), sinks=sinks)
    torch.testing.assert_close(out[0, pad:], alone[0], atol=1e-12, rtol=0)
    assert torch.equal(out[0, :pad], torch.zeros_like(out[0, :pad]))


def test_padded_tokens_are_never_keys():
    attn = make_attn(4)
    x = randx(2, T_LEN, DIM)
    mask = torch.ones(2, T_LEN, dtype=torch.bool)
    mask[:, [3, 8, 9]] = False
    out, _ = attn(x, mask=mask)
    x2 = x.clone()
    x2[:, [3, 8, 9]] = randx(2, 3, DIM, seed=6) * 100
    out2, _ = attn(x2, mask=mask)
    torch.testing.assert_close(out2, out, atol=1e-14, rtol=0)
    assert out[:, [3, 8, 9]].abs().amax() == 0


def packed_resets():
    """Row 0: documents start at 6 and 9 (and on a padded token, 2); row 1: at 0 and 12."""
    reset = torch.zeros(2, T_LEN, dtype=torch.bool)
    reset[0, [2, 6, 9]] = True
    reset[1, [0, 12]] = True
    return reset


@pytest.mark.parametrize("window", [1, 3, None])
def test_split_with_resets_matches_one_call(window):
    """A document start in an earlier call still hides everything before it (through the cache)."""
    attn = make_attn(window)
    x, sinks = randx(2, T_LEN, DIM), randx(N_SINKS, DIM, seed=2)
    mask = left_padding(2, T_LEN, [4, 0])
    reset = packed_resets()
    whole, state = run_split(attn, x, [], mask=mask, sinks=sinks, reset=reset)
    for cuts in ([6], [7, 10], [5, 9, 12, 13], list(range(1, T_LEN))):
        split, split_state = run_split(attn, x, cuts, mask=mask, sinks=sinks, reset=reset)
        torch.testing.assert_close(split, whole, atol=1e-12, rtol=0)
        assert torch.equal(split_state.key_mask, state.key_mask)


@pytest.mark.parametrize("window", [1, 3, None])
def test_a_packed_document_reads_as_if_alone(window):
    """Any start position (RoPE is relative, the sinks input-independent): nothing of the earlier
    document reaches the later one, in values or gradients."""
    attn = make_attn(window)
    sinks = randx(N_SINKS, DIM, seed=2)
    for start in (1, 5, 11):
        x = randx(1, T_LEN, DIM).requires_grad_()
        reset = torch.zeros(1, T_LEN, dtype=torch.bool)
        reset[0, start] = True
        packed, _ = attn(x, sinks=sinks, reset=reset)
        alone, _ = attn(x[:, start:], sinks=sinks)
        torch.testing.assert_close(packed[:, start:], alone, atol=1e-12, rtol=0)
        (grad,) = torch.autograd.grad(packed[:, start:].sum(), x)
        assert grad[:, :start].abs().amax() == 0


def test_resets_never_change_a_reset_free_call():
    attn = make_attn(3)
    x = randx(2, T_LEN, DIM)
    out, state = attn(x)
    out_r, state_r = attn(x, reset=torch.zeros(2, T_LEN, dtype=torch.bool))
    torch.testing.assert_close(out_r, out, atol=1e-14, rtol=0)
    assert torch.equal(state_r.key_mask, state.key_mask)


# 4. RoPE -------------------------------------------------------------------------------------------------


def test_rope_half_split_convention():
    """Pair i is (x_i, x_{i + Dh/2}), rotated by position * base^(-2i/Dh)."""
    rope = RotaryEmbedding(4, base=10000.0)
    x = torch.eye(4, dtype=torch.float64)[None, None]  # token j = e_j
    p = 7
    out = rope(x[:, :, :2], torch.tensor([p, p]))  # e_0 and e_1
    c0, s0, c1, s1 = math.cos(p), math.sin(p), math.cos(p / 100), math.sin(p / 100)
    torch.testing.assert_close(out[0, 0, 0], torch.tensor([c0, 0, s0, 0], dtype=torch.float64), atol=1e-15, rtol=0)
    torch.testing.assert_close(out[0, 0, 1], torch.tensor([0, c1, 0, s1], dtype=torch.float64), atol=1e-15, rtol=0)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-9), (torch.float32, 1e-4)])
def test_rope_is_a_rotation_by_relative_position(dtype, tol):
    Dh = 64
    rope = RotaryEmbedding(Dh)
    q, k = randx(1, 2, 1, Dh, seed=7).to(dtype), randx(1, 2, 1, Dh, seed=8).to(dtype)
    q, k = q / q.norm(dim=-1, keepdim=True), k / k.norm(dim=-1, keepdim=True)
    at = lambda t, p: rope(t, torch.tensor([p]))  # noqa: E731
    for p in (0, 10**6):
        torch.testing.assert_close(at(q, p).norm(dim=-1), q.norm(dim=-1), atol=tol, rtol=0)
    for d in (1, 37, 5000):
        near = (at(q, 0) * at(k, d)).sum(-1)
        far = (at(q, 10**6) * at(k, 10**6 + d)).sum(-1)
        torch.testing.assert_close(far, near, atol=tol, rtol=0)
    assert (at(q, 0) * at(k, 1)).sum(-1).sub((q * k).sum(-1)).abs().amax() > 1e-3  # it does rotate


def test_rope_angles_are_float64_for_float32_inputs():
    """At position 10^6 float32 angles would be off by ~0.03 rad; float32 output must be within rounding."""
    rope = RotaryEmbedding(64)
    x = randx(1, 2, 3, 64, seed=9)
    positions = torch.tensor([10**6, 10**6 + 1, 2**31 + 5])
    torch.testing.assert_close(rope(x.float(), positions).double(), rope(x, positions), atol=2e-6, rtol=0)


def test_rope_errors():
    with pytest.raises(ValueError, match="even"):
        RotaryEmbedding(5)
    rope = RotaryEmbedding(4)
    with pytest.raises(ValueError, match="positions: expected"):
        rope(torch.zeros(1, 1, 3, 4), torch.arange(2))
    with pytest.raises(ValueError, match="integers"):
        rope(torch.zeros(1, 1, 3, 4), torch.arange(3.0))
    with pytest.raises(ValueError, match="x: expected"):
        rope(torch.zeros(1, 3, 6), torch.arange(3))


# 5. state and errors -------------------------------------------------------------------------------------


def test_state_detach_to_and_tensors_round_trip():
    attn = make_attn(4)
    x = randx(2, T_LEN, DIM)
    mask = left_padding(2, T_LEN, [0, 2])
    _, state = attn(x[:, :10], mask=mask[:, :10])
    assert state.k.requires_grad and not state.detach().k.requires_grad
    low = state.to(dtype=torch.float32)
    assert low.k.dtype == torch.float32 and low.key_mask.dtype == torch.bool and low.position == state.position
    restored = AttentionState.from_tensors(state.tensors(), state.position)
    out, _ = attn(x[:, 10:], state, mask=mask[:, 10:])
    out2, _ = attn(x[:, 10:], restored, mask=mask[:, 10:])
    assert torch.equal(out, out2)
    with pytest.raises(KeyError, match="key_mask"):
        AttentionState.from_tensors({"k": state.k, "v": state.v}, 3)


def test_grouped_query_projection_sizes():
    attn = make_attn(4)
    assert attn.to_q.weight.shape == (HEADS * 4, DIM)
    assert attn.to_k.weight.shape == attn.to_v.weight.shape == (KV_HEADS * 4, DIM)
    assert attn.to_out.weight.shape == (DIM, HEADS * 4)
    assert all(m.bias is None for m in (attn.to_q, attn.to_k, attn.to_v, attn.to_out))


def test_constructor_errors():
    with pytest.raises(ValueError, match="not divisible by heads"):
        SlidingWindowAttention(16, 3)
    with pytest.raises(ValueError, match="not divisible by kv_heads"):
        SlidingWindowAttention(16, 4, kv_heads=3)
    with pytest.raises(ValueError, match="even head width"):
        SlidingWindowAttention(12, 4)
    with pytest.raises(ValueError, match="window must be a positive int"):
        SlidingWindowAttention(16, 4, window=0)


def test_forward_errors():
    attn = make_attn(4)
    x = randx(2, 5, DIM)
    _, state = attn(x)
    cases = [
        (dict(x=x[0]), "x: expected"),
        (dict(x=x[..., :8]), "x: expected"),
        (dict(x=x[:, :0]), "T = 0"),
        (dict(x=x[:1], state=state), "batch size 2"),
        (dict(mask=torch.ones(2, 4, dtype=torch.bool)), "mask: expected"),
        (dict(reset=torch.zeros(2, 4, dtype=torch.bool)), "reset: expected"),
        (dict(sinks=randx(2, 8)), "sinks: expected"),
        (dict(state=make_attn(4, kv_heads=1)(x)[1]), "state=None"),
    ]
    for kwargs, message in cases:
        kwargs = {"x": x, **kwargs}
        with pytest.raises(ValueError, match=message):
            attn(kwargs.pop("x"), kwargs.pop("state", None), **kwargs)
