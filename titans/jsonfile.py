"""Small JSON files a user may point a loader at (a model's ``config.json``, a tokenizer's ``tokenizer.json``):
read with a size bound, so that a huge or hostile file is refused by name before anything parses it."""

from __future__ import annotations

import json
from pathlib import Path

MAX_JSON_BYTES = 1 << 20  # far above any configuration these files hold


def read_json_object(path: Path, what: str, fix: str, error: type[Exception] = ValueError) -> dict:
    """The JSON object in ``path``; else ``error`` naming the file, saying that it is not ``what`` (too
    large, not JSON, not an object) and ending with ``fix``."""
    with open(path, "rb") as f:
        raw = f.read(MAX_JSON_BYTES + 1)  # never more than the bound, whatever the file's size
    if len(raw) > MAX_JSON_BYTES:
        raise error(f"{path} is {path.stat().st_size:,} bytes (more than {MAX_JSON_BYTES:,}): not {what}; {fix}")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as problem:
        raise error(f"{path} is not valid JSON ({problem}): not {what}; {fix}") from None
    if not isinstance(data, dict):
        raise error(f"{path} holds a JSON {type(data).__name__}, not {what}; {fix}")
    return data
