"""Forecast metrics (public API), all in the series' original units.

Point metrics are the six of the study's Tables 2 and 11 (MSE, RMSE, MAE, R², NRMSE %, MAPE %),
pooled over every series, forecast step and variable, as the study computes them on the
flattened forecast. Sample metrics add the study's "Avg. Unc." (Table 12) plus two proper
probabilistic scores (CRPS, 80 % interval coverage and width).

Every function returns plain Python floats (or ints for counts) that are finite, so a result dict
always serialises with ``json.dumps(..., allow_nan=False)``. Where a ratio is undefined we return
the documented finite value below instead of NaN or ±inf:

* R² with SS_tot = 0 (constant truth): 1.0 if the forecast is exact (SS_res = 0), else 0.0 — the
  convention of scikit-learn's ``r2_score(force_finite=True)``: a constant truth cannot be
  explained better than by its mean, so an inexact forecast scores no better than the mean does.
* NRMSE with a constant truth (max − min = 0): the denominator falls back to max|truth|, and to 1
  (i.e. 100 × RMSE in the data's units) when the truth is all zero. 0.0 whenever RMSE = 0.
* MAPE skips near-zero truth, |truth| ≤ 1e-8 × max|truth| (all of it when the truth is all zero),
  and reports how many points it skipped as ``mape_excluded``; with nothing left, MAPE is 0.0 and
  ``mape_excluded`` equals the number of points, which is the signal that it is undefined.

Missing truth (NaN, data with gaps under ``data.missing=encode``): every metric skips those
points (the forecast itself is always finite); the evaluation reports how many as
``missing_truth``. A truth with no observed point at all is refused.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

POINT_METRICS = ("mse", "rmse", "mae", "r2", "nrmse", "mape")  # the point scores, in table order
MAPE_REL_EPS = 1e-8  # |truth| at or below this fraction of max|truth| is "zero" for MAPE


def _pair(truth: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate and cast: same shape (n, h, D), float64; ``pred`` finite, ``truth`` finite or
    NaN (missing), with at least one observed point."""
    t = np.asarray(truth, dtype=np.float64)
    p = np.asarray(pred, dtype=np.float64)
    if t.shape != p.shape:
        raise ValueError(f"truth {t.shape} and pred {p.shape} must have the same shape")
    if t.size == 0:
        raise ValueError("metrics need at least one point")
    # a non-finite value would silently turn every pooled metric into NaN: refuse it loudly
    if np.isinf(t).any() or not np.isfinite(p).all():
        raise ValueError("truth and pred must be finite (truth may be NaN where missing)")
    if np.isnan(t).all():
        raise ValueError("truth has no observed point")
    return t, p


def point_metrics(truth: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Pooled point metrics of ``pred`` against ``truth``, both (n, h, D) in original units.

    With e = truth − pred over all N = n·h·D values:

    * ``mse``  = mean(e²)                                  [units²]
    * ``rmse`` = √mse                                      [units]
    * ``mae``  = mean(|e|)                                 [units]
    * ``r2``   = 1 − SS_res / SS_tot, SS_res = Σ e², SS_tot = Σ (truth − mean(truth))², the mean
      taken over all N values (one pooled mean, not one per variable)           [dimensionless]
    * ``nrmse`` = 100 · rmse / (max(truth) − min(truth)), range over all N values  [%]
    * ``mape`` = 100 · mean(|e| / |truth|) over points with |truth| > 1e-8 · max|truth|  [%]
    * ``mape_excluded`` = number of points MAPE skipped as near-zero (int)

    Undefined cases return the finite values documented in the module docstring; missing truth
    points (NaN) are left out of every sum, N counting the observed ones.
    """
    t, p = _pair(truth, pred)
    observed = ~np.isnan(t)
    t, p = t[observed], p[observed]
    err = t - p
    mse = float(np.mean(err**2))
    rmse = float(np.sqrt(mse))
    mae = float(np.mean(np.abs(err)))

    ss_res = float(np.sum(err**2))
    ss_tot = float(np.sum((t - t.mean()) ** 2))
    if ss_tot > 0:
        r2 = 1.0 - ss_res / ss_tot
    else:  # constant truth: sklearn's force_finite convention
        r2 = 1.0 if ss_res == 0 else 0.0

    span = float(t.max() - t.min())
    peak = float(np.abs(t).max())
    denom = span if span > 0 else (peak if peak > 0 else 1.0)
    nrmse = 100.0 * rmse / denom

    # relative threshold so the rule is unit-free; the count makes the exclusion visible
    keep = np.abs(t) > MAPE_REL_EPS * peak
    excluded = int(t.size - keep.sum())
    mape = float(100.0 * np.mean(np.abs(err[keep]) / np.abs(t[keep]))) if keep.any() else 0.0

    return {
        "mse": mse,
        "rmse": rmse,
        "mae": mae,
        "r2": float(r2),
        "nrmse": float(nrmse),
        "mape": mape,
        "mape_excluded": excluded,
    }


def constant_share(pred: np.ndarray) -> float:
    """Share of the forecasts ``pred`` (n, h, D) that are constant: the same value at every one of
    the h steps in every variable (max − min = 0), as a model that repeats one value (often 0)
    writes. Pooled metrics such as MSE or a parse rate of 1 do not show it. With h = 1 every
    forecast is trivially constant and the share is 0."""
    p = np.asarray(pred, dtype=np.float64)
    if p.ndim != 3:
        raise ValueError(f"need (n, h, D) forecasts, got {p.shape}")
    if p.shape[1] < 2 or len(p) == 0:
        return 0.0
    flat = (p.max(axis=1) == p.min(axis=1)).all(axis=1)  # (n,) constant in every variable
    return float(flat.mean())


def degenerate_note(m: dict, prefix: str = "") -> str | None:
    """Words for scores of a degenerate forecast (None when there is nothing to say), from a
    metrics dict's ``<prefix>constant_forecasts`` (:func:`constant_share`) and ``<prefix>mape``:
    a MAPE of exactly 100 % means the forecast is 0 at every scored point (|truth − 0| / |truth|
    = 1 everywhere), not a 100 % error of a real forecast."""
    notes = []
    if share := m.get(f"{prefix}constant_forecasts"):
        notes.append(f"{100 * share:.0f} % of the forecasts are constant over the horizon")
    mape = m.get(f"{prefix}mape")
    if isinstance(mape, float) and abs(mape - 100.0) < 1e-9:
        notes.append("MAPE is exactly 100 %: the forecast is 0 wherever it is scored")
    return "; ".join(notes) or None


def per_variable(truth: np.ndarray, pred: np.ndarray, names: Sequence[str]) -> dict[str, float]:
    """``point_metrics`` for each variable alone, keyed ``"<name>/<metric>"`` (e.g. ``prey/mse``,
    ``predator/r2``). ``names`` gives the D variable names in order. R², NRMSE and MAPE use that
    variable's own mean, range and peak."""
    t, p = _pair(truth, pred)
    if t.ndim != 3 or len(names) != t.shape[2]:
        raise ValueError(
            f"need (n, h, D) arrays and D names; got shape {t.shape}, {len(names)} names"
        )
    out: dict[str, float] = {}
    for k, name in enumerate(names):
        for key, val in point_metrics(t[..., k], p[..., k]).items():
            out[f"{name}/{key}"] = val
    return out


def per_horizon(truth: np.ndarray, pred: np.ndarray) -> dict[str, np.ndarray]:
    """Error against lead time: ``mse`` and ``mae`` arrays of length h, entry j pooling all series
    and variables at forecast step j (step 0 is the first step after the context). Units as in
    ``point_metrics``."""
    t, p = _pair(truth, pred)
    if t.ndim != 3:
        raise ValueError(f"need (n, h, D) arrays, got {t.shape}")
    err = t - p
    n = np.maximum((~np.isnan(err)).sum(axis=(0, 2)), 1)  # a step with no observed truth: 0
    return {
        "mse": np.nansum(err**2, axis=(0, 2)) / n,
        "mae": np.nansum(np.abs(err), axis=(0, 2)) / n,
    }


def _samples(truth: np.ndarray, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(truth, dtype=np.float64)
    s = np.asarray(samples, dtype=np.float64)
    if s.ndim != 4 or t.ndim != 3 or s.shape[:1] + s.shape[2:] != t.shape or s.shape[1] < 1:
        raise ValueError(
            f"need truth (n, h, D) and samples (n, s, h, D) with s >= 1; got "
            f"{t.shape} and {s.shape}"
        )
    if np.isinf(t).any() or not np.isfinite(s).all():
        raise ValueError("truth and samples must be finite (truth may be NaN where missing)")
    return t, s


def crps_from_samples(truth: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """Empirical CRPS per point, truth (n, h, D), samples (n, s, h, D) → (n, h, D), units of data.

    CRPS(F̂, y) = E|X − y| − ½ E|X − X'| with X, X' drawn independently from the s samples
    (the plain empirical-distribution form: the s² pairs include i = j). Sorting gives the pair
    term in O(s log s): with x₍₁₎ ≤ … ≤ x₍ₛ₎,  Σᵢⱼ |xᵢ − xⱼ| = 2 Σᵢ (2i − s − 1) x₍ᵢ₎, so
    ½ E|X − X'| = Σᵢ (2i − s − 1) x₍ᵢ₎ / s².
    """
    t, s = _samples(truth, samples)
    m = s.shape[1]
    spread_to_truth = np.mean(np.abs(s - t[:, None]), axis=1)
    xs = np.sort(s, axis=1)
    w = (2.0 * np.arange(1, m + 1) - m - 1).reshape(1, m, 1, 1)
    half_pair = np.sum(w * xs, axis=1) / m**2
    return spread_to_truth - half_pair


def sample_metrics(truth: np.ndarray, samples: np.ndarray) -> dict[str, float]:
    """Probabilistic metrics of s sampled forecasts per series: truth (n, h, D), samples
    (n, s, h, D), original units.

    * ``avg_uncertainty`` — the study's "Avg. Unc.": mean over series, steps and variables of the
      per-point standard deviation across the s samples (population std, ddof = 0)      [units]
    * ``crps`` — mean over points of the empirical CRPS (see ``crps_from_samples``); equals MAE
      when all samples agree                                                          [units]
    * ``coverage_80`` — share of truth points with q₁₀ ≤ truth ≤ q₉₀, the 10 % and 90 % sample
      quantiles (numpy's default linear interpolation)                          [fraction 0-1]
    * ``interval_width_80`` — mean of q₉₀ − q₁₀                                        [units]
    """
    # pooled over the observed truth points (missing truth points are skipped)
    return {k: float(np.nanmean(v)) for k, v in _per_point(truth, samples).items()}


def sample_metrics_per_series(truth: np.ndarray, samples: np.ndarray) -> dict[str, np.ndarray]:
    """``sample_metrics`` of each series alone: {metric: (n,)} (what a bootstrap resamples);
    NaN for a series without observed truth."""
    import warnings

    with warnings.catch_warnings():  # a series without observed truth is a documented NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return {
            k: np.nanmean(v.reshape(len(v), -1), axis=1)
            for k, v in _per_point(truth, samples).items()
        }


def _per_point(truth: np.ndarray, samples: np.ndarray) -> dict[str, np.ndarray]:
    """Each sample metric per point (n, h, D); NaN where the truth is missing."""
    t, s = _samples(truth, samples)
    lo, hi = np.quantile(s, [0.1, 0.9], axis=1)
    gap = np.isnan(t)
    per_point = {
        "avg_uncertainty": np.std(s, axis=1, ddof=0),
        "crps": crps_from_samples(np.nan_to_num(t), s),
        "coverage_80": ((t >= lo) & (t <= hi)).astype(np.float64),
        "interval_width_80": hi - lo,
    }
    return {k: np.where(gap, np.nan, v) for k, v in per_point.items()}


def point_forecast(samples: np.ndarray, how: str = "median") -> np.ndarray:
    """Collapse samples (n, s, h, D) to one forecast (n, h, D): per-point ``median`` (robust to the
    odd wild sample, LLMTIME's choice) or ``mean`` across the s samples; one sample (greedy) is
    its own point forecast."""
    s = np.asarray(samples, dtype=np.float64)
    if s.ndim != 4:
        raise ValueError(f"samples must be (n, s, h, D), got {s.shape}")
    if how == "median":
        return np.median(s, axis=1)
    if how == "mean":
        return np.mean(s, axis=1)
    raise ValueError(f"how must be 'median' or 'mean', got {how!r}")
