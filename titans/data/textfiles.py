"""Readers for the standard public text formats: plain text, a folder of .txt files, enwik8-style
Wikipedia XML (enwik8, enwik9 or a MediaWiki dump), text8.

Each returns ``list[Document]``; the caller (:func:`titans.data.corpus.load_documents`) decides which
one applies and reports an empty result.
"""

from __future__ import annotations

import bz2
import gzip
import html
from pathlib import Path

from .document import Document

# A MediaWiki export is recognised by its first few kilobytes: enwik8 opens with <mediawiki ...>.
_SNIFF_CHARS = 1 << 14


def read_text(path: Path) -> str:
    """A file's text, decoded as UTF-8 with invalid bytes replaced (see Document); .bz2/.gz unpacked."""
    opener = {".bz2": bz2.open, ".gz": gzip.open}.get(path.suffix.lower(), open)
    with opener(path, "rb") as f:
        return f.read().decode("utf-8", errors="replace")


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
        name = _title(page) or f"page-{len(docs)}"
        count = seen.get(name, 0)
        seen[name] = count + 1
        docs.append(Document(name if count == 0 else f"{name}#{count}", page))
        start = text.find("<page>", stop) if end != -1 else -1
    return docs


def _title(page: str) -> str:
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
