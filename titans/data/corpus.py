"""One entry point for text: a recipe name or a local path in, documents out.

``load_documents`` accepts
- a recipe name (``wikipedia``, ``shakespeare``, ``milton``, ``austen``: see :mod:`titans.data.recipes`);
- a FASTA file (``.fa``, ``.fasta``, ``.fna``, optionally ``.gz``/``.xz``/``.bz2``): one document per record,
  the bases as text (for the nucleotide tokenizers);
- a text file (optionally ``.bz2``/``.gz``): one document, or one per page if it is Wikipedia XML
  (enwik8, enwik9, a MediaWiki dump); text8 is one document;
- a folder: one document per ``*.txt`` file in it, sorted by name (PG-19's train/ for instance).

:func:`split_documents` (from :mod:`titans.data.split`) then holds out a deterministic validation share.
"""

from __future__ import annotations

import os
from pathlib import Path

from .document import Document
from .fasta import read_fasta
from .recipes import RECIPES
from .split import split_documents
from .textfiles import read_file, read_folder

__all__ = ["Document", "load_documents", "split_documents"]


def load_documents(source: str | os.PathLike) -> list[Document]:
    """The documents of a recipe or a local file/folder (see the module doc); never an empty list.

    Raises FileNotFoundError when ``source`` is neither a recipe nor an existing path, ValueError when it
    holds no text, and titans.data.fetch.FetchError when a recipe cannot be fetched (the message says
    where to put a local copy).
    """
    if isinstance(source, str) and source in RECIPES:
        return RECIPES[source].load()
    path = Path(source).expanduser()
    if path.is_dir():
        docs = read_folder(path)
        if not docs:
            raise ValueError(f"{path} has no non-empty *.txt files directly inside it; put the corpus there "
                             f"as one .txt file per document (subfolders are not read)")
    elif path.is_file() and is_fasta_name(path.name):
        docs = [Document(record, bases) for record, bases in read_fasta(path).items() if bases]
        if not docs:
            raise ValueError(f"{path} has no bases in any record")
    elif path.is_file():
        docs = read_file(path)
        if not docs:
            raise ValueError(f"{path} is empty (or a Wikipedia XML file without any <page>)")
    else:
        raise FileNotFoundError(f"{str(source)!r} is neither a corpus recipe ({', '.join(RECIPES)}) nor an "
                                f"existing file or folder")
    return docs


def is_fasta_name(name: str) -> bool:
    """Whether a file name says FASTA: ``.fa``, ``.fasta``, ``.fna`` (or ``.fas``), compressed or not."""
    stem = name.lower()
    for suffix in (".gz", ".xz", ".bz2"):
        stem = stem.removesuffix(suffix)
    return stem.endswith((".fa", ".fasta", ".fna", ".fas"))
