"""The per-bin results of a reading by position (``titans eval ppl --by-position``, ``titans dna eval``) as
JSON records and a markdown table: one row a bin, with the reading whose state was reset every ``limit``
tokens beside it when there is one. The two verbs differ only in their names (bytes or bases), which
:class:`BinNames` holds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .by_position import PositionBin


@dataclass(frozen=True)
class BinNames:
    key: str
    """The JSON key of a bin's bits (``bits_per_byte``); the limited reading's is ``key + "_limited"``."""
    counts: Callable[[PositionBin], dict]
    """A bin's counts for its JSON record, e.g. ``{"bases": b.tokens}``."""
    gain: bool
    """Whether a JSON record also holds the gain (limited minus carried bits)."""
    position: str
    """The first column's heading."""
    measure: str
    """The bits' heading without a limited reading, and ``carried`` with one."""
    carried: str
    limited: str
    """The limited reading's heading; ``{limit:,}`` is filled in."""
    count: str
    """The last column's heading, whose number is ``count_of(bin)``."""
    count_of: Callable[[PositionBin], int]


def bin_records(names: BinNames, carried: list[PositionBin], limited: list[PositionBin] | None) -> list[dict]:
    records = []
    for i, b in enumerate(carried):
        record = {"start": b.start, "end": b.end, names.key: b.bits, **names.counts(b)}
        if limited:
            record[f"{names.key}_limited"] = limited[i].bits
            if names.gain:
                record["gain"] = limited[i].bits - b.bits
        records.append(record)
    return records


def bin_table(names: BinNames, carried: list[PositionBin], limited: list[PositionBin] | None,
              limit: int) -> list[str]:
    """The markdown lines of the table (no title)."""
    if not limited:
        return [f"| {names.position} | {names.measure} | {names.count} |", "|---|---|---|",
                *(f"| {b.label()} | {b.bits:.4f} | {names.count_of(b):,} |" for b in carried)]
    return [f"| {names.position} | {names.carried} | {names.limited.format(limit=limit)} | gain of the longer "
            f"context | {names.count} |", "|---|---|---|---|---|",
            *(f"| {b.label()} | {b.bits:.4f} | {c.bits:.4f} | {c.bits - b.bits:+.4f} | {names.count_of(b):,} |"
              for b, c in zip(carried, limited))]
