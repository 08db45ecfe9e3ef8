"""memory_layers: a memory variant whose other blocks are SWA blocks is causal, streams exactly, saves and loads."""

import pytest
import torch
from model_inputs import assert_causal, make_model, tokens_for
from test_models import run_split

from titans import TitansConfig, TitansLM
from titans.flops import flops_per_token
from titans.models.mac import MACBlock
from titans.models.swa import SWABlock
from titans.train.config import TrainConfig
from titans.train.metrics import memory_gate_means

MEMORY_VARIANTS = ("mac", "mag", "mal", "lmm")


def hybrid(variant, **overrides):
    return make_model(variant, layers=3, memory_layers=[1], **overrides)


@pytest.mark.parametrize("variant", MEMORY_VARIANTS)
def test_the_listed_blocks_carry_the_memory_and_the_others_are_swa(variant):
    model = hybrid(variant)
    kinds = [type(block) for block in model.blocks]
    assert kinds[0] is SWABlock and kinds[2] is SWABlock
    assert kinds[1] is not SWABlock and hasattr(model.blocks[1], "memory")
    every = make_model(variant, layers=3)
    assert all(hasattr(block, "memory") for block in every.blocks)


@pytest.mark.parametrize("variant", MEMORY_VARIANTS)
def test_a_hybrid_stack_is_causal_and_streams_exactly(variant):
    model = hybrid(variant)
    tokens = tokens_for()
    with torch.no_grad():
        full, _ = model(tokens)
        split, _ = run_split(model, tokens, [3, 4, 17, 26])
        stepwise, _ = run_split(model, tokens[:, :19], list(range(1, 19)))
    assert_causal(model, tokens, (5, 8, 16, 21))
    torch.testing.assert_close(split, full, atol=1e-10, rtol=0)
    torch.testing.assert_close(stepwise, full[:, :19], atol=1e-10, rtol=0)


def test_a_hybrid_state_and_weights_round_trip(tmp_path):
    model = hybrid("mac")
    tokens = tokens_for()
    with torch.no_grad():
        _, state = model(tokens[:, :13])
        expected, _ = model(tokens[:, 13:], state)
        model.save_state(state, tmp_path / "state.safetensors")
        resumed, _ = model(tokens[:, 13:], model.load_state(tmp_path / "state.safetensors"))
        model.save_pretrained(tmp_path / "model")
        loaded = TitansLM.from_pretrained(tmp_path / "model").double()
        torch.testing.assert_close(loaded(tokens)[0], model(tokens)[0], atol=1e-6, rtol=0)
    torch.testing.assert_close(resumed, expected, atol=0, rtol=0)
    assert loaded.config.memory_layers == (1,)
    with pytest.raises(ValueError, match="another configuration"):
        make_model("mac", layers=3).load_state(tmp_path / "state.safetensors")


def test_memory_layers_are_read_as_a_sorted_tuple_and_only_a_set_list_changes_the_fingerprint():
    config = TitansConfig.from_name("tiny", variant="mac", layers=4, memory_layers=[3, 1, 3])
    assert config.memory_layers == (1, 3)
    assert [config.block_variant(i) for i in range(4)] == ["swa", "mac", "swa", "mac"]
    assert TitansConfig.from_dict(config.to_dict()) == config  # JSON holds a list
    every = TitansConfig.from_name("tiny", variant="mac", layers=4)
    assert every.fingerprint() != config.fingerprint()
    # configs saved before the field keep their fingerprint
    before = {k: v for k, v in every.to_dict().items() if k != "memory_layers"}
    assert TitansConfig.from_dict(before).fingerprint() == every.fingerprint()
    # every block listed is the model of every block, and the same configuration
    listed = TitansConfig.from_name("tiny", variant="mac", layers=4, memory_layers=[0, 1, 2, 3])
    assert all(isinstance(b, MACBlock) for b in TitansLM(listed).blocks)
    assert listed == every and listed.fingerprint() == every.fingerprint()
    assert TitansConfig.from_name("tiny", variant="mac", layers=4, memory_layers=(i for i in (3, 1))) == config
    # an LMM with SWA blocks attends
    assert TitansConfig.from_name("tiny", variant="lmm", layers=2, memory_layers=[0]).uses_attention
    assert not TitansConfig.from_name("tiny", variant="lmm", layers=2).uses_attention


@pytest.mark.parametrize(
    "overrides, match",
    [
        (dict(variant="swa", memory_layers=[0]), "has no memory"),
        (dict(variant="transformer", memory_layers=[0]), "has no memory"),
        (dict(variant="mac", memory_layers=[2]), r"each in 0\.\.1"),
        (dict(variant="mac", memory_layers=[-3]), r"each in 0\.\.1 \(or -2\.\.-1"),
        (dict(variant="mac", memory_layers=[]), "at least one block"),
        (dict(variant="mac", memory_layers="1"), "list of block indices"),
        (dict(variant="mac", memory_layers=[1.0]), "list of block indices"),
        (dict(variant="mac", memory_layers=[True]), "list of block indices"),
        (dict(variant="mac", memory_layers={1: 0}), "list of block indices"),
        (dict(variant="mac", memory_layers=7), "list of block indices"),
    ],
)
def test_bad_memory_layers_are_clear_errors(overrides, match):
    with pytest.raises(ValueError, match=match):
        TitansConfig.from_name("tiny", **overrides)


def test_gate_metrics_are_keyed_by_block():
    model = make_model("mag", layers=3, memory_layers=[0, 2])
    model(tokens_for())
    keys = {key.rsplit(".", 1)[0] for key in memory_gate_means(model)}
    assert keys == {"memory.0", "memory.2"}


def test_a_training_config_passes_memory_layers_to_the_model():
    config = TrainConfig(model={"layers": 5, "memory_layers": [1, 3]}).model_config(vocab_size=256)
    assert config.memory_layers == (1, 3) and config.layers == 5


def test_flops_count_each_block_as_what_it_is():
    def flops(variant, **fields):
        return flops_per_token(TitansConfig.from_name("cpu", variant=variant, layers=4, **fields), 4096)

    mac, swa = flops("mac"), flops("swa")
    assert flops("mac", memory_layers=[0, 1, 2, 3]) == mac
    # two MAC blocks and two SWA blocks: half way between the two stacks
    assert abs(flops("mac", memory_layers=[1, 3]) - (mac + swa) / 2) <= 1


def test_negative_memory_layers_count_from_the_last_block():
    config = TitansConfig.from_name("tiny", variant="mac", layers=4, memory_layers=[-1, 1])
    assert config.memory_layers == (1, 3)
    assert config == TitansConfig.from_name("tiny", variant="mac", layers=4, memory_layers=[1, 3])


def test_the_main_preset_has_its_memory_in_the_last_block_and_its_baselines_none():
    """A preset's memory_layers belongs to its memory variants: the same preset builds its baselines."""
    for variant in ("mac", "mag", "mal", "lmm"):
        config = TitansConfig.from_name("main", variant=variant)
        assert config.memory_layers == (config.layers - 1,)
        assert TitansConfig.from_name("main", variant=variant, layers=6).memory_layers == (5,)
    for variant in ("transformer", "swa"):
        assert TitansConfig.from_name("main", variant=variant).memory_layers is None
    with pytest.raises(ValueError, match="has no memory"):  # a user's own setting is still checked
        TitansConfig.from_name("main", variant="transformer", memory_layers=[0])
