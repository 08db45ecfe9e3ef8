"""experiments/long_context/path_ablation.py: MAC with its h or its gate input cut, and put back after."""

from pathlib import Path

import pytest
import torch
from scripts import load_script

from titans import TitansConfig, TitansLM

FOLDER = Path(__file__).resolve().parents[2] / "experiments" / "long_context"
path_ablation = load_script(FOLDER / "path_ablation.py")  # it imports induction_probe, its neighbour


def tiny_mac():
    torch.manual_seed(0)
    return TitansLM(TitansConfig.from_name("tiny", variant="mac")).eval()


def seen(model, which):
    """What every block's attention gets as h and its gate reads as m, reading 20 tokens with ``which`` cut."""
    got = {"h": [], "m": []}
    hooks = []
    for block in model.blocks:
        hooks.append(block.attention.register_forward_hook(
            lambda module, args, out: got["h"].append(args[1].detach().clone())))
        hooks.append(block.gate.norm_b.register_forward_pre_hook(  # the gate's norm of m
            lambda module, args: got["m"].append(args[0].detach().clone())))
    tokens = torch.randint(0, 256, (2, 20), generator=torch.Generator().manual_seed(1))
    with path_ablation.cut(model, which), torch.no_grad():
        logits, _ = model(tokens)
    for hook in hooks:
        hook.remove()
    return logits, got


def test_each_cut_zeroes_its_path_alone_and_is_undone():
    model = tiny_mac()
    intact, paths = seen(model, "none")
    assert all(h.abs().sum() > 0 for h in paths["h"]) and all(m.abs().sum() > 0 for m in paths["m"])
    for which, zeroed, kept in (("h0", "h", "m"), ("m0", "m", "h")):
        logits, paths = seen(model, which)
        assert all((t == 0).all() for t in paths[zeroed]), which
        assert all(t.abs().sum() > 0 for t in paths[kept]), which
        assert not torch.allclose(logits, intact), f"{which} changed nothing"
    again, _ = seen(model, "none")
    assert torch.equal(again, intact)  # the cuts were put back


@pytest.mark.parametrize("which,path", [("h-other", "h"), ("m-other", "m")])
def test_the_other_cuts_give_each_row_the_next_rows_path(which, path):
    """Block 0's h and m come from the input alone, so there the cut one is the intact one, rows rolled."""
    model = tiny_mac()
    _, intact = seen(model, "none")
    logits, swapped = seen(model, which)
    assert torch.equal(swapped[path][0], intact[path][0].roll(1, 0))
    assert not torch.equal(swapped[path][0], intact[path][0])


def test_an_unknown_cut_is_refused_and_cuts_are_undone_after_an_error():
    model = tiny_mac()
    intact, _ = seen(model, "none")
    with pytest.raises(SystemExit, match="unknown cut"):
        with path_ablation.cut(model, "h1"):
            pass
    with pytest.raises(RuntimeError):
        with path_ablation.cut(model, "m0"):
            raise RuntimeError("a failed reading")
    assert torch.equal(seen(model, "none")[0], intact)


def test_a_model_without_mac_blocks_is_refused():
    model = TitansLM(TitansConfig.from_name("tiny", variant="lmm"))
    with pytest.raises(SystemExit, match="not a MAC model"):
        with path_ablation.cut(model, "h0"):
            pass
