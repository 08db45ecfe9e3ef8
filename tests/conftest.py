"""Fixtures shared by the test folders."""

import pytest
import torch

from titans.train import TrainConfig


@pytest.fixture(autouse=True)
def _subnormals_back_on():
    """The CLI and the trainer turn on flush-to-zero for their process (subnormal floats are slow); in the
    test process that would leak into later tests (hypothesis refuses to run under it, and the memory
    op's flush test needs the reference to keep its subnormals), so every test ends with it off."""
    yield
    torch.set_flush_denormal(False)


@pytest.fixture
def tiny_config():
    """A factory: a few steps of a tiny model, validating and checkpointing every 3 steps."""

    def make(out, **changes) -> TrainConfig:
        settings = dict(preset="tiny", variant="mag", data="unused", context=32, batch_tokens=128, steps=6, lr=3e-3,
                        warmup=2, eval_every=3, eval_tokens=256, save_every=3, sample_tokens=0, out=str(out),
                        device="cpu")
        settings.update(changes)
        return TrainConfig(**settings)

    return make
