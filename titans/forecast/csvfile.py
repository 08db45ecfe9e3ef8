"""The LTSF benchmark CSVs (ETTh1/2, ETTm1/2, weather, electricity, traffic, exchange_rate, ...): a
``date`` column, then one numeric column per channel, so that users who have these files can run the
paper's exact benchmark (Table 3). No package ships them (``../shared/DATA.md``), hence no recipe.

As in the LTSF code (Informer / Autoformer / DLinear ``Dataset_Custom``), the target column (``OT`` in
every one of these files) is moved last and the date is dropped: the forecast is multivariate to
multivariate, so the target only fixes the channel order. ``ETTh*`` and ``ETTm*`` files get the ETT
split of 12/4/4 months; every other file the 70/10/20 split.
"""

from __future__ import annotations

import csv
import math
from datetime import datetime
from pathlib import Path

import numpy as np

from .series import Series

LTSF_HORIZONS = (96, 192, 336, 720)
_DAY_SECONDS = 24 * 3600
MAX_CSV_BYTES = 1 << 30  # 1 GiB: eight times traffic.csv, the largest LTSF file; the values alone take about as much
_BLOCK_ROWS = 4096  # rows parsed into one block of floats before the next is started


def read_ltsf_csv(path: str | Path, *, target: str | None = "OT") -> Series:
    """The CSV at ``path`` as a :class:`Series`; a clear ValueError for anything it cannot use.

    target: the column moved last (None: keep the file's order). Rejected: a file above MAX_CSV_BYTES, a
    file without a ``date`` column or without ``target``, a row with too few or too many values, an empty,
    NaN or non-numeric cell (the message names the line and the column), and a file with no channel or no
    data rows. The rows are read one at a time into blocks of floats: memory is the values (8 bytes a
    cell, about the file's size), not a string per cell.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no CSV file at {path}")
    size = path.stat().st_size
    if size > MAX_CSV_BYTES:
        raise ValueError(f"{path.name} is {size:,} bytes, above the {MAX_CSV_BYTES:,} bytes an LTSF CSV is read up "
                         f"to (the largest benchmark file, traffic.csv, is about 130 MB): keep the rows you need, "
                         f"e.g. head -n 1000000 {path.name} > part.csv, and pass that file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: Excel's byte-order mark
            rows = csv.reader(f)
            header = [h.strip() for h in next(rows, [])]
            columns = _check_header(path, header, target)
            values, dates = _read_values(rows, path.name, header, columns)
    except UnicodeDecodeError as error:
        raise ValueError(f"{path.name} is not UTF-8 text (byte {error.start:,}): not a CSV file, or one in "
                         f"another encoding (convert it with iconv -t utf-8)") from None
    except csv.Error as error:  # a NUL byte, a cell over the csv module's field limit (binary or not a CSV)
        raise ValueError(f"{path.name}, line {rows.line_num}: not a readable CSV ({error}); an LTSF CSV is a "
                         f"date column, then one numeric column per channel") from None
    if len(values) == 0:
        raise ValueError(f"{path.name} has a header but no data rows")
    period, spacing = _period_from_dates(dates)
    stem = path.stem
    split = "ett-hour" if stem.startswith("ETTh") else "ett-minute" if stem.startswith("ETTm") else "ratio"
    return Series(
        name=stem, values=values, channels=tuple(name for name, _ in columns), period=period,
        horizons=LTSF_HORIZONS, split=split,
        description=f"{path} ({len(values):,} rows x {len(columns)} channels, {spacing}; {split} split)",
    )


def _read_values(rows, file: str, header: list[str], columns: list[tuple[str, int]]) -> tuple[np.ndarray, list[str]]:
    """The channels' values ``[rows, channels]``, filled block by block, and the first two dates (all that
    the naive period needs)."""
    blocks, block, filled, dates = [], np.empty((_BLOCK_ROWS, len(columns))), 0, []
    for line, row in enumerate(rows, start=2):  # the header is line 1
        if len(row) != len(header):
            raise ValueError(f"{file}, line {line}: {len(row)} values, but the header names "
                             f"{len(header)} columns {header}: a column is missing in this row")
        if len(dates) < 2:
            dates.append(row[0])
        for j, (name, col) in enumerate(columns):
            block[filled, j] = _number(row[col], file, line, name)
        filled += 1
        if filled == _BLOCK_ROWS:
            blocks.append(block)
            block, filled = np.empty_like(block), 0
    blocks.append(block[:filled])
    return np.concatenate(blocks), dates


def _check_header(path: Path, header: list[str], target: str | None) -> list[tuple[str, int]]:
    """(name, column index) of the channels in the order used: the target last."""
    if not header or header[0].lower() != "date":
        found = f"first column is {header[0]!r}" if header else "file is empty"
        raise ValueError(f"{path.name}: the {found}, expected 'date' (an LTSF CSV is a date column, then one "
                         f"column per channel)")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise ValueError(f"{path.name}: column names {dupes} appear more than once")
    channels = [(h, j) for j, h in enumerate(header) if j > 0]
    if not channels:
        raise ValueError(f"{path.name} has a date column but no channel columns")
    if target:
        if target not in header[1:]:
            raise ValueError(f"{path.name} has no column {target!r} (the target, moved last as in the LTSF "
                             f"code); its columns are {header}. Pass the target's name (--target NAME), or "
                             f"an empty target to keep the file's order")
        channels = [c for c in channels if c[0] != target] + [(target, header.index(target))]
    return channels


def _number(cell: str, file: str, line: int, column: str) -> float:
    text = cell.strip()
    try:
        value = float(text)
    except ValueError:
        if text == "" or text.lower() in ("na", "nan", "null", "none"):
            value = math.nan
        else:
            raise ValueError(f"{file}, line {line}, column {column!r}: {cell!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{file}, line {line}, column {column!r}: missing value ({cell!r}, NaN or inf); "
                         f"fill or drop such rows first (the LTSF files have none)")
    return value


def _period_from_dates(dates: list[str]) -> tuple[int, str]:
    """The naive forecast's season from the first two dates: a day for sub-daily data, a week for daily,
    else 1 (the last value repeated). Dates that do not parse as ISO dates also give 1."""
    try:
        step = (datetime.fromisoformat(dates[1].strip()) - datetime.fromisoformat(dates[0].strip())).total_seconds()
    except (IndexError, ValueError):
        return 1, "date spacing unknown: naive period 1, set --period"
    if 0 < step < _DAY_SECONDS and _DAY_SECONDS % step == 0:
        return int(_DAY_SECONDS // step), f"every {step / 60:g} min: naive period one day"
    if step == _DAY_SECONDS:
        return 7, "daily: naive period one week"
    return 1, f"every {step / _DAY_SECONDS:g} days: naive period 1"
