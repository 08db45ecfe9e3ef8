"""Every variant: causality, streaming == one call == token-by-token, state save/load, weights, learning."""

import hashlib
import json

import pytest
import torch
from model_inputs import TOKENS, assert_causal, make_model, tokens_for

from titans import TitansConfig, TitansLM
from titans.config import PRESET_PARAMETERS, VARIANTS


def run_split(model, tokens, splits, mask=None):
    logits, state, start = [], None, 0
    for end in [*splits, tokens.shape[1]]:
        piece_mask = None if mask is None else mask[:, start:end]
        out, state = model(tokens[:, start:end], state, mask=piece_mask)
        logits.append(out)
        start = end
    return torch.cat(logits, 1), state


@pytest.mark.parametrize("variant", VARIANTS)
def test_causality(variant):
    # every position for MAC (its h and segment boundaries at 7/8, 15/16, 23/24), a few for the rest
    assert_causal(make_model(variant), tokens_for(), range(1, TOKENS) if variant == "mac" else (3, 9, 20))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("splits", [[5], [8, 13], [3, 4, 17, 26]], ids=["in-chunk", "segment+chunk", "many"])
def test_streaming_equals_one_call(variant, splits):
    model = make_model(variant)
    tokens = tokens_for()
    with torch.no_grad():
        full, _ = model(tokens)
        split, _ = run_split(model, tokens, splits)
    torch.testing.assert_close(split, full, atol=1e-10, rtol=0)


@pytest.mark.parametrize("variant", VARIANTS)
def test_token_by_token_decoding_equals_one_call(variant):
    model = make_model(variant)
    tokens = tokens_for(length=19)
    with torch.no_grad():
        full, _ = model(tokens)
        stepwise, _ = run_split(model, tokens, list(range(1, 19)))
    torch.testing.assert_close(stepwise, full, atol=1e-10, rtol=0)


@pytest.mark.parametrize("variant", VARIANTS)
def test_left_padding_never_reaches_the_model(variant):
    model = make_model(variant)
    tokens = tokens_for(batch=1, length=15)
    padded = torch.cat([torch.randint(0, 256, (1, 5)), tokens], 1)
    mask = torch.ones(1, 20, dtype=torch.bool)
    mask[:, :5] = False
    with torch.no_grad():
        alone, _ = model(tokens)
        out, _ = model(padded, mask=mask)
    if variant == "mac":
        # MAC segments are aligned to absolute positions: the padding shifts the segment grid, so only
        # the property that matters is checked: the padding's content does not matter
        other = padded.clone()
        other[:, :5] = (other[:, :5] + 7) % 256
        with torch.no_grad():
            out2, _ = model(other, mask=mask)
        torch.testing.assert_close(out2[:, 5:], out[:, 5:], atol=1e-12, rtol=0)
    elif model.config.uses_memory:
        other = padded.clone()
        other[:, :5] = (other[:, :5] + 7) % 256
        with torch.no_grad():
            out2, _ = model(other, mask=mask)
        torch.testing.assert_close(out2[:, 5:], out[:, 5:], atol=1e-12, rtol=0)
    else:
        torch.testing.assert_close(out[:, 5:], alone, atol=1e-10, rtol=0)


@pytest.mark.parametrize("variant", VARIANTS)
def test_saved_state_continues_exactly(variant, tmp_path):
    model = make_model(variant)
    tokens = tokens_for()
    with torch.no_grad():
        _, state = model(tokens[:, :13])
        expected, _ = model(tokens[:, 13:], state)
        model.save_state(state, tmp_path / "state.safetensors")
        loaded = model.load_state(tmp_path / "state.safetensors")
        resumed, _ = model(tokens[:, 13:], loaded)
    torch.testing.assert_close(resumed, expected, atol=0, rtol=0)


def test_state_of_another_configuration_is_refused(tmp_path):
    model = make_model("mag")
    with torch.no_grad():
        _, state = model(tokens_for())
    model.save_state(state, tmp_path / "state.safetensors")
    other = make_model("mag", window=4)
    with pytest.raises(ValueError, match="another configuration"):
        other.load_state(tmp_path / "state.safetensors")
    with pytest.raises(ValueError, match="another configuration"):
        other(tokens_for(), state)


@pytest.mark.parametrize("variant", VARIANTS)
def test_save_pretrained_round_trip(variant, tmp_path):
    model = make_model(variant)
    model.save_pretrained(tmp_path / "model")
    loaded = TitansLM.from_pretrained(tmp_path / "model").double()
    tokens = tokens_for()
    with torch.no_grad():
        torch.testing.assert_close(loaded(tokens)[0], model(tokens)[0], atol=1e-6, rtol=0)
    assert loaded.config == model.config


def test_the_final_norm_can_be_left_out_and_older_configs_keep_their_fingerprint(tmp_path):
    model, normed = make_model("mag", final_norm=False), make_model("mag")
    assert isinstance(model.norm, torch.nn.Identity) and isinstance(normed.norm, torch.nn.RMSNorm)
    model.save_pretrained(tmp_path / "model")
    loaded = TitansLM.from_pretrained(tmp_path / "model").double()
    assert not loaded.config.final_norm and isinstance(loaded.norm, torch.nn.Identity)
    with torch.no_grad():
        torch.testing.assert_close(loaded(tokens_for())[0], model(tokens_for())[0], atol=1e-6, rtol=0)
    assert model.config.fingerprint() != normed.config.fingerprint()
    # a config written before the field existed loads with the norm, under the fingerprint it had then,
    # so that its saved states stay valid
    before = {k: v for k, v in normed.config.to_dict().items()
              if k not in ("final_norm", "mac_memory_writes", "memory_normalize_values", "memory_layers",
                           "memory_forget_to")}
    assert TitansConfig.from_dict(before) == normed.config
    assert normed.config.fingerprint() == hashlib.sha256(json.dumps(before, sort_keys=True).encode()).hexdigest()[:16]


def test_from_pretrained_on_a_wrong_directory_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json is missing"):
        TitansLM.from_pretrained(tmp_path)


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_few_optimiser_steps_lower_the_loss(variant):
    torch.manual_seed(0)
    model = TitansLM(TitansConfig.from_name("tiny", variant=variant))
    tokens = tokens_for(length=33)
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(8):
        logits, _ = model(tokens[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 256), tokens[:, 1:].reshape(-1))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.1, losses


@pytest.mark.parametrize("variant", ["mac", "mag", "mal", "lmm"])
def test_gradients_reach_the_memory(variant):
    model = make_model(variant)
    logits, _ = model(tokens_for())
    logits.sum().backward()
    for name, p in model.named_parameters():
        if "memory" in name and p.requires_grad:
            assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("preset, variant", [(p, v) for p in PRESET_PARAMETERS for v in ("transformer", "mag")])
def test_presets_have_the_sizes_they_claim(preset, variant):
    with torch.device("meta"):  # counted without allocating
        n = TitansLM(TitansConfig.from_name(preset, variant=variant)).num_parameters()
    claimed = PRESET_PARAMETERS[preset][variant] * 1e6
    assert abs(n - claimed) <= 0.01 * claimed, f"{preset} {variant}: {n / 1e6:.2f}M, claimed {claimed / 1e6:.2f}M"


@pytest.mark.parametrize(
    "overrides, match",
    [
        (dict(variant="titan"), "unknown variant"),
        (dict(heads=3), "heads = 3 does not divide dim"),
        (dict(variant="mac", window=16), "window = 16 is larger than segment"),
        (dict(variant="mac", segment=6), "not a multiple of memory_chunk"),
        (dict(kv_heads=3), "kv_heads = 3 does not divide heads"),
        (dict(memory_theta_max=0.0), "memory_theta_max"),
        (dict(memory_alpha_init=1.0), "memory_alpha_init"),
    ],
)
def test_config_errors(overrides, match):
    with pytest.raises(ValueError, match=match):
        TitansConfig.from_name("tiny", **overrides)


def test_memory_gate_settings_reach_every_memory():
    model = TitansLM(TitansConfig.from_name("tiny", variant="mag", memory_theta_max=0.01, memory_alpha_init=1e-4))
    torch.manual_seed(0)
    model(torch.randint(0, 256, (1, 16)))
    stats = model.blocks[0].memory.last_stats
    assert model.blocks[0].memory.theta_max == 0.01
    assert stats["alpha"] == pytest.approx(1e-4, rel=0.5)  # the gates start near their initial value


@pytest.mark.parametrize("variant", ["mac", "mag", "mal", "lmm"])
def test_unnormalised_values_reach_every_memory(variant):
    normalised = TitansLM(TitansConfig.from_name("tiny", variant=variant))
    raw = TitansLM(TitansConfig.from_name("tiny", variant=variant, memory_normalize_values=False))
    raw.load_state_dict(normalised.state_dict())  # the same weights: only the values' norm differs
    assert all(not block.memory.normalize_values for block in raw.blocks)
    # a state saved with raw values must not load into a model that normalises them, nor the other way
    assert raw.config.fingerprint() != normalised.config.fingerprint()
    tokens = torch.randint(0, 256, (1, 32), generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(raw(tokens)[0], normalised(tokens)[0], atol=1e-4)


def test_bad_tokens_are_clear_errors():
    model = make_model("swa")
    with pytest.raises(ValueError, match="ids must lie in"):
        model(torch.tensor([[1, 300]]))
    with pytest.raises(ValueError, match="integer tensor"):
        model(torch.zeros(2, 3))


def test_mac_state_of_another_batch_size_is_a_clear_error():
    model = make_model("mac")
    with torch.no_grad():
        _, state = model(tokens_for(batch=1))
        with pytest.raises(ValueError, match="pass state=None"):
            model(tokens_for(batch=2), state)


def test_model_state_moves_dtype_and_keeps_masks_boolean():
    model = make_model("mag")
    with torch.no_grad():
        _, state = model(tokens_for())
    moved = state.to(dtype=torch.float32)
    attention = moved.layers[0]["attention"]
    assert attention.k.dtype == torch.float32 and attention.key_mask.dtype == torch.bool
    assert moved.layers[0]["memory"].weights[0].dtype == torch.float32
    assert moved.detach().layers[0]["memory"].pending_mask.dtype == torch.bool


@pytest.mark.parametrize("variant", ["mac", "mal"])
def test_inference_and_training_forward_agree(variant):
    """no_grad keeps no per-chunk activations (another code path in the op): same outputs."""
    model = make_model(variant)
    tokens = tokens_for()
    with torch.no_grad():
        inference, _ = model(tokens)
    training, _ = model(tokens)
    torch.testing.assert_close(inference, training.detach(), atol=0, rtol=0)


def test_mac_writing_the_attention_output_is_causal_and_streams_exactly():
    # the paper's literal Eq. 24 (config.mac_memory_writes = "attention"), kept as an option
    model, default = make_model("mac", mac_memory_writes="attention"), make_model("mac")
    tokens = tokens_for()
    with torch.no_grad():
        full, _ = model(tokens)
        split, _ = run_split(model, tokens, [3, 4, 17, 26])
        stepwise, _ = run_split(model, tokens[:, :19], list(range(1, 19)))
        changed = tokens.clone()
        changed[:, 12] = (changed[:, 12] + 1) % 256
        out, _ = model(changed)
        other, _ = default(tokens)
    torch.testing.assert_close(split, full, atol=1e-10, rtol=0)
    torch.testing.assert_close(stepwise, full[:, :19], atol=1e-10, rtol=0)
    assert (out[:, :12] - full[:, :12]).abs().max() < 1e-12 and (out[:, 12] - full[:, 12]).abs().max() > 1e-6
    assert (other - full).abs().max() > 1e-6  # the two choices are different models on the same weights


def test_a_mac_config_saved_before_the_write_choice_keeps_its_model_and_fingerprint():
    written_y = make_model("mac", mac_memory_writes="attention").config
    before = {k: v for k, v in written_y.to_dict().items()
              if k not in ("mac_memory_writes", "memory_normalize_values", "memory_layers", "memory_forget_to")}
    assert TitansConfig.from_dict(before) == written_y  # it wrote y then, and still does
    assert written_y.fingerprint() == hashlib.sha256(json.dumps(
        {k: v for k, v in before.items() if k != "final_norm" or not v}, sort_keys=True).encode()).hexdigest()[:16]
    assert make_model("mac").config.mac_memory_writes == "input"
    assert make_model("mac").config.fingerprint() != written_y.fingerprint()
    with pytest.raises(ValueError, match="mac_memory_writes"):
        TitansConfig(variant="mac", mac_memory_writes="output")
