"""Non-LLM baselines (public API): persistence, seasonal naive and a Lotka-Volterra ODE fit.

Each takes the context in the units the caller has (the study's setting: the context as the LLM
sees it, x → round(x/α, 2)·α) and returns forecasts in those units, shape (n, h, D).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from scipy.integrate import odeint, solve_ivp
from scipy.optimize import least_squares

from llmts.tracking.progress import Progress

# Fit windows, as fractions of the context: fitting a short window first and then extending it
# keeps the trajectory fit out of the wrong-period local minima a full-length fit can fall into.
_WINDOWS = (1 / 3, 2 / 3, 1.0)
# Starts, tried in order until one fits well: (multiplier on the gradient-matching rates
# (a, b, d, g), or None for mid-range prior rates; window schedule). The first two fail on
# different series (full length: a wrong-period minimum; windowed: a rate the first window cannot
# identify, e.g. d while the predator is rounded to 0 throughout it), so together they cover both.
_STARTS = (
    ((1.0, 1.0, 1.0, 1.0), (1.0,)),
    ((1.0, 1.0, 1.0, 1.0), _WINDOWS),
    ((1.2, 1.0, 1.0, 1.2), _WINDOWS),
    ((0.8, 1.0, 1.0, 0.8), _WINDOWS),
    (None, _WINDOWS),
)
_MAX_RATE = 5.0  # a·dt, g·dt, b·max(y)·dt, d·max(x)·dt above this are unresolvable by the sampling
_GOOD_RMS = 0.1  # fit RMS in log(x + c) at or below this: accept, skip the remaining starts
_MAX_RMS = 0.25  # fit RMS above this = the model does not explain the context → fail
_MAX_GROWTH = 10.0  # forecast above 10 × the context's peak = diverging integration


def persistence(context: np.ndarray, horizon: int) -> np.ndarray:
    """Naive forecast: the last context step repeated ``horizon`` times, (n, T, D) → (n, h, D).
    With gaps (NaN) each variable's last observed value (0 if it has none)."""
    c = np.asarray(context, dtype=np.float64)
    if c.ndim != 3 or c.shape[1] < 1:
        raise ValueError(f"context must be (n, T, D) with T >= 1, got {c.shape}")
    seen = ~np.isnan(c)
    last = np.where(seen.any(1), c.shape[1] - 1 - np.argmax(seen[:, ::-1], axis=1), 0)  # (n, D)
    return np.repeat(
        np.nan_to_num(np.take_along_axis(c, last[:, None, :], axis=1)), horizon, axis=1
    )


def season(context: np.ndarray, min_overlap: int | None = None) -> np.ndarray:
    """The period of each series, (n, T, D) → (n,) in steps: the lag p in [2, T − m] that
    maximises the autocorrelation r(p) = Σ x_t·x_{t−p} / √(Σ x_t² · Σ x_{t−p}²) of the context
    with each variable's mean removed, summed over variables and over the T − p overlapping
    steps (gaps left out); m = ``min_overlap`` (default max(2, T // 4)) keeps the estimate off
    lags seen over only a few steps. 1 where T < 4 (no period: persistence)."""
    c = np.asarray(context, dtype=np.float64)
    n, t = c.shape[:2]
    m = max(2, t // 4) if min_overlap is None else min_overlap
    if t - m < 2:
        return np.ones(n, dtype=int)
    seen = ~np.isnan(c)
    mean = np.nansum(c, axis=1, keepdims=True) / np.maximum(seen.sum(1, keepdims=True), 1)
    x = np.where(seen, c - mean, 0.0)  # a gap adds 0 to every sum
    lags = np.arange(2, t - m + 1)
    r = np.empty((n, len(lags)))
    for j, p in enumerate(lags):
        a, b = x[:, p:], x[:, :-p]
        den = np.sqrt((a * a).sum((1, 2)) * (b * b).sum((1, 2)))
        r[:, j] = np.where(den > 0, (a * b).sum((1, 2)) / np.where(den > 0, den, 1), -np.inf)
    return np.where(np.isfinite(r).any(1), lags[np.argmax(r, axis=1)], 1)


def seasonal_naive(context: np.ndarray, horizon: int) -> np.ndarray:
    """Seasonal naive forecast: the context's last cycle repeated, ŷ_{T+k} = x_{T−p+(k mod p)}
    for k = 0..h−1, p = :func:`season` per series, (n, T, D) → (n, h, D). A gap in the copied
    cycle is filled with the persistence value."""
    c = np.asarray(context, dtype=np.float64)
    if c.ndim != 3 or c.shape[1] < 1:
        raise ValueError(f"context must be (n, T, D) with T >= 1, got {c.shape}")
    t = c.shape[1]
    period = season(c)[:, None]
    src = t - period + np.arange(horizon)[None, :] % period  # (n, h) indices into the context
    fc = np.take_along_axis(c, src[:, :, None], axis=1)
    return np.where(np.isnan(fc), persistence(c, horizon), fc)


@dataclass(frozen=True)
class OdeFitResult:
    forecast: np.ndarray  # (n, h, 2), context units; persistence where the fit failed
    params: np.ndarray  # (n, 4) fitted (a, b, d, g) per unit time; NaN where the fit failed
    failed: int  # series that fell back to persistence
    seconds: float  # wall time of the whole fit


def ode_fit(
    context: np.ndarray, time_context: np.ndarray, time_future: np.ndarray, floor_frac: float = 0.01
) -> OdeFitResult:
    """Fit dx/dt = a·x − b·x·y, dy/dt = d·x·y − g·y to each series' context; integrate onward.

    Per series: unknowns θ = log(a, b, d, g, x₀, y₀) (logs keep rates and states positive), x₀, y₀
    the state at ``time_context[0]``. They minimise, by ``scipy.optimize.least_squares`` (TRF),
    Σ [log(x̂(t) + c) − log(x(t) + c)]² over both variables and the context steps, with
    c = ``floor_frac`` · α, α the 95th percentile of the context (the default c is one LLMTIME
    rounding quantum). The log makes the error relative, so troughs shape the fit as much as
    peaks do; c keeps rounded-to-zero troughs finite and worth about one quantum. Bounds: a·Δt,
    g·Δt, b·max(y)·Δt, d·max(x)·Δt in [5e-5, 5] (Δt the median context step; faster rates are
    unresolvable by the sampling). The model is integrated in log coordinates together with its
    sensitivities (LSODA), which gives the exact Jacobian for the cost of one solve; the forecast
    is a fresh DOP853 solve (``solve_ivp``, rtol 1e-9) from the fitted state.

    Starts: gradient matching — d log x/dt = a − b·y and d log y/dt = d·x − g regressed by linear
    least squares on central differences of log(x + c) where the differentiated state exceeds
    5 c. That start is fitted on the whole context; if the fit's RMS in log(x + c) exceeds 0.1,
    further starts follow — the same start fitted on the first third, two thirds, then all of the
    context (warm-starting each window), ±20 % on a and g, mid-range prior rates — and the lowest
    cost wins. Either of the first two alone misses about 1 series in 500 (measured); together,
    none in 800.

    Gaps (NaN) in the context: the fit uses the observed points only (a missing point adds no
    residual); the gradient-matching start and the initial state read the context linearly
    interpolated over its gaps. Fewer than 4 observed points of a variable: failure.

    Failure → persistence for that series (counted in ``failed``, params NaN): non-finite or
    failed integration, best fit RMS in log(x + c) above 0.25, or a forecast above 10 × the
    context's peak. Negative context values are clipped to 0 (LV states are positive).

    Measured (simulated LV, 51-step context rounded as the LLM sees it, 20-step forecast,
    1 CPU core): 0 failures in 800 series; per-series MSE median ~1.5-2.3e-5, mean ~1-4e-4
    against persistence's median ~1.1-2.2 and mean ~2.7-5.3 (mean ratio < 3e-4); about 0.06-0.1 s
    CPU per series. A context no LV model fits (e.g. white noise) runs every start: ~2 s, then
    falls back to persistence.

    Raises ValueError unless the context is (n, T, 2) with T >= 4 and times match.
    """
    start = time.perf_counter()
    ctx = np.asarray(context, dtype=np.float64)
    tc = np.asarray(time_context, dtype=np.float64)
    tf = np.asarray(time_future, dtype=np.float64)
    if ctx.ndim != 3 or ctx.shape[2] != 2:
        raise ValueError(f"ode_fit is Lotka-Volterra only: need (n, T, 2), got {ctx.shape}")
    if (
        ctx.shape[1] < 4
        or tc.shape != (ctx.shape[1],)
        or tf.ndim != 1
        or tf.size < 1
        or not (np.diff(tc) > 0).all()
        or not (np.diff(tf) > 0).all()
        or tf[0] <= tc[0]
    ):
        raise ValueError(
            f"need T >= 4 context steps, increasing times and future times after "
            f"time_context[0]; got context {ctx.shape}, time_context {tc.shape}, "
            f"time_future {tf.shape}"
        )
    n, h = ctx.shape[0], tf.shape[0]
    forecast = persistence(ctx, h)
    params = np.full((n, 4), np.nan)
    failed = 0
    bar = Progress("baseline ode_fit", n, "series", every=max(1, n // 10))
    for i in range(n):
        out = _fit_one(ctx[i], tc, tf, floor_frac)
        if out is None:
            failed += 1
        else:
            forecast[i], params[i] = out
        bar.update()
    bar.close()
    return OdeFitResult(forecast, params, failed, time.perf_counter() - start)


def _fit_one(
    obs: np.ndarray, tc: np.ndarray, tf: np.ndarray, floor_frac: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """(forecast (h, 2), rates (4,)) for one series (T, 2), or None if the fit failed."""
    seen = ~np.isnan(obs)
    if np.isinf(obs).any() or (seen.sum(0) < 4).any():
        return None
    obs = np.clip(obs, 0.0, None)
    alpha = float(np.nanpercentile(obs, 95))
    if alpha <= 0:
        return None
    c = floor_frac * alpha
    target = np.log(obs + c)  # (T, 2)
    # Rate bounds in the data's own units: a rate faster than the sampling can resolve only
    # makes the solve stiff and slow, never the fit better.
    dt = float(np.median(np.diff(tc)))
    top = np.nanmax(obs, axis=0) + c
    if not seen.all():  # the start reads the gaps interpolated; the fit ignores them
        obs = np.stack([np.interp(tc, tc[seen[:, k]], obs[seen[:, k], k]) for k in range(2)], 1)
    max_rates = _MAX_RATE / dt * np.array([1.0, 1.0 / top[1], 1.0 / top[0], 1.0])
    prior = 0.2 * max_rates  # mid-range: a·dt = 1 (≈ the simulator's 0.2-0.6), b·max(y)·dt = 1
    rates0 = _gradient_match(obs, tc, c, prior)
    lo = np.r_[np.log(max_rates * 1e-5), np.log(c) - 5, np.log(c) - 5]
    hi = np.r_[np.log(max_rates), np.log(top) + 3]
    z0 = np.log(np.maximum(obs[0], c))

    best: tuple[float, np.ndarray] | None = None
    for mult, windows in _STARTS:
        rates = prior if mult is None else rates0 * np.array(mult)
        theta = np.clip(np.r_[np.log(rates), z0], lo + 1e-9, hi - 1e-9)
        cost = np.inf
        for frac in windows:
            k = max(4, int(round(frac * len(tc))))
            res = _least_squares(theta, tc[:k], target[:k], c, lo, hi)
            if res is None:
                cost = np.inf
                break
            theta, cost = res
        if np.isfinite(cost) and (best is None or cost < best[0]):
            best = (cost, theta)
        if best is not None and _rms(best[0], seen.sum()) <= _GOOD_RMS:
            break  # on LV data the first start nearly always lands here; the rest are insurance
    if best is None or _rms(best[0], seen.sum()) > _MAX_RMS:
        return None
    theta = best[1]
    fc = _forecast(theta, tc[0], tf)
    if fc is None or not np.isfinite(fc).all() or fc.max() > _MAX_GROWTH * top.max():
        return None
    return fc, np.exp(theta[:4])


def _rms(cost: float, size: int) -> float:
    """least_squares' cost is ½ Σ r², so the RMS residual is √(2·cost / number of residuals)."""
    return math.sqrt(2.0 * cost / size)


def _gradient_match(obs: np.ndarray, tc: np.ndarray, c: float, prior: np.ndarray) -> np.ndarray:
    """Rates (a, b, d, g) from d log x/dt = a − b·y and d log y/dt = d·x − g, each by linear least
    squares on central differences of log(x + c), using the steps where the differentiated state
    exceeds 5 c (below that the rounding dominates its log-derivative; the regressor may be small).
    A rate the regression cannot give takes ``prior``'s."""
    lg = np.log(obs + c)
    dl = (lg[2:] - lg[:-2]) / (tc[2:] - tc[:-2])[:, None]
    mid = obs[1:-1]
    rates = prior.copy()
    fx, fy = (
        _line_fit(mid[:, 1], dl[:, 0], mid[:, 0] > 5 * c),
        _line_fit(mid[:, 0], dl[:, 1], mid[:, 1] > 5 * c),
    )
    if fx is not None:  # d log x/dt = a + (−b)·y
        rates[0], rates[1] = fx[0], -fx[1]
    if fy is not None:  # d log y/dt = (−g) + d·x
        rates[3], rates[2] = -fy[0], fy[1]
    # a wrong-signed or tiny rate means the regression failed for it (e.g. no cycle in view)
    bad = ~np.isfinite(rates) | (rates < 1e-3 * prior)
    rates[bad] = prior[bad]
    return rates


def _line_fit(u: np.ndarray, v: np.ndarray, ok: np.ndarray) -> np.ndarray | None:
    """(intercept, slope) of v ≈ intercept + slope·u over the steps ``ok``; None if under 4."""
    if ok.sum() < 4:
        return None
    coef, *_ = np.linalg.lstsq(np.c_[np.ones(ok.sum()), u[ok]], v[ok], rcond=None)
    return coef


def _rhs_sens(z: np.ndarray, _t: float, a: float, b: float, d: float, g: float) -> np.ndarray:
    """LV in log coordinates u = log x, v = log y: u' = a − b·e^v, v' = d·e^u − g, plus the
    sensitivities S = ∂(u, v)/∂θ for θ = (log a, log b, log d, log g, u₀, v₀):
    S_u' = −b e^v S_v + ∂u'/∂θ, S_v' = d e^u S_u + ∂v'/∂θ."""
    ex, ey = math.exp(min(z[0], 50.0)), math.exp(min(z[1], 50.0))  # cap: overflow → huge, not inf
    su, sv = z[2:8], z[8:14]
    out = np.empty(14)
    out[0] = a - b * ey
    out[1] = d * ex - g
    out[2:8] = -b * ey * sv
    out[8:14] = d * ex * su
    out[2] += a
    out[3] -= b * ey
    out[10] += d * ex
    out[11] -= g
    return out


def _solve_sens(theta: np.ndarray, t: np.ndarray) -> np.ndarray | None:
    """(T, 14) log-states and sensitivities at times t (t[0] is the initial time), or None."""
    a, b, d, g = np.exp(theta[:4])
    z0 = np.zeros(14)
    z0[:2] = theta[4:]
    z0[6] = 1.0  # ∂u₀/∂u₀
    z0[13] = 1.0  # ∂v₀/∂v₀
    sol, info = odeint(
        _rhs_sens, z0, t, args=(a, b, d, g), rtol=1e-8, atol=1e-8, mxstep=5000, full_output=True
    )
    if info["message"] != "Integration successful." or not np.isfinite(sol).all():
        return None
    return sol


def _least_squares(
    theta: np.ndarray, t: np.ndarray, target: np.ndarray, c: float, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, float] | None:
    """Fit θ to log(x + c) targets (k, 2) on times t (NaN targets: missing, no residual);
    (θ, cost) or None if integration failed."""
    cache: dict[bytes, np.ndarray | None] = {}
    seen = ~np.isnan(target)
    target = np.where(seen, target, 0.0)

    def solve(th: np.ndarray) -> np.ndarray | None:
        # least_squares asks for fun and jac at the same θ: solve once for both
        key = th.tobytes()
        if key not in cache:
            cache.clear()
            cache[key] = _solve_sens(th, t)
        return cache[key]

    def fun(th: np.ndarray) -> np.ndarray:
        sol = solve(th)
        if sol is None:
            return np.full(target.size, 1e3)  # a failed solve is a very bad fit, not a crash
        x = np.exp(np.minimum(sol[:, :2], 50.0))
        return np.where(seen, np.log(x + c) - target, 0.0).ravel()

    def jac(th: np.ndarray) -> np.ndarray:
        sol = solve(th)
        if sol is None:
            return np.zeros((target.size, 6))
        x = np.exp(np.minimum(sol[:, :2], 50.0))
        w = seen * x / (x + c)  # d log(x + c) / d log x (0 where missing)
        s = sol[:, 2:].reshape(len(t), 2, 6)
        return (w[:, :, None] * s).reshape(-1, 6)

    try:
        res = least_squares(
            fun, theta, jac=jac, bounds=(lo, hi), method="trf", x_scale="jac", max_nfev=30
        )
    except (ValueError, np.linalg.LinAlgError):
        return None
    if not np.isfinite(res.cost):
        return None
    return res.x, float(res.cost)


def _forecast(theta: np.ndarray, t0: float, tf: np.ndarray) -> np.ndarray | None:
    """Integrate the fitted model (log coordinates, DOP853) from t0 to the times tf → (h, 2)."""
    a, b, d, g = np.exp(theta[:4])

    def rhs(_t: float, z: np.ndarray) -> list[float]:
        return [a - b * math.exp(min(z[1], 50.0)), d * math.exp(min(z[0], 50.0)) - g]

    sol = solve_ivp(
        rhs, (t0, float(tf[-1])), theta[4:], t_eval=tf, method="DOP853", rtol=1e-9, atol=1e-9
    )
    if not sol.success or sol.y.shape[1] != len(tf):
        return None
    return np.exp(sol.y.T)
