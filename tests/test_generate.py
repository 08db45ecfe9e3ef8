"""Generation: cached decoding equals recomputation, batching, sampling controls, bounded state."""

import pytest
import torch

from titans import TitansConfig, TitansLM
from titans.config import VARIANTS
from titans.generate import Sampling, generate, next_tokens

GREEDY = Sampling(temperature=0)


def make_model(variant, sharpen=True):
    torch.manual_seed(0)
    model = TitansLM(TitansConfig.from_name("tiny", variant=variant)).double()
    if sharpen:  # a sharper distribution than at init, so that greedy choices are well separated
        with torch.no_grad():
            model.embed.weight.mul_(50)
    return model


def prompt(seed, length):
    return torch.randint(0, 256, (length,), generator=torch.Generator().manual_seed(seed)).tolist()


@pytest.mark.parametrize("variant", VARIANTS)
def test_cached_greedy_decoding_equals_recomputing_the_whole_sequence(variant):
    model = make_model(variant)
    p = prompt(0, 11)
    out = generate(model, [p], 14, GREEDY)[0]
    assert len(out) == 14
    with torch.no_grad():
        logits, _ = model(torch.tensor([p + out]))
    assert logits[0, len(p) - 1 : -1].argmax(-1).tolist() == out


@pytest.mark.parametrize("variant", ["transformer", "swa"])
def test_batched_prompts_of_different_lengths_equal_single_prompts(variant):
    model = make_model(variant)
    prompts = [prompt(1, 5), prompt(2, 13), prompt(3, 9)]
    batched = generate(model, prompts, 10, GREEDY)
    assert batched == [generate(model, [p], 10, GREEDY)[0] for p in prompts]


@pytest.mark.parametrize("variant", ["mac", "mag", "mal", "lmm"])
def test_batched_rows_do_not_see_each_other(variant):
    """Lengths 6 and 14 are a multiple of tiny's memory chunk and MAC segment apart, so the two rows
    are padded into one batch (titans.generate groups prompts by length modulo the grid; every row
    equal to the row alone: tests/test_generate_ragged.py)."""
    model = make_model(variant)
    a = generate(model, [prompt(1, 6), prompt(2, 14)], 10, GREEDY)
    b = generate(model, [prompt(1, 6), prompt(5, 14)], 10, GREEDY)
    assert a[0] == b[0]


def test_seed_makes_sampling_reproducible():
    model = make_model("mag", sharpen=False)  # near-uniform: different seeds give different samples
    p = [prompt(4, 7)]
    first = generate(model, p, 12, Sampling(temperature=1.0), seed=3)
    assert first == generate(model, p, 12, Sampling(temperature=1.0), seed=3)
    assert any(generate(model, p, 12, Sampling(temperature=1.0), seed=s) != first for s in (4, 5, 6))


def test_top_k_1_and_tiny_top_p_are_greedy():
    logits = torch.randn(5, 50, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    assert torch.equal(next_tokens(logits, Sampling(top_k=1), g), logits.argmax(-1))
    assert torch.equal(next_tokens(logits, Sampling(top_p=1e-6), g), logits.argmax(-1))


def test_top_k_and_top_p_only_sample_allowed_tokens():
    logits = torch.tensor([[4.0, 3.0, 2.0, -1.0, -2.0]]).repeat(200, 1)
    g = torch.Generator().manual_seed(0)
    assert set(next_tokens(logits, Sampling(top_k=2), g).tolist()) <= {0, 1}
    probs = logits[0].softmax(-1)  # 0.66, 0.24, 0.09, ...: p = 0.8 keeps the first two
    assert probs[:1].sum() < 0.8 <= probs[:2].sum()
    assert set(next_tokens(logits, Sampling(top_p=0.8), g).tolist()) == {0, 1}


def test_stop_sequence_ends_a_row_and_is_removed():
    model = make_model("swa")
    p = [prompt(6, 8)]
    full = generate(model, p, 12, GREEDY)[0]
    stop = full[5:7]
    first = next(i for i in range(len(full) - 1) if full[i : i + 2] == stop)
    assert generate(model, p, 12, GREEDY, stop=stop)[0] == full[:first]


def test_until_ends_a_row_and_keeps_its_output():
    model = make_model("swa")
    prompts = [prompt(6, 8), prompt(8, 8)]
    full = generate(model, prompts, 12, GREEDY)
    seen = []
    out = generate(model, prompts, 12, GREEDY, until=lambda tokens: len(tokens) >= 4,
                   on_token=lambda row, token: seen.append(row))
    assert out == [row[:4] for row in full] and len(seen) == 8  # no token chosen after the 4th


def test_bad_arguments_are_clear_errors():
    model = make_model("swa")
    with pytest.raises(ValueError, match="at least one token"):
        generate(model, [[]], 3)
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate(model, [[1]], 0)
    with pytest.raises(ValueError, match="temperature"):
        Sampling(temperature=-1)
    with pytest.raises(ValueError, match="top_p"):
        Sampling(top_p=0)


def state_bytes(value):
    if value is None or isinstance(value, int):
        return 0
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, dict):
        return sum(state_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(state_bytes(v) for v in value)
    return sum(state_bytes(t) for t in value.tensors().values())


@pytest.mark.parametrize("variant", VARIANTS)
def test_decoding_state_is_bounded_by_the_model_not_the_context(variant):
    model = make_model(variant)
    sizes = []
    with torch.no_grad():
        for length in (64, 256):  # window 8, segment 8, chunk 4 in the tiny preset
            tokens = torch.tensor([prompt(7, length)])
            _, state = model(tokens)
            _, state = model(tokens[:, :1], state)  # one decoding step
            sizes.append(state_bytes(state.layers))
    if variant == "transformer":
        assert sizes[1] > 3 * sizes[0]  # full attention keeps every key
    else:
        assert sizes[1] == sizes[0]
