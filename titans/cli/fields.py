"""Command-line options generated from a config dataclass: one ``--flag`` per field, with the field's
docstring as help, so the CLI, config files and the Python API can never disagree."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import json


def field_docs(cls) -> dict[str, str]:
    """The one-line docstring written under each field of a dataclass (read from its source)."""
    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body
    docs = {}
    for node, after in zip(body, body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str)):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def parse_value(text: str):
    """A command-line value: JSON when it parses (numbers, true/false, lists), else the plain string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_assignments(items, usage: str) -> dict:
    """``FIELD=VALUE`` items (``--set`` and the like) as ``{field: value}``, each value read by parse_value;
    an item without ``=`` stops the program with a message that starts with ``usage``."""
    changes = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"{usage} expects FIELD=VALUE, got {item!r}")
        changes[key.strip()] = parse_value(value)
    return changes


def add_field_options(parser: argparse.ArgumentParser, cls, skip: tuple[str, ...] = ()) -> None:
    """``--name`` for every field of ``cls`` (default None: the config file's or the dataclass's value)."""
    docs = field_docs(cls)
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        flag = "--" + field.name.replace("_", "-")
        help_text = f"{docs.get(field.name, '')} (default: {default})"
        if isinstance(default, bool):
            parser.add_argument(flag, dest=field.name, default=None, action=argparse.BooleanOptionalAction,
                                help=help_text)
        elif isinstance(default, (tuple, list, dict)):
            parser.add_argument(flag, dest=field.name, default=None, type=parse_value,
                                help=help_text + "; JSON")
        else:
            parser.add_argument(flag, dest=field.name, default=None, type=type(default), help=help_text)


def given_fields(args: argparse.Namespace, cls) -> dict:
    """The fields set on the command line."""
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
            if getattr(args, f.name, None) is not None}
