"""Physical checks of Lotka-Volterra forecasts (public API): does a forecast behave like a
population of prey (x) and predators (y) obeying dx/dt = a·x − b·x·y, dy/dt = d·x·y − g·y?

Each check returns one value per series (n,), NaN where it is undefined for that series, so the
caller can average them and bootstrap them over series (``stats.mean_draws``):

* ``negative_share`` — share of forecast points below 0: impossible populations     [0-1]
* ``invariant_drift`` — LV conserves V = d·x − g·ln x + b·y − a·ln y along every orbit. With the
  rates (a, b, d, g) fitted to the series' context (``baselines.ode_fit``):
  mean over forecast steps of |V(forecast) − V̄_context| / (V̄_context − V*), V̄_context the mean
  of V over the context, V* = V(g/d, a/b) its minimum at the equilibrium. 0 = the forecast stays
  on the context's orbit; 1 = it has moved off by as much as the orbit's own size.  [ratio]
  ``invariant_drift_truth`` is the same for the true continuation: the floor that the rate fit
  and the data's rounding leave.
* ``peak_phase_error`` — |steps between the next peak of the forecast and of the truth|, mean
  over the variables whose truth has a peak in the horizon                         [steps]
* ``peak_missed`` — share of those truth peaks for which the forecast has no peak    [0-1]

Series with gaps (NaN, ``data.missing=encode``): the peak checks skip a variable with a gap in its
context or truth, the invariant ones a series with one (NaN).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import find_peaks

LOG_FLOOR = 0.01  # ln x of x below this × the context's 95th percentile uses that floor instead
PEAK_PROMINENCE = 0.1  # a peak must rise this fraction of the context's range above its bases
# (the LLMTIME rounding quantum is 1 % of the 95th percentile: its wiggles are no peaks)


def lv_invariant(x: np.ndarray, y: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """V = d·x − g·ln x + b·y − a·ln y; ``rates`` (..., 4) = (a, b, d, g) broadcast against x, y
    (x, y > 0, in the units the rates were fitted in)."""
    a, b, d, g = np.moveaxis(np.asarray(rates, dtype=np.float64), -1, 0)
    return d * x - g * np.log(x) + b * y - a * np.log(y)


def negative_share(forecast: np.ndarray) -> np.ndarray:
    """Share of each series' forecast points (n, h, D) below 0 → (n,)."""
    f = np.asarray(forecast, dtype=np.float64)
    return (f < 0).reshape(len(f), -1).mean(axis=1)


def invariant_drift(context: np.ndarray, series: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """Relative drift of V along ``series`` (n, h, 2) from the context's (n, c, 2) mean V, with the
    context's fitted rates (n, 4) → (n,); NaN where the fit failed (NaN rates) or the context sits
    at the equilibrium (V̄_context = V*). States below ``LOG_FLOOR`` × the context's 95th
    percentile are raised to it before the log (a rounded-to-zero trough stays finite)."""
    ctx, ser = np.asarray(context, np.float64), np.asarray(series, np.float64)
    r = np.asarray(rates, np.float64)[:, None, :]  # (n, 1, 4): one rate set per series
    floor = LOG_FLOOR * np.percentile(ctx.reshape(len(ctx), -1), 95, axis=1)[:, None, None]
    ctx, ser = np.maximum(ctx, floor), np.maximum(ser, floor)
    a, b, d, g = r[:, 0].T
    with np.errstate(divide="ignore", invalid="ignore"):  # NaN rates of a failed fit
        v_ctx = lv_invariant(ctx[..., 0], ctx[..., 1], r).mean(axis=1)
        v_star = lv_invariant(g / d, a / b, r[:, 0])
        size = v_ctx - v_star
        drift = np.abs(lv_invariant(ser[..., 0], ser[..., 1], r) - v_ctx[:, None]).mean(axis=1)
        out = drift / size
    return np.where(np.isfinite(out) & (size > 0), out, np.nan)


def next_peak(last: float, values: np.ndarray, prominence: float) -> int | None:
    """0-based forecast step of the first peak of ``values`` (h,), or None; the last context value
    ``last`` goes in front so that a peak at the first step counts."""
    peaks, _ = find_peaks(np.r_[last, values], prominence=prominence)
    return int(peaks[0]) - 1 if peaks.size else None


def peak_timing(
    context: np.ndarray, truth: np.ndarray, forecast: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(``peak_phase_error`` (n,), ``peak_missed`` (n,)) as defined in the module docstring; both
    NaN for a series whose truth has no peak in the horizon (phase error also where every truth
    peak was missed)."""
    n, _, dims = truth.shape
    err, missed = np.full(n, np.nan), np.full(n, np.nan)
    for i in range(n):
        errs, miss = [], []
        for k in range(dims):
            prom = PEAK_PROMINENCE * float(np.ptp(context[i, :, k]))
            gaps = np.isnan(truth[i, :, k]).any()  # context gaps: prom is NaN, skipped too
            t_peak = (
                next_peak(context[i, -1, k], truth[i, :, k], prom)
                if prom > 0 and not gaps
                else None
            )
            if t_peak is None:
                continue
            f_peak = next_peak(context[i, -1, k], forecast[i, :, k], prom)
            miss.append(f_peak is None)
            if f_peak is not None:
                errs.append(abs(f_peak - t_peak))
        if miss:
            missed[i] = np.mean(miss)
        if errs:
            err[i] = np.mean(errs)
    return err, missed


def lv_checks(
    context: np.ndarray, truth: np.ndarray, forecast: np.ndarray, rates: np.ndarray | None
) -> dict[str, np.ndarray]:
    """Every check per series {name: (n,)}; the invariant ones only with fitted ``rates`` (n, 4)."""
    err, missed = peak_timing(context, truth, forecast)
    out = {
        "negative_share": negative_share(forecast),
        "peak_phase_error": err,
        "peak_missed": missed,
    }
    if rates is not None:
        out["invariant_drift"] = invariant_drift(context, forecast, rates)
        out["invariant_drift_truth"] = invariant_drift(context, truth, rates)
    return out
