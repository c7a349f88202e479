"""Metrics: hand-computed values, the documented edge-case choices, CRPS vs brute force."""

import json

import numpy as np
import pytest

from llmts.metrics.point import (
    crps_from_samples,
    per_horizon,
    per_variable,
    point_forecast,
    point_metrics,
    sample_metrics,
)


def _one(a):
    """(h, D) → (1, h, D)."""
    return np.asarray(a, dtype=float)[None]


def test_point_metrics_by_hand():
    truth = _one([[1, 2], [3, 4]])
    pred = _one([[1, 3], [5, 4]])
    # e = truth − pred = [0, −1, −2, 0]; e² = [0, 1, 4, 0]
    # mse = 5/4 = 1.25, rmse = √1.25, mae = 3/4
    # mean(truth) = 2.5, SS_tot = 2.25 + .25 + .25 + 2.25 = 5, SS_res = 5 → r2 = 0
    # nrmse = 100 · √1.25 / (4 − 1); mape = 100 · mean(0, 1/2, 2/3, 0) = 100 · 7/24
    m = point_metrics(truth, pred)
    assert m["mse"] == pytest.approx(1.25)
    assert m["rmse"] == pytest.approx(np.sqrt(1.25))
    assert m["mae"] == pytest.approx(0.75)
    assert m["r2"] == pytest.approx(0.0)
    assert m["nrmse"] == pytest.approx(100 * np.sqrt(1.25) / 3)
    assert m["mape"] == pytest.approx(100 * 7 / 24)
    assert m["mape_excluded"] == 0
    assert set(m) == {"mse", "rmse", "mae", "r2", "nrmse", "mape", "mape_excluded"}
    assert all(type(v) in (float, int) for v in m.values())


def test_r2_pooled_mean_and_perfect():
    truth = _one([[1, 2], [3, 4]])
    assert point_metrics(truth, truth)["r2"] == 1.0
    # predicting the pooled mean everywhere gives exactly R² = 0
    assert point_metrics(truth, np.full_like(truth, 2.5))["r2"] == pytest.approx(0.0)
    # worse than the mean → negative (the study's untrained model: −6.66)
    assert point_metrics(truth, truth + 3)["r2"] == pytest.approx(1 - 36 / 5)


def test_constant_truth_is_finite_and_documented():
    truth = np.full((2, 3, 2), 2.0)
    exact = point_metrics(truth, truth)
    assert exact["r2"] == 1.0 and exact["nrmse"] == 0.0
    off = point_metrics(truth, truth + 1.0)
    assert off["r2"] == 0.0  # sklearn force_finite convention
    assert off["nrmse"] == pytest.approx(100 * 1.0 / 2.0)  # range 0 → divide by max|truth|
    zero = np.zeros((1, 2, 2))
    z = point_metrics(zero, zero + 0.5)
    assert z["nrmse"] == pytest.approx(50.0)  # all-zero truth → divide by 1
    assert z["mape"] == 0.0 and z["mape_excluded"] == 4  # nothing left for MAPE
    for m in (exact, off, z):
        json.dumps(m, allow_nan=False)  # strict JSON: no NaN/inf anywhere


def test_mape_near_zero_rule():
    truth = _one([[0.0, 2.0], [1e-9, 4.0]])  # 1e-9 ≤ 1e-8 · 4 → excluded, as is 0
    pred = _one([[1.0, 1.0], [1.0, 5.0]])
    m = point_metrics(truth, pred)
    assert m["mape_excluded"] == 2
    assert m["mape"] == pytest.approx(100 * (0.5 + 0.25) / 2)
    # just above the threshold counts (and dominates, as MAPE does)
    m2 = point_metrics(_one([[1e-6, 4.0]]), _one([[2e-6, 4.0]]))
    assert m2["mape_excluded"] == 0 and m2["mape"] == pytest.approx(50.0)


def test_bad_inputs_raise():
    with pytest.raises(ValueError):
        point_metrics(np.zeros((1, 2, 2)), np.zeros((1, 2, 1)))
    with pytest.raises(ValueError):
        point_metrics(np.zeros((1, 2, 2)), np.full((1, 2, 2), np.nan))


def test_per_variable_names_and_values():
    truth = np.array([[[1.0, 10.0], [2.0, 20.0]], [[3.0, 30.0], [4.0, 40.0]]])
    pred = truth.copy()
    pred[..., 1] += 2.0
    out = per_variable(truth, pred, ["prey", "predator"])
    metrics = ("mse", "rmse", "mae", "r2", "nrmse", "mape", "mape_excluded")
    assert set(out) == {f"{v}/{k}" for v in ("prey", "predator") for k in metrics}
    assert out["prey/mse"] == 0.0 and out["prey/r2"] == 1.0
    assert out["predator/mse"] == pytest.approx(4.0)
    # predator: mean 25, SS_tot = 225+25+25+225 = 500, SS_res = 16 → r2 = 1 − 16/500
    assert out["predator/r2"] == pytest.approx(1 - 16 / 500)
    assert out["predator/nrmse"] == pytest.approx(100 * 2 / 30)
    with pytest.raises(ValueError):
        per_variable(truth, pred, ["only_one"])


def test_per_horizon_shape_and_values():
    truth = np.zeros((3, 5, 2))
    pred = np.zeros((3, 5, 2))
    pred[:, 2, :] = 2.0  # step 2: every error is 2
    ph = per_horizon(truth, pred)
    assert ph["mse"].shape == (5,) and ph["mae"].shape == (5,)
    np.testing.assert_allclose(ph["mse"], [0, 0, 4, 0, 0])
    np.testing.assert_allclose(ph["mae"], [0, 0, 2, 0, 0])


def test_crps_degenerate_samples_equals_mae():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(4, 6, 2))
    pred = rng.normal(size=(4, 6, 2))
    samples = np.repeat(pred[:, None], 7, axis=1)
    m = sample_metrics(truth, samples)
    assert m["crps"] == pytest.approx(point_metrics(truth, pred)["mae"])
    assert m["avg_uncertainty"] == pytest.approx(0.0, abs=1e-12)
    assert m["interval_width_80"] == pytest.approx(0.0, abs=1e-12)


def test_crps_matches_brute_force():
    rng = np.random.default_rng(1)
    n, s, h, d = 3, 9, 4, 2
    truth = rng.normal(size=(n, h, d))
    samples = rng.normal(size=(n, s, h, d)) * 1.5 + 0.3
    # O(s²): CRPS = mean_i |x_i − y| − ½ mean_{i,j} |x_i − x_j|
    term1 = np.abs(samples - truth[:, None]).mean(axis=1)
    pairs = np.abs(samples[:, :, None] - samples[:, None, :]).mean(axis=(1, 2))
    brute = term1 - 0.5 * pairs
    np.testing.assert_allclose(crps_from_samples(truth, samples), brute, rtol=1e-12, atol=1e-12)
    assert sample_metrics(truth, samples)["crps"] == pytest.approx(brute.mean())
    assert (brute >= 0).all()


def test_crps_two_samples_by_hand():
    # samples {0, 2}, y = 1: E|X − y| = 1, E|X − X'| = (0 + 2 + 2 + 0)/4 = 1 → CRPS = 1 − 0.5
    truth = np.ones((1, 1, 1))
    samples = np.array([0.0, 2.0]).reshape(1, 2, 1, 1)
    assert sample_metrics(truth, samples)["crps"] == pytest.approx(0.5)


def test_coverage_and_width_constructed():
    # samples 0..10 at every point: q10 = 1, q90 = 9 (linear interpolation), width 8
    samples = np.broadcast_to(np.arange(11.0).reshape(1, 11, 1, 1), (1, 11, 2, 2)).copy()
    truth = np.array([[[0.5, 1.0], [5.0, 9.5]]])  # inside: 1.0 (edge) and 5.0 → 2 of 4
    m = sample_metrics(truth, samples)
    assert m["coverage_80"] == pytest.approx(0.5)
    assert m["interval_width_80"] == pytest.approx(8.0)


def test_avg_uncertainty_by_hand():
    # point A samples {1, 3}: std (ddof 0) = 1; point B samples {0, 4}: std = 2 → mean 1.5
    samples = np.array([[1.0, 0.0], [3.0, 4.0]]).reshape(1, 2, 1, 2)
    truth = np.zeros((1, 1, 2))
    assert sample_metrics(truth, samples)["avg_uncertainty"] == pytest.approx(1.5)


def test_point_forecast():
    samples = np.array([1.0, 2.0, 10.0]).reshape(1, 3, 1, 1)
    assert point_forecast(samples).item() == 2.0
    assert point_forecast(samples, "mean").item() == pytest.approx(13 / 3)
    assert point_forecast(np.zeros((2, 5, 3, 2))).shape == (2, 3, 2)
    greedy = np.random.default_rng(0).normal(size=(4, 1, 3, 2))  # one sample: itself, exactly
    for how in ("median", "mean"):
        assert np.array_equal(point_forecast(greedy, how), greedy[:, 0])
    with pytest.raises(ValueError):
        point_forecast(samples, "mode")


def test_sample_metrics_shape_mismatch_raises():
    with pytest.raises(ValueError):
        sample_metrics(np.zeros((2, 3, 2)), np.zeros((2, 5, 4, 2)))


def test_missing_truth_points_are_skipped_everywhere():
    truth = _one([[1.0, np.nan], [3.0, 4.0], [np.nan, 2.0]])
    pred = _one([[2.0, 9.0], [3.0, 5.0], [7.0, 2.0]])
    m = point_metrics(truth, pred)
    assert m["mse"] == pytest.approx((1 + 0 + 1 + 0) / 4)  # the four observed points
    assert m["mae"] == pytest.approx(2 / 4)
    v = per_variable(truth, pred, ["a", "b"])
    assert v["a/mse"] == pytest.approx(1 / 2) and v["b/mse"] == pytest.approx(1 / 2)
    h = per_horizon(truth, pred)
    np.testing.assert_allclose(h["mse"], [1.0, 0.5, 0.0])
    samples = np.stack([pred, pred + 1.0], axis=1)
    s = sample_metrics(truth, samples)
    observed = ~np.isnan(truth[0])
    crps = crps_from_samples(np.nan_to_num(truth), samples)[0][observed]
    assert s["crps"] == pytest.approx(crps.mean()) and s["interval_width_80"] == pytest.approx(0.8)
    with pytest.raises(ValueError, match="no observed point"):
        point_metrics(np.full((1, 2, 1), np.nan), np.zeros((1, 2, 1)))
    with pytest.raises(ValueError):
        point_metrics(np.full((1, 2, 1), np.inf), np.zeros((1, 2, 1)))


def test_constant_forecasts_are_counted_and_explained():
    """A sweep whose forecasts were all constant zeros reported MSE and MAPE 100 unflagged."""
    from llmts.metrics.point import constant_share, degenerate_note

    rng = np.random.default_rng(0)
    pred = rng.normal(size=(4, 5, 2))
    pred[0] = 0.0  # all zeros
    pred[1] = [3.0, -1.0]  # one value per variable, repeated
    pred[2, :, 0] = 7.0  # constant in one variable only: not a constant forecast
    assert constant_share(pred) == 0.5
    assert constant_share(pred[:, :1]) == 0.0  # one step: trivially constant, not flagged
    truth = np.abs(rng.normal(size=(3, 5, 2))) + 0.5
    zeros = point_metrics(truth, np.zeros_like(truth))
    assert zeros["mape"] == 100.0
    note = degenerate_note({**zeros, "constant_forecasts": 1.0})
    assert note == (
        "100 % of the forecasts are constant over the horizon; MAPE is exactly "
        "100 %: the forecast is 0 wherever it is scored"
    )
    assert degenerate_note({**point_metrics(truth, truth + 0.1), "constant_forecasts": 0.0}) is None
