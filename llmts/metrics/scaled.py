"""The forecasting benchmarks' metrics (public API): MASE, sMAPE, WAPE, WQL and SQL, as fev-bench,
GIFT-Eval and Chronos's benchmark define them, so a run's numbers sit beside theirs.

A *row* is one forecast: one series from one origin, truth and forecast (h, D). Its *history* is
every step of that series before the origin (not only the context the model read), and its
seasonal scale is

    s = mean over t = m..T−1 and the D variables of |y_t − y_{t−m}|       [units]

with m = ``eval.season_length`` (one scale per row, pooled over its variables). A history of
T ≤ m steps has no seasonal difference: m = 1 is used for it (GluonTS's rule). Gaps (NaN) are
left out of the mean. With e = y − ŷ over a row's observed points and q̂ the forecast's
quantile at level q ∈ Q = {0.1, 0.2, …, 0.9}:

* ``mase`` = mean over rows of  mean|e| / s                                  [dimensionless]
* ``sql``  = mean over rows of  mean over points and q of 2·ρ_q(y, q̂) / s    [dimensionless]
* ``smape`` = mean over all points of 2|e| / (|y| + |ŷ|)  (0 where both are 0)  [fraction, 0-2]
* ``wape`` = Σ|e| / Σ|y| over all points                                     [fraction]
* ``wql``  = mean over q of Σ 2·ρ_q(y, q̂) / Σ|y| over all points              [fraction]

where ρ_q(y, q̂) = |(y − q̂)·(1{y ≤ q̂} − q)| is the pinball loss. MASE and SQL average rows
(each row weighs the same, whatever its scale); sMAPE, WAPE and WQL pool every point. A row whose
scale is 0 (a constant history) or undefined has no MASE or SQL: it is left out and counted in
``mase_excluded``. A metric with nothing to average (every row excluded, Σ|y| = 0) is None (JSON
null), never a made-up number.

Each is a ratio of per-row sums (:class:`RowSums`), so the bootstrap resamples rows with the
same (B, n) index matrix as every other interval of the run (:mod:`llmts.metrics.bootstrap`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from llmts.metrics.bootstrap import counts, interval

QUANTILES = tuple(round(0.1 * k, 1) for k in range(1, 10))  # 0.1 … 0.9, the field's levels


def seasonal_scale(histories: Sequence[np.ndarray], season_length: int) -> np.ndarray:
    """The seasonal scale s of each row (n,) from its history (T_i, D) before the origin: mean
    of |y_t − y_{t−m}| over t and variables (gaps skipped); m = 1 where T_i ≤ m; NaN where no
    difference is observed (fewer than 2 steps)."""
    if season_length < 1:
        raise ValueError(f"season_length must be >= 1, got {season_length}")
    out = np.full(len(histories), np.nan)
    for i, hist in enumerate(histories):
        y = np.asarray(hist, dtype=np.float64)
        y = y[:, None] if y.ndim == 1 else y
        m = season_length if len(y) > season_length else 1
        diff = np.abs(y[m:] - y[:-m]) if len(y) > m else np.empty(0)
        if np.isfinite(diff).any():
            out[i] = float(np.nanmean(diff))
    return out


def sample_quantiles(samples: np.ndarray, levels: Sequence[float] = QUANTILES) -> np.ndarray:
    """Per-point quantiles of samples (n, s, h, D) → (len(levels), n, h, D), numpy's linear
    interpolation."""
    return np.quantile(np.asarray(samples, dtype=np.float64), list(levels), axis=1)


def pinball(truth: np.ndarray, quantiles: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """Mean over the levels of 2·ρ_q(y, q̂), per point: truth (n, h, D), quantiles
    (len(levels), n, h, D) → (n, h, D) [units]; NaN where the truth is missing."""
    t = np.asarray(truth, dtype=np.float64)
    qs = np.asarray(quantiles, dtype=np.float64)
    lv = np.asarray(levels, dtype=np.float64).reshape(-1, *([1] * t.ndim))
    if qs.shape != (len(lv), *t.shape):
        raise ValueError(f"quantiles {qs.shape} must be (len(levels), *truth {t.shape})")
    return np.mean(2.0 * np.abs((t - qs) * ((t <= qs) - lv)), axis=0)


@dataclass(frozen=True)
class RowSums:
    """Per-row sums, all (n,) float64: what every metric of the module is a ratio of."""

    ae: np.ndarray  # Σ|e|
    at: np.ndarray  # Σ|y|
    sape: np.ndarray  # Σ 2|e| / (|y| + |ŷ|)
    points: np.ndarray  # observed truth points
    scale: np.ndarray  # seasonal scale s (NaN: undefined)
    ql: np.ndarray | None  # Σ mean_q 2·ρ_q; None without quantiles

    @property
    def scaled(self) -> np.ndarray:
        """Rows with a usable scale (s > 0, finite) and an observed point (bool (n,))."""
        return np.isfinite(self.scale) & (self.scale > 0) & (self.points > 0)


def row_sums(
    truth: np.ndarray,
    pred: np.ndarray,
    scale: np.ndarray,
    quantiles: np.ndarray | None = None,
    levels: Sequence[float] = QUANTILES,
) -> RowSums:
    """The sums of each row: truth and point forecast (n, h, D), scale (n,), quantiles
    (len(levels), n, h, D) or None. Missing truth points (NaN) add nothing."""
    t = np.asarray(truth, dtype=np.float64)
    p = np.asarray(pred, dtype=np.float64)
    s = np.asarray(scale, dtype=np.float64)
    if t.shape != p.shape or t.ndim != 3 or s.shape != (len(t),):
        raise ValueError(
            f"need truth, pred (n, h, D) and scale (n,); got {t.shape}, {p.shape}, {s.shape}"
        )
    if not np.isfinite(p).all():
        raise ValueError("pred must be finite")
    ok = ~np.isnan(t)
    e = np.where(ok, np.abs(t - p), 0.0)
    a = np.where(ok, np.abs(t), 0.0)
    den = a + np.abs(p)
    sape = np.divide(2.0 * e, den, out=np.zeros_like(e), where=den > 0)
    ql = None
    if quantiles is not None:
        ql = np.nansum(pinball(t, quantiles, levels), axis=(1, 2))
    return RowSums(
        ae=e.sum((1, 2)),
        at=a.sum((1, 2)),
        sape=sape.sum((1, 2)),
        points=ok.sum((1, 2)).astype(np.float64),
        scale=s,
        ql=ql,
    )


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.full(np.shape(num), np.nan), where=den > 0)


def draws(s: RowSums, idx: np.ndarray) -> dict[str, np.ndarray]:
    """Every metric of each resample ``idx`` (B, n) → {metric: (B,)}, NaN where undefined;
    ``idx = arange(n)[None]`` gives the point estimate."""
    w = counts(idx, len(s.ae))
    ok = s.scaled
    safe = np.where(ok, s.scale, 1.0)
    per_point = np.maximum(s.points, 1.0)
    out = {
        "mase": _ratio(w @ np.where(ok, s.ae / per_point / safe, 0.0), w @ ok.astype(float)),
        "smape": _ratio(w @ s.sape, w @ s.points),
        "wape": _ratio(w @ s.ae, w @ s.at),
    }
    if s.ql is not None:
        out["wql"] = _ratio(w @ s.ql, w @ s.at)
        out["sql"] = _ratio(w @ np.where(ok, s.ql / per_point / safe, 0.0), w @ ok.astype(float))
    return out


def _value(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def scaled_metrics(
    truth: np.ndarray,
    pred: np.ndarray,
    scale: np.ndarray,
    quantiles: np.ndarray | None = None,
    levels: Sequence[float] = QUANTILES,
) -> dict[str, float | int | None]:
    """``mase``, ``smape``, ``wape`` (and ``wql``, ``sql`` with ``quantiles``) of the rows, by the
    formulas of the module docstring, and ``mase_excluded`` (rows without a usable scale).
    Undefined values are None."""
    s = row_sums(truth, pred, scale, quantiles, levels)
    one = draws(s, np.arange(len(s.ae))[None])
    out: dict[str, float | int | None] = {k: _value(v[0]) for k, v in one.items()}
    out["mase_excluded"] = int((~s.scaled).sum())
    return out


def scaled_intervals(
    truth: np.ndarray,
    pred: np.ndarray,
    scale: np.ndarray,
    idx: np.ndarray,
    prefix: str = "",
    quantiles: np.ndarray | None = None,
    levels: Sequence[float] = QUANTILES,
) -> dict[str, list[float | None]]:
    """``{"<prefix><metric>_ci": [lo, hi]}``: the 95 % percentile bootstrap interval of each
    metric over the resampled rows ``idx`` (B, n); None where undefined."""
    s = row_sums(truth, pred, scale, quantiles, levels)
    return {f"{prefix}{k}_ci": [_value(x) for x in interval(v)] for k, v in draws(s, idx).items()}
