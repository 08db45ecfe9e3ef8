"""A prose haystack written by the tests (no corpus is fetched) and a tiny byte-level model on disk."""

import random

import pytest
import torch

from titans import TitansConfig, TitansLM
from titans.eval.haystack import Haystack

_WORDS = ("the house stood at the end of a long lane and every evening the family walked down to the river "
          "where the boats were tied").split()


def prose(n_sentences: int = 400, seed: int = 0) -> str:
    rng = random.Random(seed)
    sentences = []
    for _ in range(n_sentences):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(5, 14))]
        sentences.append(" ".join(words).capitalize() + ".")
    return "\n".join(" ".join(sentences[i:i + 4]) for i in range(0, len(sentences), 4)) + "\n"


@pytest.fixture
def prose_file(tmp_path):
    path = tmp_path / "haystack.txt"
    path.write_text(prose())
    return path


@pytest.fixture
def prose_haystack():
    return Haystack(prose().encode(), name="test prose")


@pytest.fixture
def tiny_model_dir(tmp_path):
    torch.manual_seed(0)
    model = TitansLM(TitansConfig.from_name("tiny", variant="mac"))
    folder = tmp_path / "tiny-mac"
    model.save_pretrained(folder)
    return folder
