"""Physical checks against exact Lotka-Volterra trajectories and constructed forecasts."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from llmts.metrics import physics
from llmts.metrics.baselines import ode_fit

RATES = np.array([0.2, 0.1, 0.08, 0.25])  # a, b, d, g
TIME = np.linspace(0.0, 200.0, 100)
C, H = 51, 20


def _lv(z0, rates=RATES, time=TIME) -> np.ndarray:
    a, b, d, g = rates
    sol = solve_ivp(
        lambda _t, z: [a * z[0] - b * z[0] * z[1], d * z[0] * z[1] - g * z[1]],
        (time[0], time[-1]),
        z0,
        t_eval=time,
        method="DOP853",
        rtol=1e-11,
        atol=1e-12,
    )
    return sol.y.T  # (T, 2)


def _v(z, rates=RATES) -> float:
    a, b, d, g = rates
    return d * z[0] - g * np.log(z[0]) + b * z[1] - a * np.log(z[1])


def test_invariant_is_conserved_on_an_exact_solution():
    series = _lv([1.5, 1.0])[None]
    drift = physics.invariant_drift(series[:, :C], series[:, C : C + H], RATES[None])
    assert drift[0] == pytest.approx(0.0, abs=1e-7)


def test_invariant_drift_of_another_orbit_by_hand():
    # the forecast follows the orbit through (2.5, 1.0): drift = |V₂ − V₁| / (V₁ − V*)
    z1, z2 = [1.5, 1.0], [2.5, 1.0]
    ctx, other = _lv(z1)[None, :C], _lv(z2)[None, C : C + H]
    a, b, d, g = RATES
    expect = abs(_v(z2) - _v(z1)) / (_v(z1) - _v([g / d, a / b]))
    assert physics.invariant_drift(ctx, other, RATES[None])[0] == pytest.approx(expect, rel=1e-6)


def test_invariant_with_rates_from_the_ode_fit():
    series = np.stack([_lv([1.5, 1.0]), _lv([2.0, 0.5])])
    fit = ode_fit(series[:, :C], TIME[:C], TIME[C : C + H])
    assert fit.failed == 0
    truth = physics.invariant_drift(series[:, :C], series[:, C : C + H], fit.params)
    scaled = physics.invariant_drift(series[:, :C], 1.3 * series[:, C : C + H], fit.params)
    assert (truth < 0.01).all() and (scaled > 10 * truth).all()
    failed = physics.invariant_drift(series[:, :C], series[:, C : C + H], np.full((2, 4), np.nan))
    assert np.isnan(failed).all()


def test_negative_share_constructed():
    fc = np.ones((2, 5, 2))
    fc[0, :3, 0] = -0.1  # 3 of 10 points of series 0
    fc[1, 4, 1] = -0.0  # −0.0 is not below 0
    np.testing.assert_allclose(physics.negative_share(fc), [0.3, 0.0])


def test_peak_phase_error_of_a_shifted_forecast():
    series = _lv([1.5, 1.0])[None]
    ctx, truth = series[:, :C], series[:, C : C + H]
    assert physics.next_peak(ctx[0, -1, 0], truth[0, :, 0], 0.1) is not None  # a peak in view
    err, missed = physics.peak_timing(ctx, truth, truth)
    assert err[0] == 0.0 and missed[0] == 0.0
    k = 2
    late = series[:, C - k : C - k + H]  # the truth k steps late: every peak k steps later
    err, missed = physics.peak_timing(ctx, truth, late)
    assert err[0] == pytest.approx(k) and missed[0] == 0.0
    flat = np.repeat(ctx[:, -1:], H, axis=1)  # persistence has no peak
    err, missed = physics.peak_timing(ctx, truth, flat)
    assert np.isnan(err[0]) and missed[0] == 1.0


def test_lv_checks_keys():
    series = _lv([1.5, 1.0])[None]
    out = physics.lv_checks(series[:, :C], series[:, C : C + H], series[:, C : C + H], None)
    assert set(out) == {"negative_share", "peak_phase_error", "peak_missed"}
    out = physics.lv_checks(series[:, :C], series[:, C : C + H], series[:, C : C + H], RATES[None])
    assert {"invariant_drift", "invariant_drift_truth"} <= set(out)


def test_evaluate_skips_other_data_with_a_note():
    from llmts.metrics.evaluate import physics_checks

    rng = np.random.default_rng(0)
    out: dict = {}
    ctx, truth = rng.uniform(1, 2, (3, 10, 3)), rng.uniform(1, 2, (3, 5, 3))
    assert physics_checks(ctx, truth, truth, None, None, out) == {}
    assert out == {"physics/skipped": "Lotka-Volterra checks need D = 2; this data has D = 3"}
    series = np.stack([_lv([1.5, 1.0]), _lv([2.0, 0.5]), _lv([1.0, 2.0])])
    ctx, truth = series[:, :C], series[:, C : C + H]
    fc = truth.copy()
    fc[0, :4, 1] = -0.5  # 4 of the 120 forecast points
    per = physics_checks(ctx, truth, fc, RATES[None].repeat(3, 0), None, out)
    assert out["physics/negative_share"] == pytest.approx(4 / 120)
    assert out["physics/negative_share"] == pytest.approx(per["negative_share"].mean())
    assert out["physics/invariant_series"] == 3 and "physics/negative_share_ci" not in out
