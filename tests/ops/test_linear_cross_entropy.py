"""The head and its cross-entropy in blocks of rows (titans.ops.linear_cross_entropy) against the logits
taken whole and torch's cross-entropy: the loss, and the gradient of the hidden states and of the head."""

import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from titans.ops.linear_cross_entropy import linear_cross_entropy

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
from model_inputs import make_model, tokens_for  # noqa: E402


def _inputs(n=37, d=8, v=29, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(n, d, generator=g, dtype=dtype).requires_grad_()
    weight = torch.randn(v, d, generator=g, dtype=dtype).requires_grad_()
    targets = torch.randint(0, v, (n,), generator=g)
    weights = torch.rand(n, generator=g, dtype=dtype)
    weights[::5] = 0  # unscored positions
    return hidden, weight, targets, weights


def _reference(hidden, weight, targets, weights):
    return (F.cross_entropy(hidden @ weight.T, targets, reduction="none") * weights).sum()


@pytest.mark.parametrize("rows", [1, 6, 37, 100, None])
def test_loss_and_gradients_equal_the_whole_logits(rows):
    hidden, weight, targets, weights = _inputs()
    got = linear_cross_entropy(hidden, weight, targets, weights, rows=rows)
    want = _reference(hidden, weight, targets, weights)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    upstream = 1.7  # the backward scales by whatever multiplies the loss
    got_grads = torch.autograd.grad(got * upstream, (hidden, weight))
    want_grads = torch.autograd.grad(want * upstream, (hidden, weight))
    for g, w in zip(got_grads, want_grads):
        assert g.dtype == w.dtype
        torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)


def test_default_weights_count_every_position_and_bool_weights_select():
    hidden, weight, targets, _ = _inputs()
    ones = torch.ones(targets.shape, dtype=torch.float64)
    torch.testing.assert_close(linear_cross_entropy(hidden, weight, targets).double(),
                               _reference(hidden, weight, targets, ones), rtol=1e-6, atol=1e-6)
    scored = torch.arange(targets.numel()) % 3 == 0
    torch.testing.assert_close(linear_cross_entropy(hidden, weight, targets, scored),
                               _reference(hidden, weight, targets, scored.double()), rtol=1e-12, atol=1e-12)


class _GradientWork:
    """Counts the op's gradient work: the softmax's one-hot step (any gradient), the hidden states'
    product (``@``) and the head's accumulation (``addmm_``)."""

    def __init__(self, monkeypatch):
        self.calls = {"scatter_add_": 0, "__matmul__": 0, "addmm_": 0}
        for name in self.calls:
            real = getattr(torch.Tensor, name)

            def spy(*args, _real=real, _name=name, **kwargs):
                self.calls[_name] += 1
                return _real(*args, **kwargs)

            monkeypatch.setattr(torch.Tensor, name, spy)


def test_without_gradients_only_the_loss_is_taken(monkeypatch):
    hidden, weight, targets, weights = _inputs()
    work = _GradientWork(monkeypatch)
    with torch.no_grad():  # validation: the parameters still require grad, and no gradient is taken
        got = linear_cross_entropy(hidden, weight, targets, weights, rows=4)
    assert not got.requires_grad and work.calls == {"scatter_add_": 0, "__matmul__": 0, "addmm_": 0}
    torch.testing.assert_close(got, _reference(hidden, weight, targets, weights).detach(), rtol=1e-12, atol=1e-12)
    frozen = hidden.detach()  # only the head learns: its gradient alone
    work.calls = dict.fromkeys(work.calls, 0)
    loss = linear_cross_entropy(frozen, weight, targets, weights, rows=4)
    assert work.calls == {"scatter_add_": 10, "__matmul__": 0, "addmm_": 10}  # 37 rows: 10 blocks
    (grad,) = torch.autograd.grad(loss, (weight,))
    (want,) = torch.autograd.grad(_reference(frozen, weight, targets, weights), (weight,))
    torch.testing.assert_close(grad, want, rtol=1e-12, atol=1e-12)


def test_under_bf16_autocast_the_logits_are_bf16_and_the_gradients_keep_their_dtypes():
    hidden, weight, targets, weights = (t.float() if t.is_floating_point() else t for t in _inputs(n=64, d=32, v=50))
    hidden, weight = hidden.detach().requires_grad_(), weight.detach().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = linear_cross_entropy(hidden, weight, targets, weights)
    got.backward()
    assert got.dtype == torch.float32 and hidden.grad.dtype == weight.grad.dtype == torch.float32
    # the head's matmul as autocast takes it (bf16 in and out), the softmax in float32
    logits = (hidden.detach().bfloat16() @ weight.detach().bfloat16().T).float()
    bf16 = (F.cross_entropy(logits, targets, reduction="none") * weights).sum()
    torch.testing.assert_close(got, bf16, rtol=1e-6, atol=1e-6)
    assert abs(float(got - _reference(hidden.detach(), weight.detach(), targets, weights))) > 1e-4
    # the gradients within bf16's rounding of the float32 head's
    h, w = hidden.detach().requires_grad_(), weight.detach().requires_grad_()
    want = torch.autograd.grad(_reference(h, w, targets, weights), (h, w))
    for g, ref in zip((hidden.grad, weight.grad), want):
        torch.testing.assert_close(g, ref, rtol=0.05, atol=0.02 * float(ref.abs().max()))


@pytest.mark.parametrize("variant,tied", [("mac", True), ("mag", False), ("transformer", True)])
def test_the_model_s_loss_path_equals_its_logits(variant, tied):
    model = make_model(variant, tie_embeddings=tied)
    tokens = tokens_for()
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    weights = (torch.arange(targets.numel()).view(targets.shape) % 4 != 0).double()
    nats, state = model(inputs, targets=targets, target_weights=weights)
    got = torch.autograd.grad(nats, list(model.parameters()))
    logits, want_state = model(inputs)
    want_nats = (F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none") * weights.flatten()).sum()
    want = torch.autograd.grad(want_nats, list(model.parameters()))
    torch.testing.assert_close(nats, want_nats, rtol=1e-12, atol=1e-12)
    for (name, _), g, w in zip(model.named_parameters(), got, want):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12, msg=lambda m, name=name: f"{name}: {m}")
    assert state.position == want_state.position


def test_bad_inputs_say_what_was_expected():
    hidden, weight, targets, weights = _inputs()
    with pytest.raises(ValueError, match=r"hidden \[N, D\] and weight \[V, D\]"):
        linear_cross_entropy(hidden, weight[:, :3], targets)
    with pytest.raises(ValueError, match="integer token ids"):
        linear_cross_entropy(hidden, weight, targets.double())
    with pytest.raises(ValueError, match="target_weights: expected"):
        linear_cross_entropy(hidden, weight, targets, weights[:-1])
    with pytest.raises(ValueError, match="rows must be >= 1"):
        linear_cross_entropy(hidden, weight, targets, rows=0)
    model, tokens = make_model("lmm"), tokens_for()
    with pytest.raises(ValueError, match="targets: expected"):
        model(tokens, targets=tokens[:, :-1])
    with pytest.raises(ValueError, match=r"target_weights: expected \(2, 27\)"):  # transposed: same size
        model(tokens, targets=tokens, target_weights=torch.ones(tokens.shape[::-1]))
