"""The statsforecast baselines: the same forecasts statsforecast gives when called directly on
the same history, the fallback for a series a model cannot fit, and the quantile levels."""

import numpy as np
import pandas as pd
import pytest

from llmts.metrics.scaled import QUANTILES
from llmts.metrics.statistical import MODELS, model, quantile_columns, statistical_forecasts

pytest.importorskip("statsforecast")


def _histories(seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(48)
    seasonal = 10 + 3 * np.sin(2 * np.pi * t / 4)
    return [
        (seasonal[:, None] + rng.normal(0, 0.5, (48, 2))),  # two variables
        (seasonal[:36, None] * [1.0, -2.0] + rng.normal(0, 0.5, (36, 2))),  # negative values
    ]


def _direct(name: str, y: np.ndarray, h: int, m: int) -> np.ndarray:
    """(9, h) quantiles of statsforecast called directly on one univariate series."""
    from statsforecast import StatsForecast

    df = pd.DataFrame({"unique_id": 0, "ds": np.arange(len(y)), "y": y})
    fc = StatsForecast(models=[model(name, m)], freq=1).forecast(df=df, h=h, level=[20, 40, 60, 80])
    return fc[quantile_columns(name)].to_numpy().T


def test_quantile_columns_name_statsforecasts_interval_ends():
    assert quantile_columns("auto_ets") == [
        "auto_ets-lo-80",
        "auto_ets-lo-60",
        "auto_ets-lo-40",
        "auto_ets-lo-20",
        "auto_ets",
        "auto_ets-hi-20",
        "auto_ets-hi-40",
        "auto_ets-hi-60",
        "auto_ets-hi-80",
    ]


def test_each_baseline_equals_statsforecast_on_the_same_history():
    hists, h, m = _histories(), 5, 4
    got = statistical_forecasts(hists, h, m, MODELS, n_jobs=1)
    for name in MODELS:
        assert got[name].failed == 0, name
        for i, hist in enumerate(hists):
            for d in range(2):
                want = _direct(name, hist[:, d], h, m)
                np.testing.assert_allclose(got[name].point[i, :, d], want[4], rtol=1e-10)
                np.testing.assert_allclose(
                    got[name].quantiles[:, i, :, d], np.sort(want, axis=0), rtol=1e-10
                )
    # seasonal naive repeats the last season of the history exactly
    np.testing.assert_array_equal(got["seasonal_naive"].point[0, :4], hists[0][-4:])


def test_a_series_a_model_cannot_fit_falls_back_to_seasonal_naive_and_is_counted():
    rng = np.random.default_rng(1)
    hists = [rng.normal(0, 1, (30, 1)).cumsum(0), np.array([[1.0], [2.0]])]
    got = statistical_forecasts(hists, 3, 4, ("auto_ets", "seasonal_naive"), n_jobs=1)
    # ETS refuses a 2-step history ("tiny datasets"); seasonal naive has no full season there:
    # both give naive's forecast for it, counted
    assert got["auto_ets"].failed == 1 and got["seasonal_naive"].failed == 1
    np.testing.assert_array_equal(got["auto_ets"].point[1, :, 0], [2.0, 2.0, 2.0])
    np.testing.assert_allclose(
        got["auto_ets"].point[0, :, 0], _direct("auto_ets", hists[0][:, 0], 3, 4)[4]
    )
    assert np.isfinite(got["auto_ets"].quantiles).all()
    assert (np.diff(got["auto_ets"].quantiles, axis=0) >= 0).all()


def test_gaps_are_interpolated_before_the_fit():
    hist = np.array([[1.0], [np.nan], [3.0], [4.0], [np.nan], [6.0]])
    got = statistical_forecasts([hist], 2, 1, ("naive",), n_jobs=1)
    np.testing.assert_array_equal(got["naive"].point[0, :, 0], [6.0, 6.0])


def test_an_unknown_name_is_refused_before_any_fit():
    with pytest.raises(ValueError, match="unknown statistical baseline 'ets'"):
        statistical_forecasts(_histories(), 2, 4, ("ets",))
    assert len(QUANTILES) == 9


def test_auto_arima_approximates_where_rs_auto_arima_does():
    assert not model("auto_arima", 12, 150).approximation
    assert model("auto_arima", 12, 151).approximation  # a long history
    assert model("auto_arima", 24, 30).approximation  # a long season
