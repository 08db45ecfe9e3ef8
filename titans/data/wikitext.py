"""Wikipedia pages as article text: the title, then the prose, without wikitext markup.

A byte-level model trained on raw MediaWiki XML spends most of its capacity on markup (``<page>``,
``<revision>``, ``[[...]]``, ``{{...}}``, tables); the ``wikipedia`` recipe gives it what a reader
sees instead, parsed with ``mwparserfromhell`` (the field's wikitext parser). ``wikipedia-raw``
keeps the XML, as in enwik8.

What is dropped: redirects and pages outside the article namespace (``<ns>0</ns>``), templates
(infoboxes, citations), ``<ref>`` footnotes, tables and galleries, file and image embeds, category
and interlanguage links, and sections left empty by those removals. Links keep their visible text.
"""

from __future__ import annotations

import html
import re

from .document import Document
from .textfiles import page_title, wiki_pages

ARTICLES_VERSION = 1  # bump when the extraction changes: the recipe's parsed cache is keyed on it

# tags whose content is not running prose
_DROPPED_TAGS = frozenset({"ref", "references", "table", "gallery", "timeline", "imagemap", "math", "score"})
# link namespaces that embed or categorise instead of linking to text; "xx:" / "xxx:" / "xx-yy:" are
# interlanguage links
_DROPPED_LINK = re.compile(r"^\s*:?\s*(file|image|media|category|[a-z]{2,3}(-[a-z]+)*)\s*:", re.IGNORECASE)
_TEXT = re.compile(r"<text[^>]*>(.*?)</text>", re.DOTALL)
_NAMESPACE = re.compile(r"<ns>\s*(-?\d+)\s*</ns>")


def article_text(wikitext: str) -> str:
    """The readable text of one page's wikitext: prose and headings, one paragraph a line."""
    import mwparserfromhell  # a core dependency; imported here so that `import titans.data` stays light

    code = mwparserfromhell.parse(wikitext)
    doomed = [tag for tag in code.filter_tags() if str(tag.tag).strip().lower() in _DROPPED_TAGS]
    doomed += [link for link in code.filter_wikilinks() if _DROPPED_LINK.match(str(link.title))]
    doomed += code.filter_templates(recursive=False)
    for node in doomed:
        try:
            code.remove(node)
        except ValueError:  # inside a node removed before it
            pass
    text = code.strip_code(normalize=True, collapse=True)
    return _tidy(text)


def _tidy(text: str) -> str:
    """Lines stripped, blank runs collapsed, and headings whose section came out empty dropped."""
    paragraphs = [line.strip() for line in text.splitlines()]
    paragraphs = [p for p in paragraphs if p]
    kept: list[str] = []
    for i, line in enumerate(paragraphs):
        following = paragraphs[i + 1] if i + 1 < len(paragraphs) else None
        if _looks_like_heading(line) and (following is None or _looks_like_heading(following)):
            continue  # an empty section (References, External links after their lists were removed)
        kept.append(line)
    return "\n".join(kept)


def _looks_like_heading(line: str) -> bool:
    """Short and without sentence punctuation: what strip_code leaves of ``== Heading ==``."""
    return len(line) <= 40 and not re.search(r"[.,;:!?)]$", line)


def wiki_articles(xml: str) -> list[Document]:
    """One document per article page of a MediaWiki XML dump: ``"Title\\n\\n" + text``.

    Redirects, non-article namespaces and pages with no text left are skipped; names are the
    titles (unique, as in :func:`titans.data.textfiles.wiki_pages`).
    """
    docs = []
    for page in wiki_pages(xml):
        namespace = _NAMESPACE.search(page.text)
        found = _TEXT.search(page.text)
        if found is None or (namespace is not None and namespace.group(1) != "0"):
            continue
        wikitext = html.unescape(found.group(1))
        if wikitext.lstrip().upper().startswith("#REDIRECT"):
            continue
        text = article_text(wikitext)
        if text:
            docs.append(Document(page.name, f"{page_title(page.text) or page.name}\n\n{text}"))
    return docs
