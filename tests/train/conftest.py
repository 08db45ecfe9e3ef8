"""A small real-looking corpus and a tiny training config shared by the training tests."""

import random

import pytest

from titans.data import Document
from titans.train import TrainConfig

WORDS = ("the memory learns while it reads and forgets what it no longer needs so that long documents "
         "fit in a fixed state while attention looks at the recent past").split()


def make_documents(n: int = 24, seed: int = 0) -> list[Document]:
    rng = random.Random(seed)
    return [Document(f"doc{i:03d}", " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 120))) + ".\n")
            for i in range(n)]


@pytest.fixture
def corpus_documents():
    return make_documents()


@pytest.fixture
def corpus_dir(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    for doc in make_documents():
        (folder / f"{doc.name}.txt").write_text(doc.text)
    return folder


@pytest.fixture
def tiny_config():
    """A factory: a few steps of a tiny model, validating and checkpointing every 3 steps."""
    return _tiny_config


def _tiny_config(out, **changes) -> TrainConfig:
    settings = dict(preset="tiny", variant="mag", data="unused", context=32, batch_tokens=128, steps=6, lr=3e-3,
                    warmup=2, eval_every=3, eval_tokens=256, save_every=3, sample_tokens=0, out=str(out),
                    device="cpu")
    settings.update(changes)
    return TrainConfig(**settings)
