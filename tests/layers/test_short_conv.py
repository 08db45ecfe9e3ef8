"""ShortConv: causal depthwise conv with a carried tail and document-boundary cuts."""

import pytest
import torch
import torch.nn.functional as F

from titans.layers import ShortConv


def make_conv(channels=6, kernel_size=4, seed=0):
    torch.manual_seed(seed)
    conv = ShortConv(channels, kernel_size).double()
    with torch.no_grad():
        conv.weight.normal_()  # far from the near-identity init, so every tap matters
    return conv


def reference(conv, x):
    """Causal depthwise conv1d: left zero padding, kernel flipped (tap i multiplies x_{t-i})."""
    C, K = conv.weight.shape
    xt = F.pad(x.transpose(1, 2), (K - 1, 0))
    return F.conv1d(xt, conv.weight.flip(-1).unsqueeze(1), groups=C).transpose(1, 2)


@pytest.mark.parametrize("kernel_size", [1, 2, 4])
def test_matches_causal_depthwise_conv1d(kernel_size):
    conv = make_conv(kernel_size=kernel_size)
    x = torch.randn(2, 11, 6, dtype=torch.float64)
    out, tail = conv(x)
    assert out.shape == x.shape
    torch.testing.assert_close(out, reference(conv, x), atol=1e-12, rtol=0)
    assert tail.shape == (2, kernel_size - 1, 6)
    torch.testing.assert_close(tail, x[:, x.shape[1] - (kernel_size - 1):], atol=0, rtol=0)


@pytest.mark.parametrize("cuts", [[5], [1, 2, 3], [2, 9], list(range(1, 11))])
def test_split_calls_with_tail_equal_one_call(cuts):
    conv = make_conv()
    x = torch.randn(2, 11, 6, dtype=torch.float64)
    full, full_tail = conv(x)
    outs, tail = [], None
    bounds = [0, *cuts, x.shape[1]]
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        out, tail = conv(x[:, lo:hi], tail)
        outs.append(out)
    torch.testing.assert_close(torch.cat(outs, 1), full, atol=1e-12, rtol=0)
    torch.testing.assert_close(tail, full_tail, atol=0, rtol=0)


@pytest.mark.parametrize("p", [1, 2, 5, 10])
def test_reset_cuts_the_window(p):
    conv = make_conv()
    x = torch.randn(2, 11, 6, dtype=torch.float64)
    reset = torch.zeros(2, 11, dtype=torch.bool)
    reset[:, p] = True
    out, _ = conv(x, reset=reset)
    alone, _ = conv(x[:, p:])
    before, _ = conv(x[:, :p])
    torch.testing.assert_close(out[:, p:], alone, atol=1e-12, rtol=0)
    torch.testing.assert_close(out[:, :p], before, atol=1e-12, rtol=0)
    # without the reset the window does reach across p
    plain, _ = conv(x)
    assert (plain[:, p] - alone[:, 0]).abs().max() > 1e-3


def test_reset_at_call_start_ignores_tail():
    conv = make_conv()
    x = torch.randn(1, 12, 6, dtype=torch.float64)
    _, tail = conv(x[:, :7])
    reset = torch.zeros(1, 5, dtype=torch.bool)
    reset[0, 0] = True
    out, _ = conv(x[:, 7:], tail, reset)
    alone, _ = conv(x[:, 7:])
    torch.testing.assert_close(out, alone, atol=1e-12, rtol=0)
    continued, _ = conv(x[:, 7:], tail)
    assert (continued[:, 0] - alone[:, 0]).abs().max() > 1e-3


def test_split_right_after_a_reset_equals_one_call():
    conv = make_conv()
    x = torch.randn(1, 10, 6, dtype=torch.float64)
    reset = torch.zeros(1, 10, dtype=torch.bool)
    reset[0, 5] = True
    full, _ = conv(x, reset=reset)
    a, tail = conv(x[:, :6], reset=reset[:, :6])
    b, _ = conv(x[:, 6:], tail, reset[:, 6:])
    torch.testing.assert_close(torch.cat([a, b], 1), full, atol=1e-12, rtol=0)


@pytest.mark.parametrize("split", [5, 9])
def test_split_at_or_well_after_a_reset_equals_one_call(split):
    conv = make_conv()
    x = torch.randn(1, 12, 6, dtype=torch.float64)
    reset = torch.zeros(1, 12, dtype=torch.bool)
    reset[0, 5] = True
    full, _ = conv(x, reset=reset)
    a, tail = conv(x[:, :split], reset=reset[:, :split])
    b, _ = conv(x[:, split:], tail, reset[:, split:])
    torch.testing.assert_close(torch.cat([a, b], 1), full, atol=1e-12, rtol=0)


def test_concatenated_channels_equal_separate_convs():
    """NeuralMemory runs its q, k, v convs as one causal_conv over concatenated channels: the same
    outputs and tails as three modules, with carried tails and a document start."""
    from titans.layers.short_conv import causal_conv

    convs = [make_conv(channels=3, seed=s) for s in range(3)]
    x = torch.randn(2, 9, 9, dtype=torch.float64)
    tails = [torch.randn(2, 3, 3, dtype=torch.float64) for _ in range(3)]
    reset = torch.zeros(2, 9, dtype=torch.bool)
    reset[1, 4] = True
    out, tail = causal_conv(x, torch.cat([c.weight for c in convs]), torch.cat(tails, -1), reset)
    for i, (conv, part, t) in enumerate(zip(convs, x.chunk(3, -1), tails)):
        want_out, want_tail = conv(part, t, reset)
        torch.testing.assert_close(out[..., 3 * i : 3 * i + 3], want_out, rtol=0, atol=0)
        torch.testing.assert_close(tail[..., 3 * i : 3 * i + 3], want_tail, rtol=0, atol=0)
