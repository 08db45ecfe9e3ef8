"""The op's per-token weight change ``||W_t - W_{t-1}||`` equals the naive loop's weights, token by token."""

import pytest
import torch

from titans.ops import chunk_memory_update, naive_memory_update

from memory_inputs import make_inputs


def naive_changes(inputs, T, **kwargs):
    """``||W_t - W_{t-1}||`` from the naive loop run on every prefix (its final weights are W_t)."""
    previous, norms = inputs["weights"], []
    for t in range(1, T + 1):
        cut = {n: (v[..., :t, :] if v.dim() == 4 else v[..., :t]) if n in "q k v theta eta alpha" else v
               for n, v in inputs.items()}
        prefix_kwargs = {n: (v[:, :t] if n in ("mask", "reset") and v is not None else v) for n, v in kwargs.items()}
        _, W, _ = naive_memory_update(**cut, **prefix_kwargs)
        norms.append(sum((w - p).square().sum((-2, -1)) for w, p in zip(W, previous)).sqrt())
        previous = W
    return torch.stack(norms, dim=-1)


@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("extras", ["plain", "mask", "reset"])
def test_weight_change_equals_the_naive_loop(depth, extras):
    T, b = 11, 4
    inputs = make_inputs(T=T, depth=depth)
    kwargs = dict(chunk_size=b)
    if extras == "mask":
        kwargs["mask"] = torch.rand(2, T, generator=torch.Generator().manual_seed(1)) > 0.3
    if extras == "reset":
        kwargs["reset"] = torch.zeros(2, T, dtype=torch.bool)
        kwargs["reset"][0, 6] = kwargs["reset"][1, 9] = True
        kwargs["reset_weights"] = tuple(w[:1, :].clone() * 0.5 for w in inputs["weights"])
    with torch.no_grad():
        y, W, S, loss, change = chunk_memory_update(**inputs, **kwargs, return_inner_loss=True,
                                                    return_weight_change=True)
        y_only, *_ = chunk_memory_update(**inputs, **kwargs)
    assert torch.equal(y, y_only)  # measuring changes nothing
    assert change.shape == (2, 2, T)
    torch.testing.assert_close(change, naive_changes(inputs, T, **kwargs), rtol=1e-9, atol=1e-12)
    if "mask" in kwargs:
        padding = ~kwargs["mask"][:, None, :].expand_as(change)
        assert bool((change[padding] == 0).all())  # padding moves nothing
