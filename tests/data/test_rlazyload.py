"""The R lazy-load database reader, on tiny databases written like R's makeLazyLoadDB writes them."""

import numpy as np
import pytest
from archive_builders import write_lazyload_db

from titans.data.recipes import RECIPES
from titans.data.rlazyload import read_lazyload_db

NOVELS = {"emma": np.array(["EMMA", "", "By Jane Austen", "Emma Woodhouse, handsome, clever, and rich…"]),
          "persuasion": np.array(["Persuasion", "", "Sir Walter Elliot, of Kellynch Hall"])}


@pytest.mark.parametrize("compressed,kind", [(True, b"Z"), (False, b"Z"), (3, b"Z"), (2, b"2"), (3, b"0")])
def test_every_record_layout_reads_back(tmp_path, compressed, kind):
    rdx, rdb = write_lazyload_db(tmp_path, NOVELS, compressed=compressed, kind=kind)
    objects = read_lazyload_db(rdx, rdb)
    assert list(objects) == ["emma", "persuasion"]
    for name, lines in NOVELS.items():
        assert [str(x) for x in objects[name]] == list(lines)


def test_austen_recipe_makes_one_document_per_novel(tmp_path):
    write_lazyload_db(tmp_path, NOVELS)
    docs = RECIPES["austen"].parse(tmp_path)
    assert [d.name for d in docs] == ["emma", "persuasion"]
    assert docs[1].text == "Persuasion\n\nSir Walter Elliot, of Kellynch Hall"


def test_mismatched_files_are_reported(tmp_path):
    rdx, rdb = write_lazyload_db(tmp_path, NOVELS)
    rdb.write_bytes(rdb.read_bytes()[:10])
    with pytest.raises(ValueError, match="do not belong together"):
        read_lazyload_db(rdx, rdb)
    rdx.write_bytes(b"not R at all")
    with pytest.raises(ValueError, match="not a readable R serialization"):
        read_lazyload_db(rdx, rdb)


def test_only_the_named_objects_are_read(tmp_path):
    rdx, rdb = write_lazyload_db(tmp_path, NOVELS, compressed=3)
    assert list(read_lazyload_db(rdx, rdb, names=["persuasion"])) == ["persuasion"]
    with pytest.raises(KeyError, match=r"no object\(s\) \['sanditon'\]; it has \['emma', 'persuasion'\]"):
        read_lazyload_db(rdx, rdb, names=["sanditon"])


def test_without_rdata_the_error_names_the_extra_to_install(tmp_path, monkeypatch):
    import sys

    write_lazyload_db(tmp_path, NOVELS)
    monkeypatch.setitem(sys.modules, "rdata", None)  # as if the austen extra were not installed
    with pytest.raises(ImportError, match=r"pip install -e '\.\[austen\]'"):
        RECIPES["austen"].parse(tmp_path)
