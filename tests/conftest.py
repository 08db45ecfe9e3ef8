"""Fixtures shared by the test folders."""

import random

import pytest
import torch

from titans.train import TrainConfig
from titans.train.metrics import MetricsLog


def pytest_configure(config):
    config.addinivalue_line("markers", "draws_loss_png: the test checks loss.png, so the trainer draws it")


@pytest.fixture(autouse=True)
def _loss_png_only_where_checked(request, monkeypatch):
    """Drawing loss.png (matplotlib, about 0.3 s a plot) is a third of a tiny Trainer run's time; the
    tests marked draws_loss_png check the drawing, and in the others the trainer skips it."""
    if "draws_loss_png" not in request.keywords:
        monkeypatch.setattr(MetricsLog, "plot", lambda self: None)


@pytest.fixture(autouse=True)
def _subnormals_back_on():
    """The CLI and the trainer turn on flush-to-zero for their process (subnormal floats are slow); in the
    test process that would leak into later tests (hypothesis refuses to run under it, and the memory
    op's flush test needs the reference to keep its subnormals), so every test ends with it off."""
    yield
    torch.set_flush_denormal(False)


@pytest.fixture
def true_float32_matmuls():
    """torch's float32 matmuls without TF32 for the test (the CUDA tests compare two float32 paths to
    float32 rounding; bfloat16 callers of the Triton kernels take TF32 dots whatever this says)."""
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    yield
    torch.set_float32_matmul_precision(previous)


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


@pytest.fixture(scope="session")
def sp_model(tmp_path_factory):
    """A 120-piece SentencePiece model trained in well under a second on generated sentences."""
    import sentencepiece

    folder = tmp_path_factory.mktemp("sp")
    rng = random.Random(0)
    syllables = ["me", "mo", "ry", "sur", "prise", "at", "ten", "tion", "to", "ken", "gra", "di", "ent", "long",
                 "con", "text", "neu", "ral", "ti", "tans", "for", "get", "ting", "gate", "past", "sur"]
    words = ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(400)]
    words += ["long", "context", "memory", "surprise", "gradient"]
    lines = [" ".join(rng.choice(words) for _ in range(12)) + "." for _ in range(2000)]
    (folder / "corpus.txt").write_text("\n".join(lines))
    sentencepiece.SentencePieceTrainer.train(
        input=str(folder / "corpus.txt"), model_prefix=str(folder / "tiny"), vocab_size=120,
        character_coverage=1.0, normalization_rule_name="identity", byte_fallback=False, minloglevel=2)
    return folder / "tiny.model"
