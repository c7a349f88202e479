"""``llmts-forecast``: forecast the series in a file with a trained run or checkpoint, through
:class:`llmts.api.Forecaster` (the evaluation's batched constrained decoding)::

    llmts-forecast run=outputs/runs/DATE input=series.csv horizon=20 output=forecast.csv

Input: any file :func:`llmts.data.readers.read_series` reads (``.csv`` and ``.parquet`` tables,
wide or long, numbers or dates as time; ``.h5``, ``.npy``, ``.npz``). Output: ``.h5``
(``point`` (N, h, D), ``samples`` (N, s, h, D), ``quantiles`` (k, N, h, D) at
``quantile_levels``, ``scale`` (N, D), ``time`` when the series share evenly spaced times or a
calendar of dates: the forecast's next ones) or ``.csv`` (a row per series and step: the point at
the codec's precision and, when sampled, the chosen quantiles per variable), by the output's
suffix, plus ``plots/series_<i>.png`` for the first ``plot_series``. A mistake in
the input or the settings is one line, ``llmts-forecast: error: ...``, and exit status 2.
"""

from __future__ import annotations

import csv
import logging
import sys
from pathlib import Path

import hydra
import numpy as np
from omegaconf import DictConfig, OmegaConf

from llmts.config.forecast import GROUPS_READ, ForecastConfig, register
from llmts.config.preflight import preflight
from llmts.config.schema import CONF_DIR, gaps_allowed
from llmts.data.frequency import date_text
from llmts.data.readers import check_values, read_series
from llmts.errors import LlmtsError, exit_on_error
from llmts.train.run_config import TRAINED, as_trained

log = logging.getLogger("llmts")

HELP = """\
llmts-forecast: forecast your own series (a file) with a trained run or checkpoint.

  llmts-forecast run=outputs/runs/DATE input=series.csv horizon=20 output=forecast.csv
  llmts-forecast checkpoint=RUN/checkpoints/step-300 model=tiny lora=none \\
    input=series.h5 decoding=sampling"""


def run(cfg: DictConfig, run_dir: Path, overrides: list[str]) -> Path:
    """Forecast ``cfg.input``; returns the output file. ``overrides``: the command line's
    ``data.*``/``model.*``/``lora.*`` settings, applied over a run's saved config."""
    from llmts.api import Forecaster, typed_config

    ForecastConfig.check(cfg)
    data = read_series(cfg.input, cfg.data.time_column, cfg.data.id_column)
    series, names = data.series, data.variables
    times = data.dates or data.time
    shared = times and all(np.array_equal(t, times[0]) for t in times)
    time = times[0] if shared else None  # output times only when all series share them
    if cfg.run:
        keep = [o for o in overrides if o.split(".", 1)[0] in TRAINED]
        fc = Forecaster.from_run(cfg.run, cfg.step, keep)
    else:
        groups = OmegaConf.masked_copy(cfg, list(GROUPS_READ))
        groups, _ = as_trained(groups, cfg.checkpoint, overrides)  # as its run saved them
        fc = Forecaster.build(typed_config(groups), Path(cfg.checkpoint).expanduser())
    fc.cfg.decoding = cfg.decoding
    fc.cfg.eval.batch_size, fc.cfg.eval.point = cfg.batch_size, cfg.point
    check_values(series, data.source, gaps_allowed(fc.cfg.data))
    names = (
        names
        or tuple(fc.cfg.data.variables or ())
        or tuple(f"var{k}" for k in range(series[0].shape[1]))
    )
    if len(names) != series[0].shape[1]:
        raise LlmtsError(f"{cfg.input}: {len(names)} variable names for D={series[0].shape[1]}")
    pred = fc.predict(series, cfg.horizon, cfg.num_samples, cfg.seed)
    levels = list(cfg.quantiles)
    future = future_time(time, cfg.horizon, data.freq)
    out = Path(cfg.output).expanduser() if cfg.output else run_dir / "forecast.h5"
    if out.suffix.lower() == ".csv":  # the suffix says which (ForecastConfig.check: .h5 or .csv)
        write_csv(out, pred, levels, names, future, fc.cfg.data.precision)
    else:
        write_h5(out, pred, levels, names, future)
    plots = plot(run_dir / "plots", series, pred, names, cfg.plot_series, data.dates, data.freq)
    log.info(
        "forecast of %d series x %d steps (parse rate %.3f) -> %s",
        len(series),
        cfg.horizon,
        pred.parse_rate,
        out,
    )
    print(
        f"{len(series)} series forecast {cfg.horizon} steps ahead, parse rate "
        f"{pred.parse_rate:.3f}: {out}" + (f"; plots in {plots}" if plots else "")
    )
    return out


def future_time(
    time: np.ndarray | None, horizon: int, freq: str | None = None
) -> np.ndarray | None:
    """The forecast steps' times: the next ``horizon`` dates of the calendar ``freq`` after
    dates, else the next evenly spaced numbers (None when the input's are not evenly spaced)."""
    if time is not None and time.dtype.kind == "M":
        if freq is None:
            return None
        import pandas as pd

        return pd.date_range(time[-1], periods=horizon + 1, freq=freq)[1:].to_numpy()
    if time is None or len(time) < 2:
        return None
    dt = np.diff(time)
    if not np.allclose(dt, dt[0], rtol=1e-6):
        return None
    return time[-1] + dt[0] * np.arange(1, horizon + 1)


def write_h5(path: Path, pred, levels: list[float], names, time) -> None:
    import h5py

    from llmts.tracking.files import atomic_path

    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f["point"], f["samples"], f["scale"] = pred.point, pred.samples, pred.scales
        f["quantiles"], f["quantile_levels"] = pred.quantiles(levels), np.asarray(levels)
        f["point"].attrs["variables"] = list(names)
        if time is not None:  # dates as ISO 8601 text
            f["time"] = time if time.dtype.kind != "M" else np.datetime_as_string(time).astype("S")


def decimals(scales: np.ndarray, precision: int) -> np.ndarray:
    """Decimals that write a forecast at the codec's precision in original units: a value is
    written as ``precision`` decimals of x / α, so its resolution is α·10^-precision and
    ``ceil(precision - log10 α)`` decimals (at least 0) hold it; same shape as ``scales``."""
    safe = np.where(np.isfinite(scales) & (scales > 0), scales, 1.0)
    return np.maximum(0, np.ceil(precision - np.log10(safe) - 1e-9)).astype(int)


def _number(value: float, places: int) -> str:
    """``value`` rounded to ``places`` decimals, shortest form (``1.52``, ``3``, ``nan``)."""
    return np.format_float_positional(value, precision=places, unique=True, trim="-")


def _when(t) -> str:
    """A time cell: a date as ISO 8601 (the day alone at midnight), a number shortest."""
    if isinstance(t, np.datetime64):
        return date_text(t, sep="T")
    return _number(float(t), 10)


def write_csv(path: Path, pred, levels: list[float], names, time, precision: int) -> None:
    """A row per series and forecast step: series, step (1..h), time, then each variable's
    point forecast and, for sampled forecasts, its quantiles (``<name>_q<level>``); values at
    the codec's precision (:func:`decimals`: ``data.precision`` decimals of the scaled value)."""
    from llmts.tracking.files import atomic_path

    n, h, d = pred.point.shape
    sampled = pred.samples.shape[1] > 1  # greedy: every quantile would be the point
    q = pred.quantiles(levels) if sampled else np.empty((0, n, h, d))  # (k, n, h, D)
    places = decimals(pred.scales, precision)  # (n, D)
    head = (
        ["series", "step"]
        + (["time"] if time is not None else [])
        + [c for name in names for c in [name] + [f"{name}_q{lev:g}" for lev in levels if sampled]]
    )
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(head)
        for i in range(n):
            for j in range(h):
                when = [] if time is None else [_when(time[j])]
                w.writerow(
                    [i, j + 1]
                    + when
                    + [
                        _number(float(v), int(places[i, k]))
                        for k in range(d)
                        for v in [pred.point[i, j, k], *q[:, i, j, k]]
                    ]
                )


def plot(
    folder: Path, series, pred, names, k: int, dates=None, freq: str | None = None
) -> Path | None:
    """Plots of the first ``k`` series in ``folder`` (returned; None when ``k`` is 0), dated
    when the series have ``dates`` on a calendar ``freq``."""
    from llmts.tracking.plots import plot_series

    if k <= 0:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(min(k, len(series))):
        samples = pred.samples[i] if pred.samples.shape[1] > 1 else None
        plot_series(
            folder / f"series_{i}.png",
            i,
            series[i],
            None,
            pred.point[i],
            samples=samples,
            variables=tuple(names),
            title="series {index}: forecast",
            dates=None
            if dates is None or freq is None
            else np.r_[dates[i], future_time(dates[i], pred.point.shape[1], freq)],
        )
    return folder


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="forecast")
def main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    exit_on_error("llmts-forecast", run, cfg, run_dir, list(hc.overrides.task))


def entry() -> None:
    register(HELP)
    exit_on_error("llmts-forecast", preflight, sys.argv[1:], "forecast", ForecastConfig.check)
    main()
