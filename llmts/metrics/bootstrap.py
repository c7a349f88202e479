"""Bootstrap intervals over test series (public API).

The unit of resampling is the test series: a run's n series are drawn n times with replacement,
B times (one (B, n) index matrix from a seeded ``numpy.random.default_rng``), and a metric's 95 %
interval is the 2.5th and 97.5th percentile of its B resampled values (the percentile bootstrap,
numpy's linear interpolation). Each pooled metric is a function of per-series sums and counts
(missing truth points, NaN, count in neither): a resample is one row of counts W (B, n), and its
sums are one matrix product W @ sums — no Python loop over resamples.

Paired comparisons: two forecasts of the *same* series resampled with the *same* index matrix;
the interval of the difference of their draws excludes 0 when the difference is larger than what
the choice of test series alone would explain.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from llmts.metrics.point import MAPE_REL_EPS

LEVEL = 0.95  # two-sided interval level


def resample_indices(n: int, num: int, seed: int | tuple[int, ...]) -> np.ndarray:
    """(num, n) series indices, uniform with replacement, from ``default_rng(seed)``."""
    if n < 1 or num < 1:
        raise ValueError(f"need n >= 1 series and num >= 1 resamples, got n={n}, num={num}")
    return np.random.default_rng(seed).integers(0, n, size=(num, n))


def counts(idx: np.ndarray, n: int) -> np.ndarray:
    """(B, n) float: how often each of the n series occurs in each resample (rows sum to n)."""
    b = idx.shape[0]
    flat = (idx + n * np.arange(b)[:, None]).ravel()  # resample r's series i → bin r·n + i
    return np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)


def interval(draws: np.ndarray, level: float = LEVEL) -> np.ndarray:
    """Percentile interval of ``draws`` (B, ...) along axis 0 → (2, ...) = (lo, hi); NaN draws are
    ignored, all-NaN gives NaN."""
    q = [100 * (1 - level) / 2, 100 * (1 + level) / 2]
    with warnings.catch_warnings():  # an all-NaN column is a documented NaN, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanpercentile(np.asarray(draws, dtype=np.float64), q, axis=0)


def excludes_zero(lo: float, hi: float) -> bool:
    """True when the interval [lo, hi] lies entirely above or below 0."""
    return bool(lo > 0 or hi < 0)


def mean_draws(values: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Resampled means of per-series values (n, ...) under counts w (B, n) → (B, ...).

    A NaN value (a series where the quantity is undefined, e.g. no peak to time) counts for
    nothing; a resample without any finite value gives NaN."""
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    num = np.tensordot(w, np.where(ok, v, 0.0), axes=1)
    den = np.tensordot(w, ok.astype(np.float64), axes=1)
    return np.divide(num, den, out=np.full(num.shape, np.nan), where=den > 0)


@dataclass(frozen=True)
class SeriesSums:
    """Per-series sufficient statistics of ``metrics.point_metrics``, all (n,) float64.

    Truth is centred on its overall mean μ first (``st``, ``stt`` are Σ(t − μ), Σ(t − μ)²), so
    SS_tot = Σ(t − μ)² − (Σ(t − μ))²/N loses no precision. MAPE keeps the full sample's near-zero
    threshold (1e-8 · max|truth| of all series) in every resample."""

    sse: np.ndarray  # Σ e²
    sae: np.ndarray  # Σ |e|
    st: np.ndarray
    stt: np.ndarray
    tmax: np.ndarray
    tmin: np.ndarray
    peak: np.ndarray  # max |t|
    ape: np.ndarray  # Σ |e| / |t| over MAPE's points
    kept: np.ndarray  # number of MAPE's points
    points: np.ndarray  # observed values per series (h · D without missing truth)


def series_sums(truth: np.ndarray, pred: np.ndarray) -> SeriesSums:
    """Sums per series of ``truth`` and ``pred`` (n, ...) (each series flattened)."""
    t = np.asarray(truth, dtype=np.float64).reshape(len(truth), -1)
    p = np.asarray(pred, dtype=np.float64).reshape(len(pred), -1)
    if t.shape != p.shape or t.size == 0:
        raise ValueError(f"truth {np.shape(truth)} and pred {np.shape(pred)} must match, non-empty")
    ok = ~np.isnan(t)
    e = np.where(ok, t - p, 0.0)
    c = np.where(ok, t - np.nanmean(t), 0.0)
    a = np.where(ok, np.abs(t), 0.0)
    keep = a > MAPE_REL_EPS * a.max()
    ape = np.divide(np.abs(e), a, out=np.zeros_like(e), where=keep)
    return SeriesSums(
        sse=(e**2).sum(1),
        sae=np.abs(e).sum(1),
        st=c.sum(1),
        stt=(c**2).sum(1),
        tmax=np.where(ok, t, -np.inf).max(1),
        tmin=np.where(ok, t, np.inf).min(1),
        peak=a.max(1),
        ape=ape.sum(1),
        kept=keep.sum(1).astype(np.float64),
        points=ok.sum(1).astype(np.float64),
    )


def point_draws(s: SeriesSums, idx: np.ndarray) -> dict[str, np.ndarray]:
    """The six point metrics of each resample ``idx`` (B, n) → {metric: (B,)}, by the formulas
    and edge-case rules of ``metrics.point_metrics``. ``idx = arange(n)[None]`` gives the
    point estimate itself."""
    n = len(s.sse)
    w = counts(idx, n)
    big_n = np.maximum(w @ s.points, 1.0)
    sse, sae = w @ s.sse, w @ s.sae
    mse = sse / big_n
    ss_tot = w @ s.stt - (w @ s.st) ** 2 / big_n
    ss_tot[ss_tot <= 1e-12 * np.maximum(w @ s.stt, 1e-300)] = 0.0  # round-off on a constant truth
    r2 = np.where(
        ss_tot > 0, 1.0 - sse / np.where(ss_tot > 0, ss_tot, 1.0), np.where(sse == 0, 1.0, 0.0)
    )
    span = s.tmax[idx].max(1) - s.tmin[idx].min(1)
    peak = s.peak[idx].max(1)
    denom = np.where(span > 0, span, np.where(peak > 0, peak, 1.0))
    kept = w @ s.kept
    mape = 100.0 * np.divide(w @ s.ape, kept, out=np.zeros(len(w)), where=kept > 0)
    return {
        "mse": mse,
        "rmse": np.sqrt(mse),
        "mae": sae / big_n,
        "r2": r2,
        "nrmse": 100.0 * np.sqrt(mse) / denom,
        "mape": mape,
    }


def point_intervals(
    truth: np.ndarray, pred: np.ndarray, idx: np.ndarray, prefix: str = ""
) -> dict[str, list[float]]:
    """``{"<prefix><metric>_ci": [lo, hi]}`` for the six point metrics (same units as each)."""
    draws = point_draws(series_sums(truth, pred), idx)
    return {f"{prefix}{k}_ci": interval(v).tolist() for k, v in draws.items()}


def step_sse(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Squared error per series and forecast step, summed over the D variables: (n, h, D) → (n, h);
    missing truth points (NaN) add nothing."""
    return np.nansum((np.asarray(truth, np.float64) - np.asarray(pred, np.float64)) ** 2, axis=2)


def skill(model_sse: np.ndarray, ref_sse: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Skill 1 − MSE_model / MSE_ref of resamples w (B, n) from per-series squared errors (n, ...)
    → (B, ...), dimensionless: 1 = exact, 0 = as good as the reference, < 0 = worse. NaN where the
    reference is exact (MSE_ref = 0)."""
    m, r = np.tensordot(w, model_sse, axes=1), np.tensordot(w, ref_sse, axes=1)
    return 1.0 - np.divide(m, r, out=np.full(m.shape, np.nan), where=r > 0)


def useful_horizon(lo: np.ndarray) -> int:
    """The last forecast step (1-based) whose skill interval lies above 0 (lower bound > 0), 0 if
    none: how far ahead the forecast beats the reference with 95 % confidence."""
    above = np.flatnonzero(np.nan_to_num(np.asarray(lo, dtype=np.float64), nan=-np.inf) > 0)
    return int(above[-1] + 1) if above.size else 0
