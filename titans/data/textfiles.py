"""Readers for the standard public text formats: plain text, a folder of .txt files, enwik8-style
Wikipedia XML (enwik8, enwik9 or a MediaWiki dump), text8.

Each returns ``list[Document]``; the caller (:func:`titans.data.corpus.load_documents`) decides which
one applies and reports an empty result.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import html
import zlib
from contextvars import ContextVar
from pathlib import Path

from .document import Document

# A MediaWiki export is recognised by its first few kilobytes: enwik8 opens with <mediawiki ...>.
_SNIFF_CHARS = 1 << 14

# Binary detection looks at the first 64 KiB: a NUL byte, or more than 30 % of the bytes not decoding
# as UTF-8 (judged over at least 1 KiB, so that a short text cut inside a character still passes; Latin-1
# prose stays far below, random bytes are near 45 %), marks a file that is not text.
_BINARY_SNIFF_BYTES = 1 << 16
_BINARY_MIN_BYTES = 1 << 10
_BINARY_INVALID_SHARE = 0.3
_ALLOW_BINARY: ContextVar[bool] = ContextVar("titans_allow_binary", default=False)


class BinaryFileError(ValueError):
    """A file given as text that is not text (an executable, an archive, an image)."""


@contextlib.contextmanager
def binary_allowed(allowed: bool = True):
    """Read files that look binary instead of refusing them (``titans train --allow-binary``: training on
    binary data on purpose); inside this block only."""
    token = _ALLOW_BINARY.set(allowed)
    try:
        yield
    finally:
        _ALLOW_BINARY.reset(token)


def binary_reason(head: bytes) -> str | None:
    """Why the start of a file is not text, or None when it looks like text (see _BINARY_SNIFF_BYTES)."""
    head = head[:_BINARY_SNIFF_BYTES]
    nul = head.find(b"\x00")
    if nul != -1:
        return f"a NUL byte at offset {nul:,}"
    if len(head) < _BINARY_MIN_BYTES:
        return None
    invalid = head.decode("utf-8", errors="replace").count("\ufffd") - head.count("\ufffd".encode())
    if invalid > _BINARY_INVALID_SHARE * len(head):
        return (f"{invalid / len(head):.0%} of its first {len(head):,} bytes are not UTF-8; a text in another "
                f"encoding can be converted with iconv -t utf-8")
    return None


def read_text(path: Path) -> str:
    """A file's text, decoded as UTF-8 with invalid bytes replaced (see Document); .bz2/.gz unpacked.

    A file that is not text (binary_reason) is refused unless inside ``binary_allowed()``: training on
    an executable by mistake is silent otherwise, since every byte sequence decodes to something. Allowed,
    a binary file is decoded like any other (bytes that are not UTF-8 become U+FFFD).
    """
    opener = {".bz2": bz2.open, ".gz": gzip.open}.get(path.suffix.lower(), open)
    try:
        with opener(path, "rb") as f:
            head = f.read(_BINARY_SNIFF_BYTES)  # judged before the rest is read: a large binary costs 64 KiB
            reason = None if _ALLOW_BINARY.get() else binary_reason(head)
            if reason:
                raise BinaryFileError(f"{path} does not look like text ({reason}); give a text file (UTF-8), a "
                                      f"folder of .txt files or a corpus recipe, or pass --allow-binary to titans "
                                      f"train to train on it anyway (bytes that are not UTF-8 become U+FFFD)")
            if len(head) < _BINARY_SNIFF_BYTES:
                data = head
            else:  # read from the start once: no second copy of the whole file (head + rest) in memory
                f.seek(0)
                data = f.read()
            del head
    except (EOFError, OSError, zlib.error) as error:
        if isinstance(error, (FileNotFoundError, IsADirectoryError, PermissionError)):
            raise
        raise ValueError(f"{path} cannot be read ({type(error).__name__}: {error}); the compressed file is "
                         f"damaged or truncated: fetch it again, or give it uncompressed") from None
    return data.decode("utf-8", errors="replace")


def base_name(path: Path) -> str:
    """A document name for a file: its name without .txt and without a .bz2/.gz compression suffix."""
    name = path.name
    for suffix in (".bz2", ".gz", ".txt"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name or path.name


def looks_like_wiki_xml(text: str) -> bool:
    """Whether ``text`` is a MediaWiki XML export (enwik8/enwik9 are the first 10^8/10^9 bytes of one)."""
    head = text[:_SNIFF_CHARS].lstrip()
    return head.startswith(("<mediawiki", "<page>")) or (head.startswith("<?xml") and "<mediawiki" in head)


def wiki_pages(text: str) -> list[Document]:
    """One document per ``<page>...</page>`` block, kept as raw XML (markup, entities and all, as in
    enwik8); named by the page title, made unique with a ``#n`` suffix where titles repeat.

    The header (``<siteinfo>``) and closing tag are not pages and are left out. A last page cut off by
    truncation (enwik8 ends mid-page) is kept up to where the text ends.
    """
    docs: list[Document] = []
    seen: dict[str, int] = {}
    start = text.find("<page>")
    while start != -1:
        end = text.find("</page>", start)
        stop = len(text) if end == -1 else end + len("</page>")
        page = text[start:stop]
        name = page_title(page) or f"page-{len(docs)}"
        count = seen.get(name, 0)
        seen[name] = count + 1
        docs.append(Document(name if count == 0 else f"{name}#{count}", page))
        start = text.find("<page>", stop) if end != -1 else -1
    return docs


def page_title(page: str) -> str:
    """The unescaped ``<title>`` of one page's XML, or "" when it has none."""
    open_at = page.find("<title>")
    close_at = page.find("</title>", open_at)
    if open_at == -1 or close_at == -1:
        return ""
    return html.unescape(page[open_at + len("<title>"):close_at]).strip()


def read_file(path: Path) -> list[Document]:
    """A text file as one document, or a Wikipedia XML file as one document per page.

    A text8 file (one 10^8-character line of lowercase words) is simply one document named ``text8``.
    """
    text = read_text(path)
    if looks_like_wiki_xml(text):
        return wiki_pages(text)
    return [Document(base_name(path), text)] if text else []


def read_folder(folder: Path) -> list[Document]:
    """One document per ``*.txt`` file directly in ``folder`` (not its subfolders), sorted by file name;
    empty files are skipped. Subfolders are ignored so that e.g. PG-19's train/ and test/ stay apart."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".txt")
    docs = [Document(base_name(p), read_text(p)) for p in files]
    return [d for d in docs if d.text]
