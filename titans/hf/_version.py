"""The transformers versions this integration was tested with; others fail on import with a clear message.

The generation loop's cache protocol (the name the cache travels under, how the prompt is sliced against
it) changed between 5.x releases; a version outside the tested range could run and decode garbage, so it
is refused instead.
"""

from __future__ import annotations

TESTED = ((5, 17), (6, 0))
"""[lowest, highest) tested (major, minor): transformers>=5.17,<6."""
TESTED_RANGE = "transformers>=5.17,<6"


def _parse(version: str) -> tuple[int, int]:
    parts = []
    for piece in version.split(".")[:2]:
        digits = "".join(c for c in piece if c.isdigit()) or "0"
        parts.append(int(digits))
    return tuple(parts + [0] * (2 - len(parts)))


def check_transformers(version: str | None = None) -> None:
    """Raise ImportError unless transformers is installed at a tested version (``version`` overrides the
    installed one, for tests)."""
    if version is None:
        try:
            import transformers
        except ImportError:
            raise ImportError(f"titans.hf needs Hugging Face transformers ({TESTED_RANGE}): "
                              f'pip install "titans[hf]"') from None
        version = transformers.__version__
    low, high = TESTED
    if not low <= _parse(version) < high:
        raise ImportError(f"titans.hf was tested with {TESTED_RANGE}, but transformers {version} is installed; "
                          f"its cache API may differ and decode wrong tokens. Install a tested version: "
                          f'pip install "{TESTED_RANGE}"')
