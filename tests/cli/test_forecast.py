"""``llmts-forecast``'s writers in this process: values at the codec's precision, quantiles only
for sampled forecasts."""

from __future__ import annotations

import numpy as np

from llmts.api import Prediction
from llmts.cli.forecast import decimals, write_csv


def prediction(samples: np.ndarray, scales: np.ndarray) -> Prediction:
    return Prediction(samples, np.median(samples, axis=1), scales, samples[..., 0].size, 0, 0, [])


def test_decimals_hold_the_codecs_resolution():
    """α·10^-precision in original units: α = 1.3, 2 decimals of x/α -> 0.013 -> 2 decimals."""
    assert decimals(np.array([1.0, 1.3, 0.05, 250.0, 0.0]), 2).tolist() == [2, 2, 4, 0, 2]


def test_greedy_csv_has_no_quantiles_and_no_float_noise(tmp_path):
    greedy = np.array([1.5204280000000001, 2.0, 0.1 + 0.2]).reshape(1, 1, 3, 1)
    write_csv(
        tmp_path / "g.csv",
        prediction(greedy, np.array([[1.3]])),
        [0.1, 0.9],
        ["x"],
        np.array([0.1, 0.2, 0.30000000000000004]),
        precision=2,
    )
    assert (tmp_path / "g.csv").read_text().splitlines() == [
        "series,step,time,x",
        "0,1,0.1,1.52",
        "0,2,0.2,2",
        "0,3,0.3,0.3",
    ]


def test_sampled_csv_has_its_quantile_columns(tmp_path):
    samples = np.array([1.0, 2.0, 3.0]).reshape(1, 3, 1, 1)
    write_csv(
        tmp_path / "s.csv", prediction(samples, np.array([[10.0]])), [0.5], ["x"], None, precision=2
    )
    assert (tmp_path / "s.csv").read_text().splitlines() == ["series,step,x,x_q0.5", "0,1,2,2"]


def test_dated_input_gets_the_next_dates_of_its_calendar(tmp_path):
    from llmts.cli.forecast import future_time

    months = np.array(["2020-10-01", "2020-11-01", "2020-12-01"], dtype="datetime64[ns]")
    future = future_time(months, 2, "MS")
    assert [str(d)[:10] for d in future] == ["2021-01-01", "2021-02-01"]
    assert future_time(months, 2, None) is None  # dates on no calendar: no times
    greedy = np.array([1.0, 2.0]).reshape(1, 1, 2, 1)
    write_csv(tmp_path / "d.csv", prediction(greedy, np.array([[1.0]])), [0.5], ["x"], future, 2)
    assert (tmp_path / "d.csv").read_text().splitlines()[1:] == [
        "0,1,2021-01-01,1",
        "0,2,2021-02-01,2",
    ]
