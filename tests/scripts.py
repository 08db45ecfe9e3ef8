"""Scripts of the repository's folders (benchmarks/, experiments/) imported by their path, for their tests."""

import importlib.util
import sys
from pathlib import Path


def load_script(path: Path):
    """The module of the script at ``path``, registered under its file name (its dataclasses look their
    module up in sys.modules), with its folder on sys.path while it loads (for a neighbour it imports)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module
