"""Read an R lazy-load database (``<name>.rdx`` + ``<name>.rdb``), the form R packages ship data in.

The .rdx is one serialized R list (usually gzip-compressed like an .rds file) with the element
``variables``: for each object name, ``c(offset, length)`` of its record in the .rdb. A record is one
R-serialized object, normally compressed: a 4-byte big-endian uncompressed length, then

- zlib data (``compressed = TRUE``, R's default), or
- one type byte and the data (``compressed = 2`` or ``3``): ``'Z'`` xz (a raw LZMA2 stream with no
  .xz container around it: R's ``R_compress3`` uses ``lzma_raw_encoder`` at preset 6), ``'2'`` bzip2,
  ``'1'`` zlib, ``'0'`` stored;

and with ``compressed = FALSE`` the bare serialization. The serialized objects are parsed and turned
into Python values by the ``rdata`` package (character vectors come back as numpy string arrays).
"""

from __future__ import annotations

import bz2
import lzma
import warnings
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# The filter chain of R's xz records (serialize.c, init_filters): LZMA2 at preset 6, no container.
R_XZ_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 6}]


def read_lazyload_db(rdx: Path, rdb: Path | None = None, names: Iterable[str] | None = None) -> dict[str, Any]:
    """Every object of the database, by name, in the index's order. rdb defaults to rdx's sibling.

    names: read only these objects (a package's database can hold dozens of large data sets when one
    is wanted); a name the index lacks is a KeyError listing the ones it has.
    """
    rdx = Path(rdx)
    rdb = Path(rdb) if rdb is not None else rdx.with_suffix(".rdb")
    index = _to_python(rdx.read_bytes(), rdx)
    try:
        variables, compressed = index["variables"], index.get("compressed", True)
    except (TypeError, KeyError):
        raise ValueError(f"{rdx} is not an R lazy-load index (no 'variables' list)") from None
    method = _compression_code(compressed)
    if names is not None:
        names = set(names)
        missing = names - {str(n) for n in variables}
        if missing:
            raise KeyError(f"{rdx} holds no object(s) {sorted(missing)}; it has {sorted(map(str, variables))}")
        variables = {n: w for n, w in variables.items() if str(n) in names}
    data = rdb.read_bytes()
    objects = {}
    for name, where in variables.items():
        offset, length = (int(x) for x in where)
        if offset < 0 or length <= 0 or offset + length > len(data):
            raise ValueError(f"{rdx}: record {name!r} at {offset}+{length} lies outside {rdb} "
                             f"({len(data)} bytes): the two files do not belong together")
        raw = _decompress(data[offset:offset + length], method, f"{rdb} record {name!r}")
        objects[str(name)] = _to_python(raw, rdb)
    return objects


def _compression_code(compressed: Any) -> int:
    """R stores ``compressed`` as a length-one vector: logical TRUE (zlib) / FALSE, or integer 2 or 3."""
    if hasattr(compressed, "__len__") and not isinstance(compressed, (str, bytes)):
        compressed = compressed[0] if len(compressed) else True
    return int(compressed)


def _decompress(record: bytes, method: int, what: str) -> bytes:
    if method == 0:
        return record
    expected, body = int.from_bytes(record[:4], "big"), record[4:]
    if method == 1:
        out = zlib.decompress(body)
    else:
        kind, body = body[:1], body[1:]
        decoders = {b"Z": _decompress_r_xz, b"2": bz2.decompress, b"1": zlib.decompress, b"0": bytes}
        if kind not in decoders:
            raise ValueError(f"{what}: unknown compression type byte {kind!r}")
        out = decoders[kind](body)
    if len(out) != expected:
        raise ValueError(f"{what}: unpacked to {len(out)} bytes, its header says {expected}")
    return out


def _decompress_r_xz(body: bytes) -> bytes:
    return lzma.decompress(body, format=lzma.FORMAT_RAW, filters=R_XZ_FILTERS)


def _to_python(serialized: bytes, source: Path) -> Any:
    """Parse one R serialization (optionally gzip/bzip2/xz-wrapped, as in .rds files) with rdata."""
    try:
        import rdata
    except ImportError:
        raise ImportError("reading R data files (the austen corpus) needs the 'rdata' package: "
                          "pip install -e '.[austen]' (or pip install 'rdata>=0.11,<1.2')") from None
    with warnings.catch_warnings():
        # A bare serialization has no file-type magic; rdata says "assumed RDS", which is right here.
        warnings.simplefilter("ignore", UserWarning)
        try:
            parsed = rdata.parser.parse_data(serialized)
        except Exception as e:  # rdata raises a variety of types for malformed input
            raise ValueError(f"{source}: not a readable R serialization ({e})") from e
    return rdata.conversion.convert(parsed)
