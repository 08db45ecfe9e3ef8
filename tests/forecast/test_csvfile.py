"""The LTSF CSV loader on files the tests write: the ETT layout, and clear errors for what it cannot use."""

import tracemalloc
from datetime import timedelta

import numpy as np
import pytest
from forecast_files import write_csv

from titans.forecast import csvfile, load_series, prepare, read_ltsf_csv


def test_ett_layout_target_last_and_ett_split(tmp_path):
    path = write_csv(tmp_path / "ETTh1.csv", 50, channels=("HUFL", "OT", "LULL"))
    series = read_ltsf_csv(path)
    assert series.name == "ETTh1" and series.split == "ett-hour"
    assert series.channels == ("HUFL", "LULL", "OT")  # the target moved last, as the LTSF code does
    assert series.values.shape == (50, 3) and series.period == 24
    assert series.horizons == (96, 192, 336, 720)
    raw = np.loadtxt(path, delimiter=",", skiprows=1, usecols=(1, 2, 3))
    np.testing.assert_allclose(series.values, raw[:, [0, 2, 1]])


def test_other_files_get_the_ratio_split_and_their_period_from_the_dates(tmp_path):
    assert read_ltsf_csv(write_csv(tmp_path / "ETTm2.csv", 5, step=timedelta(minutes=15))).split == "ett-minute"
    quarter = read_ltsf_csv(write_csv(tmp_path / "weather.csv", 5, step=timedelta(minutes=15)))
    assert quarter.split == "ratio" and quarter.period == 96
    assert read_ltsf_csv(write_csv(tmp_path / "daily.csv", 5, step=timedelta(days=1))).period == 7
    kept = read_ltsf_csv(write_csv(tmp_path / "x.csv", 5, channels=("OT", "a")), target=None)
    assert kept.channels == ("OT", "a")
    assert load_series(str(tmp_path / "x.csv"), target="", period=5).period == 5


@pytest.mark.parametrize("problem,kwargs,message", [
    ("missing date", dict(channels=("a", "OT")), "first column is 'when', expected 'date'"),
    ("missing target", dict(channels=("a", "b")), "has no column 'OT'"),
    ("missing cell", dict(cell=lambda t, c: "" if (t, c) == (3, 1) else None), r"line 5, column 'b': missing value"),
    ("nan", dict(cell=lambda t, c: "NaN" if (t, c) == (7, 0) else None), r"line 9, column 'a': missing value"),
    ("text", dict(cell=lambda t, c: "n/a?" if (t, c) == (2, 2) else None), r"line 4, column 'OT': 'n/a\?' is not a number"),
])
def test_bad_files_get_a_clear_error(tmp_path, problem, kwargs, message):
    kwargs.setdefault("channels", ("a", "b", "OT"))
    path = write_csv(tmp_path / "bad.csv", 20, **kwargs)
    if problem == "missing date":
        path.write_text(path.read_text().replace("date,", "when,", 1))
    with pytest.raises(ValueError, match=message):
        read_ltsf_csv(path)


def test_a_row_with_a_column_missing(tmp_path):
    path = write_csv(tmp_path / "short_row.csv", 10)
    lines = path.read_text().splitlines()
    lines[4] = lines[4].rsplit(",", 1)[0]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"line 5: 3 values, but the header names 4 columns"):
        read_ltsf_csv(path)


def test_too_few_rows_for_lookback_and_horizon(tmp_path):
    series = read_ltsf_csv(write_csv(tmp_path / "small.csv", 300))
    with pytest.raises(ValueError, match=r"small: 300 rows are too few for lookback 96 \+ horizon 96"):
        prepare(series, 96, 96)
    assert prepare(series, 24, 12).sizes() == {"train": 175, "valid": 19, "test": 49}


def test_not_a_csv_or_a_recipe():
    with pytest.raises(ValueError, match="unknown data 'ettx'"):
        load_series("ettx")
    with pytest.raises(FileNotFoundError):
        read_ltsf_csv("/nonexistent/ETTh1.csv")


def test_a_file_above_the_size_limit_is_refused_naming_the_limit_and_the_fix(tmp_path, monkeypatch):
    path = write_csv(tmp_path / "huge.csv", 100)
    monkeypatch.setattr(csvfile, "MAX_CSV_BYTES", path.stat().st_size - 1)
    with pytest.raises(ValueError, match=rf"huge.csv is {path.stat().st_size:,} bytes, above the "
                                         rf"{path.stat().st_size - 1:,} bytes .*keep the rows you need, e.g. head"):
        read_ltsf_csv(path)


def test_rows_are_read_block_by_block_in_bounded_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(csvfile, "_BLOCK_ROWS", 7)  # rows spread over many blocks and a partial last one
    path = write_csv(tmp_path / "blocks.csv", 50)
    raw = np.loadtxt(path, delimiter=",", skiprows=1, usecols=(1, 2, 3))
    np.testing.assert_array_equal(read_ltsf_csv(path, target=None).values, raw)

    monkeypatch.undo()
    path = write_csv(tmp_path / "long.csv", 60_000)  # 3.6 MB; a list of its cells as strings took 7x that
    tracemalloc.start()
    try:
        series = read_ltsf_csv(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    size = path.stat().st_size
    assert series.values.shape == (60_000, 3) and peak < size, f"held {peak / size:.2f}x the file's size"
