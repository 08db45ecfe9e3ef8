"""The forecasting tests' CSV writer: small LTSF-style files with a known content."""

import math
from datetime import datetime, timedelta
from pathlib import Path


def write_csv(path: Path, rows: int, channels=("HUFL", "MUFL", "OT"), *, step=timedelta(hours=1),
              cell=None) -> Path:
    """An ETT-style CSV: ``date`` then the channels, daily-periodic values with a slow drift.
    cell(row, channel index) overrides the value when it returns a string."""
    start = datetime(2016, 7, 1)
    lines = [",".join(("date", *channels))]
    for t in range(rows):
        values = []
        for c in range(len(channels)):
            text = cell(t, c) if cell else None
            if text is None:
                value = math.sin(2 * math.pi * t / 24 + c) * (c + 1) + 0.01 * t + 0.1 * math.cos(1.7 * t * (c + 1))
                text = f"{value:.6f}"
            values.append(text)
        lines.append(",".join(((start + t * step).strftime("%Y-%m-%d %H:%M:%S"), *values)))
    path.write_text("\n".join(lines) + "\n")
    return path
