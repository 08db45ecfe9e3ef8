"""The initialisation scheme (TitansConfig.init_std's docstring): a fresh model's per-block output scale."""

import pytest
import torch

from titans import TitansConfig, TitansLM
from titans.config import VARIANTS


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_block_adds_a_bounded_share_and_the_logits_start_near_uniform(variant):
    torch.manual_seed(0)
    model = TitansLM(TitansConfig.from_name("cpu", variant=variant, vocab_size=256, layers=3))
    tokens = torch.randint(0, 256, (2, 128))
    with torch.no_grad():
        x = model.embed(tokens)
        scales = [x.square().mean().sqrt().item()]
        for block in model.blocks:
            x, _ = block(x, None)
            scales.append(x.square().mean().sqrt().item())
        logits, _ = model(tokens)
    assert abs(scales[0] - model.config.init_std) < 0.2 * model.config.init_std
    added = [b - a for a, b in zip(scales, scales[1:])]
    # each block grows the stream by a bounded amount: no block vanishes, none explodes
    assert all(0.05 < step < 0.8 for step in added), scales
    assert scales[-1] < 1.5, scales
    assert logits.std() < 0.5  # near uniform: -log(1/256) is where the loss starts
