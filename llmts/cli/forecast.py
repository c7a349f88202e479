"""``llmts-forecast``: forecast the series in a file with a trained run or checkpoint, through
:class:`llmts.api.Forecaster` (the evaluation's batched constrained decoding)::

    llmts-forecast run=outputs/runs/DATE input=series.csv horizon=20 output=forecast.csv

Input (read by :func:`llmts.data.readers.read_series`): ``.h5`` (``trajectories`` (N, T, D) or
(T, D), optional ``time`` (T,), optional ``variables`` attribute), ``.csv`` (one series: rows =
time steps, columns = variables, an optional header and an optional ``time_column``; or many in
long format ``id_column,time,<variables>``; empty, ``nan`` or ``NA`` cells are gaps), ``.npy``
((T,), (T, D) or (N, T, D)) or ``.npz``. Output: ``.h5`` (``point`` (N, h, D), ``samples``
(N, s, h, D), ``quantiles`` (k, N, h, D) at ``quantile_levels``, ``scale`` (N, D), ``time`` when
the input's steps are evenly spaced) or ``.csv`` (a row per series and step: point and the chosen
quantiles per variable), plus ``plots/series_<i>.png`` for the first ``plot_series``. A mistake in
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

from llmts.config.compose import as_trained, preflight
from llmts.config.forecast import ForecastConfig, register
from llmts.config.schema import CONF_DIR
from llmts.data.readers import check_values, read_series
from llmts.errors import LlmtsError, exit_on_error

log = logging.getLogger("llmts")


def run(cfg: DictConfig, run_dir: Path, overrides: list[str]) -> Path:
    """Forecast ``cfg.input``; returns the output file. ``overrides``: the command line's
    ``data.*``/``model.*``/``lora.*`` settings, applied over a run's saved config."""
    from llmts.api import Forecaster, typed_config

    ForecastConfig.check(cfg)
    data = read_series(cfg.input, cfg.time_column, cfg.id_column)
    series, names = data.series, data.variables
    shared = data.time and all(np.array_equal(t, data.time[0]) for t in data.time)
    time = data.time[0] if shared else None  # output times only when all series share them
    if cfg.run:
        keep = [o for o in overrides if o.split("=", 1)[0].startswith(("data.", "model.", "lora."))]
        fc = Forecaster.from_run(cfg.run, cfg.step, keep)
    else:
        groups = OmegaConf.masked_copy(cfg, ["model", "lora", "data", "decoding"])
        groups, _ = as_trained(groups, cfg.checkpoint, overrides)  # as its run saved them
        fc = Forecaster.build(typed_config(groups), Path(cfg.checkpoint).expanduser())
    fc.cfg.decoding = cfg.decoding
    fc.cfg.eval.batch_size, fc.cfg.eval.point = cfg.batch_size, cfg.point
    check_values(series, data.source, fc.cfg.data.missing == "encode")
    names = names or tuple(fc.cfg.data.variables or ()) or tuple(f"var{k}" for k in range(series[0].shape[1]))
    if len(names) != series[0].shape[1]:
        raise LlmtsError(f"{cfg.input}: {len(names)} variable names for D={series[0].shape[1]}")
    pred = fc.predict(series, cfg.horizon, cfg.num_samples, cfg.seed)
    levels = list(cfg.quantiles)
    future = future_time(time, cfg.horizon)
    out = Path(cfg.output).expanduser() if cfg.output else run_dir / "forecast.h5"
    (write_csv if out.suffix.lower() == ".csv" else write_h5)(out, pred, levels, names, future)
    plot(run_dir / "plots", series, pred, names, cfg.plot_series)
    log.info("forecast of %d series x %d steps (parse rate %.3f) -> %s", len(series),
             cfg.horizon, pred.parse_rate, out)
    print(f"{len(series)} series forecast {cfg.horizon} steps ahead, parse rate "
          f"{pred.parse_rate:.3f}: {out}")
    return out


def future_time(time: np.ndarray | None, horizon: int) -> np.ndarray | None:
    """The forecast steps' times when the input's are evenly spaced (else None)."""
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
        if time is not None:
            f["time"] = time


def write_csv(path: Path, pred, levels: list[float], names, time) -> None:
    """A row per series and forecast step: series, step (1..h), time, then each variable's
    point forecast and its quantiles (``<name>_q<level>``)."""
    from llmts.tracking.files import atomic_path

    q = pred.quantiles(levels)  # (k, n, h, D)
    head = ["series", "step"] + (["time"] if time is not None else []) + [
        c for name in names for c in [name] + [f"{name}_q{lev:g}" for lev in levels]]
    n, h, d = pred.point.shape
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(head)
        for i in range(n):
            for j in range(h):
                w.writerow([i, j + 1] + ([repr(float(time[j]))] if time is not None else []) + [
                    repr(float(v)) for k in range(d) for v in [pred.point[i, j, k], *q[:, i, j, k]]])


def plot(folder: Path, series, pred, names, k: int) -> None:
    from llmts.tracking.plots import plot_series

    if k <= 0:
        return
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(min(k, len(series))):
        samples = pred.samples[i] if pred.samples.shape[1] > 1 else None
        plot_series(folder / f"series_{i}.png", i, series[i], None, pred.point[i], samples,
                    tuple(names), title="series {index}: forecast")


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="forecast")
def main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    exit_on_error("llmts-forecast", run, cfg, run_dir, list(hc.overrides.task))


def entry() -> None:
    register()
    exit_on_error("llmts-forecast", preflight, sys.argv[1:], "forecast", ForecastConfig.check)
    main()
