"""The registry series, offline: each parser on a small file written like the real one, and a recipe
with its fetch replaced by that file."""

import dataclasses
import re

import numpy as np
import pytest
from archive_builders import write_lazyload_db

from titans.forecast.sources import (
    CHICAGO_LAG,
    CHICAGO_STATIONS,
    CHICAGO_WEATHER,
    SOURCES,
    WEATHER_CHANNELS,
    parse_chicago,
    parse_taylor,
    parse_tmy3,
)


def test_tmy3_keeps_the_weather_channels_by_name_and_skips_the_flags(tmp_path):
    # the real layout: station line, header, hourly rows; each channel followed by its source/uncert flags
    header = ["Date (MM/DD/YYYY)", "Time (HH:MM)", "ETR (W/m^2)"]
    for name in reversed(WEATHER_CHANNELS):  # another order than the one kept
        header += [name, f"{name.split()[0]} source", f"{name.split()[0]} uncert (code)"]
    lines = ['723170,"GREENSBORO PIEDMONT TRIAD INT",NC,-5.0,36.100,-79.950,273', ",".join(header)]
    for t in range(5):
        row = [f"01/01/1988,{t + 1:02d}:00", "0"]
        for j in reversed(range(len(WEATHER_CHANNELS))):
            row += [f"{100 * t + j}", "A", "7"]
        lines.append(",".join(row))
    path = tmp_path / "723170TYA.CSV"
    path.write_text("\n".join(lines) + "\n")
    series = parse_tmy3(path)
    assert series.channels == WEATHER_CHANNELS and series.channels[-1] == "Dry-bulb (C)"
    np.testing.assert_array_equal(series.values, 100 * np.arange(5)[:, None] + np.arange(12)[None, :])
    assert series.period == 24 and "Greensboro" in series.description
    path.write_text("\n".join(lines[:1] + ["Date (MM/DD/YYYY),Time (HH:MM),GHI (W/m^2)"]) + "\n")
    with pytest.raises(ValueError, match="not a TMY3 file"):
        parse_tmy3(path)


def test_taylor_values_are_read_from_the_source_text(tmp_path):
    path = tmp_path / "taylor.py"
    path.write_text('import numpy as np\n\ndef load_taylor():\n    """4032 observations"""  # noqa: E501\n'
                    "    rslt = np.array([\n        22262, 21756, 22247,\n        22759, 22549]).astype(dtype)\n")
    series = parse_taylor(path)
    np.testing.assert_array_equal(series.values[:, 0], [22262, 21756, 22247, 22759, 22549])
    assert series.period == 48 and series.horizons == (48, 96, 192, 336)
    path.write_text("def load_taylor():\n    return None\n")
    with pytest.raises(ValueError, match="not pmdarima's taylor.py"):
        parse_taylor(path)


def chicago_frame(days: int = 40):
    """A data frame shaped like modeldata's Chicago: stations lagged 14 days, ridership = Clark/Lake today."""
    import pandas as pd  # rdata's own dependency; the R data frame round-trips through it

    rng = np.random.default_rng(0)
    today = {s: rng.uniform(1, 20, days + CHICAGO_LAG) for s in CHICAGO_STATIONS}  # day -14 .. days-1
    frame = {"ridership": today["Clark_Lake"][CHICAGO_LAG:]}
    frame |= {s: v[:-CHICAGO_LAG] for s, v in today.items()}  # the value 14 days before each date
    frame |= {w: rng.normal(size=days) for w in CHICAGO_WEATHER}
    frame |= {"Bulls_Home": np.zeros(days), "date": 11344.0 + np.arange(days)}
    return pd.DataFrame(frame), today


def test_chicago_stations_are_aligned_to_their_own_dates(tmp_path):
    frame, today = chicago_frame()
    write_lazyload_db(tmp_path, {"Chicago": frame, "Sacramento": np.array(["unrelated"])}, compressed=3)
    series = parse_chicago(tmp_path)
    assert series.channels == CHICAGO_WEATHER + CHICAGO_STATIONS and series.channels[-1] == "Clark_Lake"
    assert series.values.shape == (40 - CHICAGO_LAG, 28) and series.period == 7
    for j, station in enumerate(CHICAGO_STATIONS):
        # row t holds the station's boardings on day t (the frame's lag-14 column, read 14 rows later)
        np.testing.assert_array_equal(series.values[:, len(CHICAGO_WEATHER) + j], today[station][CHICAGO_LAG:-CHICAGO_LAG])
    np.testing.assert_array_equal(series.values[:, 0], frame["temp_min"].to_numpy()[:-CHICAGO_LAG])


def test_chicago_without_the_lag_structure_is_refused(tmp_path):
    frame, _ = chicago_frame()
    frame["Clark_Lake"] = frame["Clark_Lake"] + 1
    write_lazyload_db(tmp_path, {"Chicago": frame}, compressed=3)
    with pytest.raises(ValueError, match="not ridership lagged by 14 days"):
        parse_chicago(tmp_path)


def test_a_recipe_parses_what_its_fetch_returns(tmp_path):
    frame, _ = chicago_frame()
    write_lazyload_db(tmp_path, {"Chicago": frame})
    recipe = dataclasses.replace(SOURCES["chicago"], fetch=lambda: tmp_path)
    assert recipe.load().values.shape == (26, 28)


def test_every_source_is_pinned():
    for recipe in SOURCES.values():
        assert re.fullmatch(r"[0-9a-f]{64}", recipe.fetch.args[-1]), recipe.name
