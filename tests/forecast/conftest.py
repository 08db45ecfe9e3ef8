"""Forecasting tests: a private cache and the data tests' archive builders."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "data"))  # archive_builders: R databases as R writes them


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Nothing may reach (or come from) the user's cache or the registries."""
    monkeypatch.setenv("TITANS_DATA", str(tmp_path / "cache"))
    monkeypatch.delenv("TITANS_PIP_FIND_LINKS", raising=False)
    return tmp_path / "cache"
