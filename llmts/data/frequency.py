"""The calendar of dated series: their frequency (a pandas offset alias such as ``MS``, ``W-SUN``
or ``30min``), the regular grid of dates it implies, and the season length it suggests.

A file's dates may skip steps (a month missing from a monthly file): the frequency is inferred
from runs of consecutive dates and accepted only if every date of every series lies on its grid;
the skipped steps then become gaps (NaN rows) in :func:`regular_grid`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

# Steps in one season by the offset's base: a year of months/quarters, a week of days, a working
# week of business days, a day of hours. Weekly and yearly data have no shorter cycle worth a
# seasonal lag (52 weeks would need years of context): 1, as GluonTS and fev use for weekly.
_SEASON = {"Y": 1, "A": 1, "Q": 4, "M": 12, "W": 1, "D": 7, "B": 5, "C": 5}
_PER_DAY = {"h": 24, "min": 24 * 60, "s": 24 * 3600}  # sub-daily: the season is one day
_RUN = 3  # consecutive dates a frequency is inferred from when the whole series has gaps


_SUBDAILY_UNITS = {"h": "H", "bh": "H", "cbh": "H", "min": "T", "s": "S", "ms": "S", "us": "S"}


def unit(freq: str | None) -> str | None:
    """The calendar unit of offset alias ``freq``, as pandas parses it: ``Y``, ``Q``, ``M``
    (business and semi-month aliases too), ``W``, ``D`` (business and custom days too), ``H``,
    ``T`` (minutes) or ``S`` (seconds and finer); None for None or any other alias."""
    if not freq:
        return None
    base = to_offset(freq).name.split("-")[0]
    if base in _SUBDAILY_UNITS or base == "ns":
        return _SUBDAILY_UNITS.get(base, "S")
    kind = base.lstrip("BCS")[:1] or "D"  # BMS, SMS: monthly; B, C: days
    return kind if kind in "YQMWD" else None


def season_length(freq: str | None) -> int:
    """Steps per season for offset alias ``freq``: 12 monthly, 4 quarterly, 7 daily, 5 business
    daily, steps per day below a day (24 hourly, 48 half-hourly), 1 yearly, weekly or unknown."""
    if not freq:
        return 1
    offset = to_offset(freq)
    base = offset.name.split("-")[0]
    if base in _PER_DAY:
        per_day, n = _PER_DAY[base], offset.n
        return per_day // n if n > 0 and per_day % n == 0 else 1
    kind = base if base in ("B", "C") else base.lstrip("BC")[:1]  # BMS is monthly, B daily
    if kind in _SEASON:
        return max(1, _SEASON[kind] // max(offset.n, 1))
    return 1


def infer_freq(dates: Sequence[np.ndarray]) -> str | None:
    """The offset alias every series' dates lie on (gaps allowed), or None: too few dates,
    irregular dates, or series on different calendars. Tried: pandas' inference on the longest
    series, else the commonest alias inferred from its runs of :data:`_RUN` dates."""
    longest = pd.DatetimeIndex(max(dates, key=len))
    if len(longest) < 3:
        return None
    candidates = [pd.infer_freq(longest)]
    if candidates[0] is None:
        runs = (longest[i : i + _RUN] for i in range(0, len(longest) - _RUN + 1))
        counts = Counter(f for run in runs if (f := pd.infer_freq(run)) is not None)
        candidates = [f for f, _ in counts.most_common()]
    for freq in candidates:
        if freq and all(_on_grid(pd.DatetimeIndex(d), freq) for d in dates):
            return freq
    return None


def _on_grid(dates: pd.DatetimeIndex, freq: str) -> bool:
    if len(dates) == 1:
        return dates[0] == to_offset(freq).rollforward(dates[0])
    grid = pd.date_range(dates[0], dates[-1], freq=freq)
    return len(grid) > 0 and grid[0] == dates[0] and dates.isin(grid).all()


def regular_grid(dates: np.ndarray, values: np.ndarray, freq: str) -> tuple[np.ndarray, np.ndarray]:
    """``dates`` (T,) and ``values`` (T, D) on the full grid of ``freq`` from the first date to the
    last: a skipped date becomes a row of NaN. Returns (dates (T',), values (T', D))."""
    grid = pd.date_range(dates[0], dates[-1], freq=freq)
    if len(grid) == len(dates):
        return np.asarray(dates), values
    full = np.full((len(grid), values.shape[1]), np.nan)
    full[grid.get_indexer(pd.DatetimeIndex(dates))] = values
    return grid.to_numpy(), full


def date_text(date: np.datetime64, sep: str = " ") -> str:
    """``date`` to the second as ISO 8601 with ``sep`` between day and time (``"T"`` in files
    llmts writes, a space in messages); the day alone at midnight."""
    text = str(np.datetime_as_string(date, unit="s"))
    return text[:10] if text.endswith("T00:00:00") else text.replace("T", sep)
