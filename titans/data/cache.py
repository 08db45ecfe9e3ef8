"""Where fetched corpora and tokenizers are kept between runs."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "TITANS_DATA"


def data_dir() -> Path:
    """The cache root: ``$TITANS_DATA`` if set, else ``~/.cache/titans``; created on first use.

    Every fetched source lives in its own subfolder (``data_dir() / "wikipedia"`` and so on), so a user
    without registry access can also place the files there by hand.
    """
    override = os.environ.get(ENV_VAR)
    root = Path(override).expanduser() if override else Path.home() / ".cache" / "titans"
    root.mkdir(parents=True, exist_ok=True)
    return root
