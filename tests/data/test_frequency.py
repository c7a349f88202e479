"""Frequencies of dated series and the season lengths they suggest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from llmts.data.frequency import infer_freq, regular_grid, season_length


@pytest.mark.parametrize(
    "freq, season",
    [
        ("MS", 12),
        ("ME", 12),
        ("QS-OCT", 4),
        ("YE-DEC", 1),
        ("W-SUN", 1),
        ("D", 7),
        ("B", 5),
        ("h", 24),
        ("30min", 48),
        ("2h", 12),
        ("BMS", 12),
        (None, 1),
    ],
)
def test_season_length_by_frequency(freq, season):
    assert season_length(freq) == season


@pytest.mark.parametrize("freq", ["MS", "QS-JAN", "W-SUN", "D", "h", "30min", "YS-JAN"])
def test_infer_freq_with_and_without_a_gap(freq):
    dates = pd.date_range("2001-01-01", periods=30, freq=freq).to_numpy()

    def same_grid(inferred):  # QS-JAN and QS-OCT name one calendar
        return np.array_equal(pd.date_range(dates[0], periods=30, freq=inferred), dates)

    assert same_grid(infer_freq([dates]))
    assert same_grid(infer_freq([np.delete(dates, [7, 8])]))  # two steps skipped
    assert same_grid(infer_freq([dates, dates[3:12]]))  # several series, one calendar


def test_no_frequency_for_too_few_irregular_or_mixed_dates():
    days = pd.date_range("2001-01-01", periods=10, freq="D").to_numpy()
    months = pd.date_range("2001-01-01", periods=10, freq="MS").to_numpy()
    assert infer_freq([days[:2]]) is None
    assert infer_freq([days[[0, 1, 3, 7, 8, 9]] + np.timedelta64(1, "h") * np.arange(6)]) is None
    assert infer_freq([months, days[1:]]) is None  # a series off the monthly grid


def test_regular_grid_fills_skipped_dates_with_nan():
    dates = pd.date_range("2001-01-01", periods=6, freq="MS").to_numpy()
    kept = np.delete(dates, 2)
    grid, values = regular_grid(kept, np.arange(5.0)[:, None], "MS")
    assert np.array_equal(grid, dates)
    assert np.isnan(values[2, 0]) and values[[0, 1, 3, 4, 5], 0].tolist() == [0, 1, 2, 3, 4]
