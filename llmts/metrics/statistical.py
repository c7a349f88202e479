"""The field's statistical baselines (public API), from statsforecast: ``seasonal_naive``,
``naive``, ``auto_ets``, ``auto_arima``, ``auto_theta``.

Each forecast row (one series from one origin) is fitted on its whole history before the origin,
as a practitioner would, each variable alone (the models are univariate), with season length
m = ``eval.season_length``. Point forecast: the model's mean; quantiles at 0.1 … 0.9 from its
prediction intervals (the central 20/40/60/80 % intervals give the levels 0.4/0.6, 0.3/0.7,
0.2/0.8, 0.1/0.9; 0.5 is the mean, the median of the models' Gaussian intervals; the levels
sorted where an interval is not centred on the mean, as Theta's). statsforecast
takes no gaps: a history's NaN are linearly interpolated (its ends held) before fitting.

A model that fails on a series (raises, e.g. too short for ETS; or forecasts a non-finite value)
falls back to seasonal naive for that series — or naive where the history is shorter than one
season — and is counted in ``failed``; it never stops the run. Fits run in ``n_jobs`` processes
over the series (statsforecast's ``n_jobs``).
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from llmts.config.choices import STATISTICAL
from llmts.metrics.scaled import QUANTILES

log = logging.getLogger(__name__)
MODELS = STATISTICAL  # the statsforecast models eval.baselines may name
LEVELS = (20, 40, 60, 80)  # central interval widths [%] whose ends are the quantiles 0.1 … 0.9


def model(name: str, season_length: int, longest: int = 0):
    """The statsforecast model named ``name`` (one of :data:`MODELS`), aliased by that name.
    AutoARIMA approximates the likelihood during its search where R's ``auto.arima`` does by
    default — histories over 150 steps (``longest``) or seasons over 12 — where the exact
    search over hourly or weekly histories is too slow to run at every origin."""
    from statsforecast import models as sf

    build = {
        "seasonal_naive": lambda: sf.SeasonalNaive(season_length, alias=name),
        "naive": lambda: sf.Naive(alias=name),
        "auto_ets": lambda: sf.AutoETS(season_length=season_length, alias=name),
        "auto_arima": lambda: sf.AutoARIMA(
            season_length=season_length,
            approximation=longest > 150 or season_length > 12,
            alias=name,
        ),
        "auto_theta": lambda: sf.AutoTheta(season_length=season_length, alias=name),
    }
    if name not in build:
        raise ValueError(f"unknown statistical baseline {name!r}; choose from {', '.join(MODELS)}")
    return build[name]()


@dataclass(frozen=True)
class StatForecast:
    point: np.ndarray  # (n, h, D) the mean forecast, original units
    quantiles: np.ndarray  # (9, n, h, D) at QUANTILES
    failed: int  # (row, variable) series that fell back to seasonal naive (or naive)
    seconds: float  # wall time of this model's fits


def quantile_columns(name: str) -> list[str]:
    """statsforecast's output columns holding ``name``'s quantiles at :data:`QUANTILES`."""
    cols = []
    for q in QUANTILES:
        width = round(abs(200 * q - 100))
        cols.append(name if width == 0 else f"{name}-{'lo' if q < 0.5 else 'hi'}-{width}")
    return cols


def long_frame(histories: Sequence[np.ndarray]):
    """statsforecast's long frame (``unique_id``, ``ds``, ``y``) of the histories (T_i, D): one
    id per (row, variable), id = row·D + variable, ds = 0..T_i−1; gaps interpolated."""
    import pandas as pd

    ids, ds, ys = [], [], []
    d = np.asarray(histories[0]).reshape(len(histories[0]), -1).shape[1]
    for i, hist in enumerate(histories):
        h = np.asarray(hist, dtype=np.float64).reshape(len(hist), -1)
        steps = np.arange(len(h))
        for k in range(d):
            y = h[:, k]
            seen = np.isfinite(y)
            y = np.interp(steps, steps[seen], y[seen]) if seen.any() else np.zeros(len(y))
            ids.append(np.full(len(y), i * d + k))
            ds.append(steps)
            ys.append(y)
    return pd.DataFrame(
        {"unique_id": np.concatenate(ids), "ds": np.concatenate(ds), "y": np.concatenate(ys)}
    )


def _fit(df, names: Sequence[str], m: int, horizon: int, n_jobs: int) -> tuple[dict, dict]:
    """({name: (ids, 9, h) quantiles}, {name: seconds}) of each model on every id of ``df``; a
    model whose batched fit raises is refitted id by id, and an id that still fails is all NaN
    (→ fallback)."""
    from statsforecast import StatsForecast

    num = df["unique_id"].nunique()
    longest = int(df.groupby("unique_id").size().max())
    out, seconds = {}, {}
    for name in names:
        start = time.perf_counter()
        cols = quantile_columns(name)
        try:
            with warnings.catch_warnings():  # short histories: counted as failures instead
                warnings.simplefilter("ignore")
                fc = StatsForecast(
                    models=[model(name, m, longest)], freq=1, n_jobs=n_jobs
                ).forecast(df=df, h=horizon, level=list(LEVELS))
            fc = fc.sort_values(["unique_id", "ds"])
            out[name] = fc[cols].to_numpy().reshape(num, horizon, len(cols)).transpose(0, 2, 1)
        except Exception:  # noqa: BLE001 - a fit that fails on some series: find which, below
            out[name] = np.full((num, len(cols), horizon), np.nan)
            for uid, part in df.groupby("unique_id", sort=True):
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        one = StatsForecast(models=[model(name, m, longest)], freq=1).forecast(
                            df=part, h=horizon, level=list(LEVELS)
                        )
                    out[name][int(uid)] = one[cols].to_numpy().T
                except Exception:  # noqa: BLE001, S112 - falls back to seasonal naive, counted
                    continue
        seconds[name] = time.perf_counter() - start
    return out, seconds


def statistical_forecasts(
    histories: Sequence[np.ndarray],
    horizon: int,
    season_length: int,
    names: Sequence[str] = MODELS,
    n_jobs: int = -1,
) -> dict[str, StatForecast]:
    """The forecasts of the baselines ``names`` for each row's history (T_i, D) → {name:
    :class:`StatForecast`} with point (n, h, D) and quantiles (9, n, h, D), original units."""
    if not histories:
        raise ValueError("need at least one history")
    for name in names:
        model(name, season_length)  # an unknown name fails before any fit
    n = len(histories)
    d = np.asarray(histories[0]).reshape(len(histories[0]), -1).shape[1]
    df = long_frame(histories)
    # the two naive models take milliseconds: worker processes would cost more than they save
    fits, took = _fit(df, ["seasonal_naive", "naive"], season_length, horizon, 1)
    # the fallbacks: seasonal naive where it is defined (a full season of history), else naive
    fallback = np.where(
        np.isfinite(fits["seasonal_naive"]).all((1, 2))[:, None, None],
        fits["seasonal_naive"],
        fits["naive"],
    )
    more, more_took = _fit(df, [k for k in names if k not in fits], season_length, horizon, n_jobs)
    fits.update(more)
    took.update(more_took)
    out = {}
    for name in names:
        q = fits[name]
        bad = ~np.isfinite(q).all((1, 2))
        q = np.where(bad[:, None, None], fallback, q)
        if bad.any():
            log.info(
                "baseline %s: %d of %d series fell back to seasonal naive",
                name,
                bad.sum(),
                len(bad),
            )
        # (n·D, 9, h) → (9, n, h, D)
        q = q.reshape(n, d, len(QUANTILES), horizon).transpose(2, 0, 3, 1)
        point = q[QUANTILES.index(0.5)].copy()  # the model's mean
        # Theta's intervals are not centred on its mean: sorting the levels (monotone
        # rearrangement) keeps every quantile's loss at most what it was
        out[name] = StatForecast(point, np.sort(q, axis=0), int(bad.sum()), took[name])
    return out
