"""FASTA reading that never holds a whole file in memory: plain, ``.gz``, ``.xz`` or ``.bz2``.

A FASTA file is a series of records, each a ``>`` header line (the first word is the record's id) and
the sequence wrapped over any number of lines. :func:`iter_fasta_pieces` streams a file as
``(record id, piece)`` pairs of at most ``piece_size`` bases, so a chromosome of any length is read in
bounded memory; :func:`read_fasta` joins the pieces into one string per record for files that do fit
(a bacterial genome is ~5 Mb).

Letters: A, C, G, T and N are kept as they are, lowercase included (soft-masked repeats in UCSC and
Ensembl files; the nucleotide tokenizer decides whether the case matters). The IUPAC ambiguity codes
(R Y K M S W B D H V) become N, the usual convention of sequence models, which have no token for "A or
G". Anything else (digits, ``-`` gaps, ``*``, U of RNA) is an error naming the file, line and character,
since silently dropping or mapping it would shift every later position.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

_AMBIGUOUS = "RYKMSWBDHVrykmswbdhv"
# bytes.translate table: ambiguity codes -> N (keeping case); a delete set below finds what is left over.
_TO_N = bytes.maketrans(_AMBIGUOUS.encode(), b"N" * 10 + b"n" * 10)
_BASES = b"ACGTNacgtn"
_LINE_END = b"\r\n"


class FastaError(ValueError):
    """A file that is not FASTA, or has a character that is not a nucleotide; the message says where."""


def open_sequence_file(path: str | os.PathLike) -> IO[bytes]:
    """A binary stream of ``path``, decompressed by its magic bytes (gzip, xz, bzip2) whatever its name."""
    path = Path(path)
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic.startswith(b"\x1f\x8b"):
        return gzip.open(path, "rb")
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.open(path, "rb")
    if magic.startswith(b"BZh"):
        return bz2.open(path, "rb")
    return open(path, "rb")


def iter_fasta_pieces(path: str | os.PathLike, piece_size: int = 1 << 20) -> Iterator[tuple[str, str]]:
    """``(record id, bases)`` pieces in file order; a record's pieces are consecutive and each holds at
    most ``piece_size`` bases (a record with no bases yields one empty piece, so none goes unseen).
    Record ids must be unique within the file."""
    if piece_size < 1:
        raise ValueError(f"piece_size must be positive, got {piece_size}")
    path = Path(path)
    record: str | None = None
    buffer: list[bytes] = []
    buffered = 0
    emitted = False
    seen: set[str] = set()
    header_line = 0  # the number of the last header line (the rest of a very long one is skipped)
    for number, line, first in _bounded_lines(path):
        if first and line.startswith(b">"):
            if record is not None and (buffered or not emitted):
                yield record, b"".join(buffer).decode("ascii")
            record = _record_id(line, path, number)
            header_line = number
            if record in seen:
                raise FastaError(f"{path}, line {number}: the record id {record!r} occurs twice; ids must be "
                                 f"unique")
            seen.add(record)
            buffer, buffered, emitted = [], 0, False
            continue
        if not first and number == header_line:
            continue
        if not line.strip():
            continue
        if record is None:
            raise FastaError(f"{path}, line {number}: sequence before the first '>' header: not a FASTA file "
                             f"(every record starts with a line like '>chr1 description')")
        buffer.append(_clean(line, path, number))
        buffered += len(buffer[-1])
        while buffered >= piece_size:
            joined = b"".join(buffer)
            yield record, joined[:piece_size].decode("ascii")
            emitted = True
            rest = joined[piece_size:]
            buffer, buffered = ([rest] if rest else []), len(rest)
    if record is None:
        raise FastaError(f"{path} has no '>' header line: not a FASTA file (or empty)")
    if buffered or not emitted:
        yield record, b"".join(buffer).decode("ascii")


# a line is read in pieces of at most this many bytes (a FASTA written as one 2 GB line is read in bounded memory)
_READ_BYTES = 1 << 20


def _bounded_lines(path: Path) -> Iterator[tuple[int, bytes, bool]]:
    """``(line number, piece of the line without its line end, whether the piece starts the line)``, each
    piece at most _READ_BYTES long; a damaged compressed file is a FastaError naming it."""
    limit = _READ_BYTES
    number, first = 1, True
    try:
        with open_sequence_file(path) as stream:
            while True:
                piece = stream.readline(limit)
                if not piece:
                    return
                ended = piece.endswith(b"\n")
                yield number, piece.rstrip(_LINE_END), first
                if ended:
                    number, first = number + 1, True
                else:
                    first = False
    except (OSError, EOFError, lzma.LZMAError) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise FastaError(f"{path}: cannot be read ({type(error).__name__}: {error}); the compressed file is "
                         f"damaged or truncated: download it again or give the uncompressed FASTA") from None


def read_fasta(path: str | os.PathLike) -> dict[str, str]:
    """Every record of ``path`` as ``{id: sequence}`` in file order (for files that fit in memory)."""
    records: dict[str, list[str]] = {}
    for name, piece in iter_fasta_pieces(path):
        records.setdefault(name, []).append(piece)
    return {name: "".join(pieces) for name, pieces in records.items()}


def _record_id(header: bytes, path: Path, number: int) -> str:
    words = header[1:].split()
    if not words:
        raise FastaError(f"{path}, line {number}: a '>' header without a record id")
    return words[0].decode("utf-8", errors="replace")


def _clean(line: bytes, path: Path, number: int) -> bytes:
    line = line.replace(b" ", b"").replace(b"\t", b"").translate(_TO_N)
    leftover = line.translate(None, _BASES)
    if leftover:
        raise FastaError(f"{path}, line {number}: {chr(leftover[0])!r} is not a nucleotide (expected A, C, G, "
                         f"T, N or an IUPAC ambiguity code, which is read as N)")
    return line
