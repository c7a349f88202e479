"""Bootstrap intervals: a hand computation, agreement with the plain metrics on each resample,
known answers for paired differences, and the skill horizon."""

import numpy as np
import pytest

from llmts.metrics import bootstrap as stats
from llmts.metrics.point import point_metrics


def test_counts_match_the_index_matrix():
    idx = np.array([[0, 0, 2], [1, 2, 2], [0, 1, 2]])
    np.testing.assert_array_equal(stats.counts(idx, 3), [[2, 0, 1], [0, 1, 2], [1, 1, 1]])
    big = stats.resample_indices(7, 50, seed=3)
    assert big.shape == (50, 7) and big.min() >= 0 and big.max() <= 6
    assert (stats.counts(big, 7).sum(axis=1) == 7).all()
    np.testing.assert_array_equal(big, stats.resample_indices(7, 50, seed=3))  # seeded


def test_interval_by_hand():
    # two series with MSE 1 and 3 (errors 1 and √3 at one point each); four chosen resamples:
    # {0,0} → 1, {0,1} → 2, {1,1} → 3, {1,0} → 2. Sorted draws 1, 2, 2, 3; numpy's linear
    # percentile: 2.5 % at position 0.075 → 1 + 0.075 = 1.075; 97.5 % at 2.925 → 2 + 0.925.
    truth = np.zeros((2, 1, 1))
    pred = np.array([1.0, np.sqrt(3.0)]).reshape(2, 1, 1)
    idx = np.array([[0, 0], [0, 1], [1, 1], [1, 0]])
    draws = stats.point_draws(stats.series_sums(truth, pred), idx)
    np.testing.assert_allclose(draws["mse"], [1, 2, 3, 2])
    np.testing.assert_allclose(stats.interval(draws["mse"]), [1.075, 2.925])
    ci = stats.point_intervals(truth, pred, idx)
    assert ci["mse_ci"] == pytest.approx([1.075, 2.925])
    assert set(ci) == {f"{k}_ci" for k in ("mse", "rmse", "mae", "r2", "nrmse", "mape")}


def test_draws_equal_point_metrics_of_each_resample():
    rng = np.random.default_rng(0)
    truth = rng.uniform(0.5, 3.0, size=(9, 5, 2))
    pred = truth + rng.normal(scale=0.4, size=truth.shape)
    idx = stats.resample_indices(9, 6, seed=1)
    draws = stats.point_draws(stats.series_sums(truth, pred), np.vstack([np.arange(9), idx]))
    for b, rows in enumerate([np.arange(9)] + list(idx)):
        expect = point_metrics(truth[rows], pred[rows])
        for key, values in draws.items():
            assert values[b] == pytest.approx(expect[key], rel=1e-10), (b, key)


def test_constant_truth_follows_the_metric_conventions():
    truth = np.full((3, 4, 2), 2.0)
    idx = stats.resample_indices(3, 5, seed=0)
    exact = stats.point_draws(stats.series_sums(truth, truth), idx)
    off = stats.point_draws(stats.series_sums(truth, truth + 1.0), idx)
    assert (exact["r2"] == 1.0).all() and (off["r2"] == 0.0).all()
    np.testing.assert_allclose(off["nrmse"], 50.0)  # range 0 → divide by max|truth| = 2


def test_mean_interval_matches_the_normal_approximation():
    # known answer: for the mean of n iid values the 95 % interval is ≈ mean ± 1.96 σ/√n
    rng = np.random.default_rng(2)
    values = rng.normal(5.0, 2.0, size=400)
    w = stats.counts(stats.resample_indices(400, 4000, seed=0), 400)
    lo, hi = stats.interval(stats.mean_draws(values, w))
    half = 1.96 * values.std(ddof=1) / np.sqrt(400)
    assert lo == pytest.approx(values.mean() - half, abs=0.1 * half)
    assert hi == pytest.approx(values.mean() + half, abs=0.1 * half)


def test_mean_draws_skip_undefined_series():
    w = np.array([[2.0, 0.0, 1.0], [0.0, 3.0, 0.0], [1.0, 1.0, 1.0]])
    out = stats.mean_draws(np.array([1.0, np.nan, 4.0]), w)
    np.testing.assert_allclose(out, [(2 * 1 + 4) / 3, np.nan, (1 + 4) / 2])
    assert np.isnan(stats.interval(np.full(5, np.nan))).all()


def _paired(truth, a, b, num=1000):
    idx = stats.resample_indices(len(truth), num, seed=0)
    da = stats.point_draws(stats.series_sums(truth, a), idx)
    db = stats.point_draws(stats.series_sums(truth, b), idx)
    return {k: stats.interval(da[k] - db[k]) for k in da}


def test_identical_jobs_difference_contains_zero():
    rng = np.random.default_rng(4)
    truth = rng.uniform(0, 3, size=(50, 20, 2))
    pred = truth + rng.normal(scale=0.5, size=truth.shape)
    for lo, hi in _paired(truth, pred, pred.copy()).values():
        assert lo <= 0 <= hi and not stats.excludes_zero(lo, hi)


def test_shifted_forecast_difference_excludes_zero():
    rng = np.random.default_rng(5)
    truth = rng.uniform(0, 3, size=(50, 20, 2))
    pred = truth + rng.normal(scale=0.5, size=truth.shape)
    ci = _paired(truth, pred + 0.3, pred)  # a bias of 0.3 on every point: MSE grows by ≈ 0.09
    assert stats.excludes_zero(*ci["mse"]) and ci["mse"][0] > 0
    assert stats.excludes_zero(*ci["r2"]) and ci["r2"][1] < 0
    # unpaired noise of the same size: no real difference, the interval holds 0
    other = truth + rng.normal(scale=0.5, size=truth.shape)
    lo, hi = _paired(truth, other, pred)["mse"]
    assert lo < 0 < hi


def test_skill_and_useful_horizon():
    # reference error 1 at every step; model error 0.5 for steps 1-3, 2 afterwards (h = 6)
    n, h = 40, 6
    rng = np.random.default_rng(6)
    truth = rng.normal(size=(n, h, 2))
    err = np.where(np.arange(h) < 3, 0.5, 2.0)[None, :, None] * rng.choice([-1, 1], (n, h, 2))
    ref_err = rng.choice([-1.0, 1.0], (n, h, 2))
    model_sse, ref_sse = stats.step_sse(truth, truth + err), stats.step_sse(truth, truth + ref_err)
    point = stats.skill(model_sse, ref_sse, np.ones((1, n)))[0]
    np.testing.assert_allclose(point, [0.75] * 3 + [-3.0] * 3)  # 1 − 0.25/1, 1 − 4/1
    assert stats.useful_horizon(point) == 3
    assert stats.useful_horizon(np.array([-1.0, 0.2, np.nan, 0.1, -0.5])) == 4  # the last one
    assert stats.useful_horizon(np.array([-1.0, 0.0])) == 0
    assert np.isnan(stats.skill(np.ones((2, 1)), np.zeros((2, 1)), np.ones((1, 2)))).all()


def test_missing_truth_points_count_in_no_resample():
    rng = np.random.default_rng(4)
    truth = rng.uniform(0.5, 3.0, size=(7, 5, 2))
    truth[rng.random(truth.shape) < 0.2] = np.nan
    pred = np.nan_to_num(truth, nan=1.0) + rng.normal(scale=0.3, size=truth.shape)
    idx = stats.resample_indices(7, 4, seed=2)
    draws = stats.point_draws(stats.series_sums(truth, pred), np.vstack([np.arange(7), idx]))
    for b, rows in enumerate([np.arange(7)] + list(idx)):
        t, p = truth[rows], pred[rows]
        keep = ~np.isnan(t)
        expect = point_metrics(t[keep], p[keep])  # the observed points alone
        for key, values in draws.items():
            assert values[b] == pytest.approx(expect[key], rel=1e-10), (b, key)
    sse = stats.step_sse(truth, pred)
    assert sse[0, 0] == pytest.approx(np.nansum((truth[0, 0] - pred[0, 0]) ** 2))
