"""The Python files an exported folder carries so that transformers loads it with ``trust_remote_code=True``
in a process that never imported ``titans`` (the folder's ``config.json`` and ``tokenizer_config.json``
name them in ``auto_map``).

They are short shims that import the classes from the installed ``titans`` package: the model code
is titans' own (kernels, states, checks), more than a flat folder of modules can hold (transformers copies
only the named file and its same-folder imports), and one copy of it is what the tests check. So
``titans`` must be installed where the folder is loaded; when it is not, loading fails with a message
that says so (inside ``try``, the import is invisible to transformers' own import check, whose advice
would be ``pip install titans``: another project's name on PyPI).
"""

from __future__ import annotations

from pathlib import Path

_SHIM = '''"""Loads a Titans model folder through transformers' trust_remote_code: the classes come from the
installed titans package (https://arxiv.org/abs/2501.00663; install titans with its hf extra)."""

try:
    from {module} import {names}
except ImportError as error:
    raise ImportError(
        "this model folder's code is the titans package's, which is not installed here (or lacks its hf "
        "extra): install it from the titans source, e.g. pip install -e '.[hf]' in a checkout"
    ) from error

__all__ = {all}
'''

FILES = {
    "configuration_titans.py": ("titans.hf.configuration", ("TitansHFConfig",)),
    "modeling_titans.py": ("titans.hf.modeling", ("TitansForCausalLM",)),
    "tokenization_titans.py": ("titans.hf.tokenization", ("TitansByteTokenizer", "TitansSentencePieceTokenizer")),
}
CONFIG_AUTO_MAP = {"AutoConfig": "configuration_titans.TitansHFConfig",
                   "AutoModelForCausalLM": "modeling_titans.TitansForCausalLM"}


def tokenizer_auto_map(class_name: str) -> dict[str, list]:
    """tokenizer_config.json's ``auto_map`` for the tokenizer class ``class_name`` (one of tokenization_titans.py's)."""
    return {"AutoTokenizer": [f"tokenization_titans.{class_name}", None]}


def write_remote_code(folder: str | Path, *names: str) -> None:
    """Write the shims ``names`` (keys of ``FILES``) into ``folder``."""
    for name in names:
        module, classes = FILES[name]
        (Path(folder) / name).write_text(_SHIM.format(module=module, names=", ".join(classes), all=list(classes)))
