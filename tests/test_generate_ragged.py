"""Batched generation of prompts of different lengths: every row generates what it generates alone.

A memory's chunks (and MAC's segments) hang on absolute positions, which left padding shifts;
titans.generate groups the prompts by length modulo ``padding_alignment``, so that every padding is a
multiple of the grid (by exact length for MAG and MAL with persistent tokens, which no padding leaves
as they are). In float64, where rounding cannot flip a choice.
"""

import pytest
import torch

import titans.generate
from titans import TitansConfig, TitansLM
from titans.config import VARIANTS
from titans.generate import Sampling, generate, padding_alignment

GREEDY = Sampling(temperature=0)


# every variant of the tiny preset, and MAG / MAL without persistent tokens (padded by the memory chunk)
CASES = [(v, {}) for v in VARIANTS] + [("mag", {"persistent": 0}), ("mal", {"persistent": 0})]
CASE_IDS = [v + ("-no-persistent" if kw else "") for v, kw in CASES]


def make_model(variant, **overrides):
    torch.manual_seed(0)
    model = TitansLM(TitansConfig.from_name("tiny", variant=variant, **overrides)).double()
    with torch.no_grad():  # sharper than at init, so that greedy choices are well separated
        model.embed.weight.mul_(50)
    return model


def prompt(seed, length):
    return torch.randint(0, 256, (length,), generator=torch.Generator().manual_seed(seed)).tolist()


def ragged_lengths(config):
    """Three grid phases (5, 11, 18 against tiny's chunk of 4 and segment of 8), each twice at lengths a
    multiple of the alignment apart (the same length where no padding is invisible), so that a group is
    really a batch, padded where it can be."""
    step = padding_alignment(config) or 0
    for grid in (config.memory_chunk, config.segment):
        assert len({n % grid for n in (5, 11, 18)}) == 3
    return [5, 11, 18, 5 + 2 * step, 11 + step, 18 + step]


def test_padding_alignment_is_the_grid_a_state_hangs_on():
    tiny = lambda variant, **kw: TitansConfig.from_name("tiny", variant=variant, **kw)  # noqa: E731
    assert [padding_alignment(tiny(v)) for v in ("transformer", "swa")] == [1, 1]
    assert padding_alignment(tiny("lmm")) == 4  # the memory chunk
    assert padding_alignment(tiny("mac")) == 8 and padding_alignment(tiny("mac", segment=12)) == 12  # the segment
    assert [padding_alignment(tiny(v)) for v in ("mag", "mal")] == [None, None]  # persistent tokens: none
    assert [padding_alignment(tiny(v, persistent=0)) for v in ("mag", "mal")] == [4, 4]


def traced_generate(model, prompts, max_new_tokens, monkeypatch):
    """Greedy ``generate``, and per prompt the logits ``[tokens, vocab]`` each of its tokens was chosen from
    (the rows of a step are reported in batch order; no row stops early here)."""
    steps, reported = [], []
    choose = titans.generate.next_tokens

    def spy(logits, sampling, generator):
        steps.append(logits.clone())
        reported.append(0)
        return choose(logits, sampling, generator)

    chosen_from = {i: [] for i in range(len(prompts))}

    def on_token(row, token):
        logits = steps[-1][reported[-1]]
        reported[-1] += 1
        assert int(logits.argmax()) == token
        chosen_from[row].append(logits)

    with monkeypatch.context() as patched:
        patched.setattr(titans.generate, "next_tokens", spy)
        out = generate(model, prompts, max_new_tokens, GREEDY, on_token=on_token)
    return out, [torch.stack(chosen_from[i]) for i in range(len(prompts))]


@pytest.mark.parametrize(("variant", "overrides"), CASES, ids=CASE_IDS)
def test_every_row_of_a_ragged_batch_generates_what_it_generates_alone(variant, overrides, monkeypatch):
    model = make_model(variant, **overrides)
    prompts = [prompt(seed, n) for seed, n in enumerate(ragged_lengths(model.config))]
    batched, batched_logits = traced_generate(model, prompts, 12, monkeypatch)
    for p, out, logits in zip(prompts, batched, batched_logits):
        alone, (alone_logits,) = traced_generate(model, [p], 12, monkeypatch)
        assert out == alone[0]
        # the scores too, not only their argmax (greedy choices of this sharpened model are far apart)
        torch.testing.assert_close(logits, alone_logits, atol=1e-10, rtol=0)


@pytest.mark.parametrize(("variant", "overrides"), CASES, ids=CASE_IDS)
def test_left_padding_by_the_alignment_leaves_the_logits_as_alone(variant, overrides):
    """The model-level property the grouping rests on. Padding by less than the alignment is not
    invisible, and for MAG and MAL with persistent tokens (alignment None) padding by the chunk is not."""
    model = make_model(variant, **overrides)
    step = padding_alignment(model.config)
    row = torch.tensor([prompt(7, 9)])

    def padded_logits(pad):
        tokens = torch.cat([torch.randint(0, 256, (1, pad)), row], 1)
        mask = torch.ones_like(tokens, dtype=torch.bool)
        mask[:, :pad] = False
        with torch.no_grad():
            return model(tokens, mask=mask)[0][:, pad:]

    with torch.no_grad():
        alone, _ = model(row)
    if step is None:
        for pad in (model.config.memory_chunk, 2 * model.config.memory_chunk):
            assert (padded_logits(pad) - alone).abs().max() > 1e-6
        return
    for pad in (step, 3 * step):
        torch.testing.assert_close(padded_logits(pad), alone, atol=1e-10, rtol=0)
    if step > 1:
        assert (padded_logits(step // 2) - alone).abs().max() > 1e-6


def test_groups_come_back_in_the_callers_order_and_on_token_names_the_callers_row():
    model = make_model("mac")  # alignment 8: lengths 5, 13, 21 share a group, 6 and 11 do not
    prompts = [prompt(10 + i, n) for i, n in enumerate([5, 6, 13, 11, 21])]
    alone = [generate(model, [p], 9, GREEDY)[0] for p in prompts]
    stop = alone[2][3:5]  # row 2 stops early (inside its group), the others may too: the stop applies to all
    expected = []
    for out in alone:
        hit = next((i for i in range(len(out) - 1) if out[i:i + 2] == stop), None)
        expected.append(out if hit is None else out[:hit])
    seen = {i: [] for i in range(len(prompts))}
    out = generate(model, prompts, 9, GREEDY, stop=stop, on_token=lambda row, token: seen[row].append(token))
    assert out == expected and len(out[2]) < 9
    # each row's streamed tokens are its output (plus the stop sequence where it stopped)
    assert all(seen[i][:len(out[i])] == out[i] for i in seen)
    assert all(seen[i] == out[i] or seen[i] == out[i] + stop for i in seen)


def test_sampling_with_a_seed_is_reproducible_across_groups():
    model = make_model("lmm")
    prompts = [prompt(20 + i, n) for i, n in enumerate([5, 6, 9, 7])]
    sampling = Sampling(temperature=1.0)
    first = generate(model, prompts, 8, sampling, seed=3)
    assert [len(o) for o in first] == [8] * 4
    assert first == generate(model, prompts, 8, sampling, seed=3)
