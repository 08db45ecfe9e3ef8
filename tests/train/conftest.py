"""A small real-looking corpus shared by the training tests (the tiny config is in tests/conftest.py)."""

import random

import pytest

from titans.data import Document

WORDS = ("the memory learns while it reads and forgets what it no longer needs so that long documents "
         "fit in a fixed state while attention looks at the recent past").split()


def make_documents(n: int = 24, seed: int = 0) -> list[Document]:
    rng = random.Random(seed)
    return [Document(f"doc{i:03d}", " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 120))) + ".\n")
            for i in range(n)]


@pytest.fixture
def corpus_documents():
    return make_documents()


def write_corpus(folder):
    """make_documents() as text files in folder (made if missing); the folder."""
    folder.mkdir(exist_ok=True)
    for doc in make_documents():
        (folder / f"{doc.name}.txt").write_text(doc.text)
    return folder


@pytest.fixture
def corpus_dir(tmp_path):
    return write_corpus(tmp_path / "corpus")


@pytest.fixture(scope="module")
def corpus_folder(tmp_path_factory):
    """corpus_dir's files written once, for a module whose tests only read them."""
    return write_corpus(tmp_path_factory.mktemp("corpus"))
