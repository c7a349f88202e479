"""Persistence and the Lotka-Volterra ODE-fit baseline."""

import warnings

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from llmts.codec.llmtime import scale_of
from llmts.data.series import lotka_volterra, simulate_lotka_volterra
from llmts.metrics.baselines import (
    OdeFitResult,
    ode_fit,
    persistence,
    season,
    seasonal_naive,
)

TIME = np.linspace(0.0, 200.0, 100)  # the study's grid
CTX, HOR = 51, 20


def _rounded(context: np.ndarray) -> np.ndarray:
    """The context as the LLM sees it: x → round(x/α, 2)·α, α = scale_of(that series' context)."""
    out = np.empty_like(context)
    for i, c in enumerate(context):
        alpha = scale_of(c)
        out[i] = np.round(c / alpha, 2) * alpha
    return out


def test_persistence_repeats_last_step():
    ctx = np.arange(2 * 4 * 3, dtype=float).reshape(2, 4, 3)
    out = persistence(ctx, 5)
    assert out.shape == (2, 5, 3)
    np.testing.assert_array_equal(out[0], np.tile(ctx[0, -1], (5, 1)))
    np.testing.assert_array_equal(out[1], np.tile(ctx[1, -1], (5, 1)))
    with pytest.raises(ValueError):
        persistence(np.zeros((4, 3)), 2)


def test_ode_fit_rejects_non_lv_shapes():
    with pytest.raises(ValueError):
        ode_fit(np.ones((2, CTX, 3)), TIME[:CTX], TIME[CTX : CTX + HOR])
    with pytest.raises(ValueError):
        ode_fit(np.ones((2, CTX, 2)), TIME[: CTX - 1], TIME[CTX : CTX + HOR])


@pytest.mark.parametrize("start", [0, 20])  # context need not start at t = 0
def test_ode_fit_recovers_known_parameters(start):
    true = np.array([[0.22, 0.11, 0.08, 0.15], [0.12, 0.18, 0.15, 0.27]])  # (a, b, d, g) rows
    z0 = np.array([1.6, 0.7, 0.9, 2.1])  # x's then y's, as lotka_volterra stacks them
    sol = solve_ivp(
        lotka_volterra,
        (0.0, 200.0),
        z0,
        t_eval=TIME,
        args=tuple(true.T),
        method="DOP853",
        rtol=1e-10,
        atol=1e-12,
    )
    series = sol.y.reshape(2, 2, -1).transpose(1, 2, 0)  # (N, T, 2)
    tc, tf = TIME[start : start + CTX], TIME[start + CTX : start + CTX + HOR]
    res = ode_fit(series[:, start : start + CTX], tc, tf)
    assert isinstance(res, OdeFitResult) and res.failed == 0
    assert res.forecast.shape == (2, HOR, 2) and res.params.shape == (2, 4)
    np.testing.assert_allclose(res.params, true, rtol=0.02)
    truth = series[:, start + CTX : start + CTX + HOR]
    assert np.max(np.abs(res.forecast - truth)) < 0.01 * np.max(truth)


def test_ode_fit_beats_persistence_on_rounded_context():
    series, time = simulate_lotka_volterra(20, 100, 200.0, seed=3)
    series = series.astype(np.float64)
    ctx, truth = _rounded(series[:, :CTX]), series[:, CTX : CTX + HOR]
    res = ode_fit(ctx, time[:CTX], time[CTX : CTX + HOR])
    mse_ode = np.mean((res.forecast - truth) ** 2, axis=(1, 2))
    mse_pers = np.mean((persistence(ctx, HOR) - truth) ** 2, axis=(1, 2))
    print(
        f"ode_fit on 20 rounded series: failed={res.failed}, median MSE {np.median(mse_ode):.2e} "
        f"(persistence {np.median(mse_pers):.2e}), mean {mse_ode.mean():.2e} "
        f"(persistence {mse_pers.mean():.2e}), {res.seconds / 20:.2f} s/series"
    )
    assert res.failed <= 1
    assert mse_ode.mean() < 0.01 * mse_pers.mean()
    assert np.median(mse_ode) < 1e-3
    assert np.isfinite(res.forecast).all()


@pytest.mark.parametrize("seed, index", [(0, 2), (12, 9)])
def test_ode_fit_hard_series(seed, index):
    # (0, 2): predator rounded to 0 for 14 steps, so a windowed fit loses d; (12, 9): a
    # full-length fit lands in a wrong-period minimum. Each needs the other start schedule.
    series, time = simulate_lotka_volterra(100, 100, 200.0, seed)
    one = series[index : index + 1].astype(np.float64)
    ctx, truth = _rounded(one[:, :CTX]), one[:, CTX : CTX + HOR]
    res = ode_fit(ctx, time[:CTX], time[CTX : CTX + HOR])
    assert res.failed == 0
    assert np.mean((res.forecast - truth) ** 2) < 0.02


def test_ode_fit_falls_back_to_persistence():
    rng = np.random.default_rng(0)
    ctx = np.concatenate(
        [
            rng.uniform(0.5, 2.5, size=(1, CTX, 2)),  # white noise: no LV fits it
            np.zeros((1, CTX, 2)),  # all zero: nothing to fit
        ]
    )
    res = ode_fit(ctx, TIME[:CTX], TIME[CTX : CTX + HOR])
    assert res.failed == 2
    np.testing.assert_array_equal(res.forecast, persistence(ctx, HOR))
    assert np.isnan(res.params).all()


def test_persistence_with_gaps_is_the_last_observed_value():
    ctx = np.array(
        [
            [[1.0, 5.0], [2.0, np.nan], [np.nan, np.nan]],
            [[np.nan, 7.0], [np.nan, 8.0], [np.nan, 9.0]],
        ]
    )
    out = persistence(ctx, 2)
    np.testing.assert_array_equal(out[:, 0], [[2.0, 5.0], [0.0, 9.0]])  # 0: never observed


def test_ode_fit_uses_the_observed_points_only():
    series, time = simulate_lotka_volterra(3, 100, 200.0, seed=3)
    ctx, truth = series[:, :CTX].astype(np.float64), series[:, CTX : CTX + HOR]
    gappy = ctx.copy()
    gappy[np.random.default_rng(0).random(ctx.shape) < 0.15] = np.nan
    gappy[:, -1] = np.nan  # the last step too: the forecast must not need it
    full, gaps = (
        ode_fit(ctx, time[:CTX], time[CTX : CTX + HOR]),
        ode_fit(gappy, time[:CTX], time[CTX : CTX + HOR]),
    )
    assert gaps.failed == 0 and np.isfinite(gaps.forecast).all()
    np.testing.assert_allclose(gaps.params, full.params, rtol=0.05)
    assert np.mean((gaps.forecast - truth) ** 2) < 0.01 * np.mean(
        (persistence(gappy, HOR) - truth) ** 2
    )


def test_a_quick_ode_fit_logs_no_progress(caplog):
    """Fitting 5 series (a fraction of a second) logged a progress line per 10 %."""
    import logging

    series, time = simulate_lotka_volterra(5, 100, 200.0, seed=3)
    with caplog.at_level(logging.INFO, logger="llmts"):
        ode_fit(series[:, :CTX].astype(np.float64), time[:CTX], time[CTX : CTX + HOR])
    assert [r.getMessage() for r in caplog.records if "ode_fit" in r.getMessage()] == []


def test_a_long_ode_fit_names_its_phase(caplog, monkeypatch):
    import logging

    from llmts.tracking import progress

    class Clock:  # each reading 10 s later: a slow fit, without waiting for one
        now = 0.0

        def perf_counter(self):
            self.now += 10.0
            return self.now

    monkeypatch.setattr(progress, "time", Clock())
    series, time = simulate_lotka_volterra(3, 100, 200.0, seed=3)
    with caplog.at_level(logging.INFO, logger="llmts"):
        ode_fit(series[:, :CTX].astype(np.float64), time[:CTX], time[CTX : CTX + HOR])
    lines = [r.getMessage() for r in caplog.records if "ode_fit" in r.getMessage()]
    assert lines and all(ln.startswith("baseline ode_fit ") for ln in lines)


def test_seasonal_naive_repeats_the_last_cycle():
    # a period of 7 steps, two variables at different phases: the forecast is the cycle itself
    t = np.arange(60)
    wave = np.stack([np.sin(2 * np.pi * t / 7), np.cos(2 * np.pi * t / 7) + 3], -1)[None]
    assert season(wave[:, :45]).tolist() == [7]
    np.testing.assert_allclose(seasonal_naive(wave[:, :45], 15), wave[:, 45:], atol=1e-9)


def test_seasonal_naive_finds_each_series_period_on_lotka_volterra():
    series, _ = simulate_lotka_volterra(8, 100, 200.0, seed=3)
    ctx, truth = series[:, :51], series[:, 51:71]
    fc = seasonal_naive(ctx, 20)
    assert fc.shape == truth.shape
    # reading the last cycle is what a forecaster of these series can do from context alone
    assert np.mean((fc - truth) ** 2) < 0.2 * np.mean((persistence(ctx, 20) - truth) ** 2)


def test_seasonal_naive_without_a_period_is_persistence():
    ctx = np.arange(3.0).reshape(1, 3, 1)  # too short to hold a cycle
    np.testing.assert_array_equal(seasonal_naive(ctx, 4), persistence(ctx, 4))
    flat = np.ones((1, 20, 1))  # no variation: every correlation undefined
    np.testing.assert_array_equal(seasonal_naive(flat, 4), persistence(flat, 4))


def test_seasonal_naive_fills_a_gap_in_the_copied_cycle():
    t = np.arange(40)
    ctx = np.sin(2 * np.pi * t / 5)[None, :, None].copy()
    ctx[0, 36, 0] = np.nan  # inside the last cycle (steps 35-39)
    fc = seasonal_naive(ctx, 5)
    assert np.isfinite(fc).all()
    assert fc[0, 1, 0] == pytest.approx(ctx[0, -1, 0])  # the gap's step: persistence


def test_seasonal_naive_with_a_variable_never_observed_warns_nothing():
    t = np.arange(30)
    ctx = np.stack([np.sin(2 * np.pi * t / 6), np.full(30, np.nan)], -1)[None]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fc = seasonal_naive(ctx, 6)
    np.testing.assert_allclose(fc[0, :, 0], ctx[0, -6:, 0], atol=1e-9)
    assert (fc[0, :, 1] == 0).all()  # persistence's value for a variable with no observation
