"""FASTA reading (records, wrapping, compression, streaming, errors), the nucleotide tokenizer, and genomes
as training documents."""

import bz2
import gzip
import lzma

import pytest

from titans.data import (
    get_tokenizer,
    load_documents,
    load_tokenizer,
    token_byte_lengths,
)
from titans.data.fasta import FastaError, iter_fasta_pieces, read_fasta
from titans.data.recipes import _parse_genomes

GENOME = {"chr1": "ACGTTGCAACGGTTAA" * 5 + "ACG", "plasmid": "ttgacaNNNNacgt", "tiny": "A"}


def write_fasta(path, records=GENOME, width=7, newline="\n", opener=open):
    lines = []
    for name, bases in records.items():
        lines.append(f">{name} some description")
        lines += [bases[i: i + width] for i in range(0, len(bases), width)]
    with opener(path, "wb") as f:
        f.write((newline.join(lines) + newline).encode())
    return path


@pytest.mark.parametrize("suffix, opener", [("fa", open), ("fa.gz", gzip.open), ("fna.xz", lzma.open),
                                            ("fasta.bz2", bz2.open)])
def test_records_are_read_back_whatever_the_compression(tmp_path, suffix, opener):
    path = write_fasta(tmp_path / f"genome.{suffix}", opener=opener)
    assert read_fasta(path) == GENOME


def test_windows_line_ends_and_blank_lines(tmp_path):
    path = write_fasta(tmp_path / "g.fa", newline="\r\n")
    path.write_bytes(path.read_bytes().replace(b">plasmid", b"\r\n>plasmid"))
    assert read_fasta(path) == GENOME


def test_streaming_cuts_records_into_bounded_pieces_that_join_back(tmp_path):
    path = write_fasta(tmp_path / "g.fa.gz", width=11, opener=gzip.open)
    pieces = list(iter_fasta_pieces(path, piece_size=8))
    assert all(len(piece) <= 8 for _, piece in pieces)
    assert len([p for name, p in pieces if name == "chr1"]) == -(-len(GENOME["chr1"]) // 8)
    joined = {}
    for name, piece in pieces:
        joined[name] = joined.get(name, "") + piece
    assert joined == GENOME
    assert [name for name, _ in pieces] == sorted([name for name, _ in pieces], key=list(GENOME).index)


def test_ambiguity_codes_become_n_and_case_is_kept(tmp_path):
    path = write_fasta(tmp_path / "g.fa", {"r": "ACRYgtkmN"})
    assert read_fasta(path) == {"r": "ACNNgtnnN"}


def test_an_empty_record_is_kept_empty(tmp_path):
    path = tmp_path / "g.fa"
    path.write_text(">empty\n>full\nACGT\n")
    assert read_fasta(path) == {"empty": "", "full": "ACGT"}


@pytest.mark.parametrize("text, message", [
    ("ACGT\n>r\nACGT\n", "before the first '>' header"),
    (">r\nACGU\n", "line 2: 'U' is not a nucleotide"),
    (">r\nAC\nG-T\n", "line 3: '-' is not a nucleotide"),
    ("", "no '>' header"),
    (">\nACGT\n", "without a record id"),
    (">r\nAC\n>r\nGT\n", "occurs twice"),
])
def test_malformed_files_are_clear_errors(tmp_path, text, message):
    path = tmp_path / "bad.fa"
    path.write_text(text)
    with pytest.raises(FastaError, match=message):
        read_fasta(path)


def test_nucleotide_tokenizer_round_trip_and_bits_per_base():
    tok = get_tokenizer("nucleotides")
    ids = tok.encode("ACGTNacgtn")
    assert ids == [2, 3, 4, 5, 6, 2, 3, 4, 5, 6]  # case folded
    assert tok.decode(ids) == "ACGTNACGTN"
    assert tok.decode([tok.PAD, 2, tok.SEP, 3]) == "A\nC"
    assert token_byte_lengths(tok).tolist() == [0, 0, 1, 1, 1, 1, 1]  # bits per byte = bits per base


def test_masked_tokenizer_keeps_soft_masked_repeats_apart(tmp_path):
    tok = get_tokenizer("nucleotides-masked")
    assert tok.vocab_size == 12
    assert tok.decode(tok.encode("ACgtN")) == "ACgtN"
    assert len(set(tok.encode("Aa"))) == 2
    tok.save(tmp_path / "tok")
    loaded = load_tokenizer(tmp_path / "tok")
    assert loaded.name == "nucleotides-masked" and loaded.encode("gA") == tok.encode("gA")


def test_tokenizer_refuses_what_is_not_a_base():
    tok = get_tokenizer("nucleotides")
    with pytest.raises(ValueError, match="'U' at position 3"):
        tok.encode("ACGUA")
    with pytest.raises(ValueError, match="ids must be in"):
        tok.decode([7])


def test_genomes_become_one_document_per_record(tmp_path):
    write_fasta(tmp_path / "strainA.fna.xz", opener=lzma.open)
    write_fasta(tmp_path / "strainB.fna.xz", {"c": "ACGT"}, opener=lzma.open)
    docs = _parse_genomes(tmp_path, files=("strainA.fna.xz",))
    assert [d.name for d in docs] == ["strainA/chr1", "strainA/plasmid", "strainA/tiny"]
    assert [d.text for d in docs] == list(GENOME.values())


def test_a_fasta_path_is_a_corpus(tmp_path):
    path = write_fasta(tmp_path / "genome.fa.gz", opener=gzip.open)
    docs = load_documents(path)
    assert {d.name: d.text for d in docs} == GENOME
