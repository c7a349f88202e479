"""Series in, validated: a file (HDF5 in the study's format, CSV, NPY/NPZ: see
:mod:`llmts.data.readers`), or simulated Lotka-Volterra.

The study's format: dataset ``trajectories`` float (N, T, D) and ``time`` (T,), increasing. D is
anything >= 1; Lotka-Volterra has D = 2 (prey, predator). Variable names come from
``data.variables``, else the file (a ``variables`` attribute, a CSV header), else
``var0, var1, ...``.
NaN marks a missing value, allowed with ``data.missing=encode``; ``data.missing_frac`` knocks
values of the simulated dataset out at random (seeded), so the gap path runs offline.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from llmts.config.schema import DataConfig, gaps_allowed
from llmts.data.frequency import season_length
from llmts.data.readers import check_values, read_series
from llmts.errors import LlmtsError
from llmts.tracking.files import atomic_path

log = logging.getLogger(__name__)
LV_VARIABLES = ("prey", "predator")


@dataclass(frozen=True)
class Dataset:
    series: np.ndarray  # (N, T, D) float64, original units; NaN past a shorter series' end
    time: np.ndarray  # (T,)
    variables: tuple[str, ...]
    source: str  # file the series came from
    lengths: np.ndarray | None = None  # (N,) steps of each series; None: all have T
    dates: list[np.ndarray] | None = None  # N datetime64 arrays (T_i,) of a dated file
    freq: str | None = None  # the dates' pandas offset alias; None: undated or irregular

    def __post_init__(self) -> None:
        if self.lengths is None:
            object.__setattr__(self, "lengths", np.full(len(self.series), self.series.shape[1]))

    @property
    def num_vars(self) -> int:
        return self.series.shape[2]

    @property
    def season_length(self) -> int:
        """Steps per season of its calendar (:func:`llmts.data.frequency.season_length`; 1 when
        the frequency is unknown)."""
        return season_length(self.freq)

    def describe(self, season_length: int) -> str:
        """One line for the log: sizes, variables, the calendar and the season length used."""
        steps = self.lengths
        span = f"{steps.min()}-{steps.max()}" if steps.min() != steps.max() else f"{steps.max()}"
        line = (
            f"{len(self.series)} series x {span} steps x {self.num_vars} variable(s) "
            f"({', '.join(self.variables)}) from {self.source}"
        )
        if self.dates:
            first = min(d[0] for d in self.dates)
            last = max(d[-1] for d in self.dates)
            calendar = f"frequency {self.freq}" if self.freq else "irregular dates"
            line += f"; dated {str(first)[:10]} to {str(last)[:10]}, {calendar}"
        return f"{line}; season length {season_length}"

    def summary(self) -> dict:
        """What a run saves of its data (``data.json``): source, variable names, sizes, and the
        dates' frequency and span when the file has dates."""
        out = {
            "source": self.source,
            "variables": list(self.variables),
            "num_series": len(self.series),
            "max_steps": int(self.lengths.max()),
            "freq": self.freq,
        }
        if self.dates:
            out["first_date"] = str(min(d[0] for d in self.dates))
            out["last_date"] = str(max(d[-1] for d in self.dates))
        return out


def lotka_volterra(t: float, z: np.ndarray, a, b, d, g) -> np.ndarray:
    """dx/dt = a·x − b·x·y (prey), dy/dt = d·x·y − g·y (predator); rates per unit time.
    ``z`` stacks all series' states (x₁..x_N, y₁..y_N) so one solve integrates them together."""
    x, y = np.split(z, 2)
    return np.concatenate([a * x - b * x * y, d * x * y - g * y])


def simulate_lotka_volterra(
    num_series: int, num_steps: int, t_max: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded LV trajectories (N, T, 2) on ``linspace(0, t_max, T)``. Rates a, g ~ U(0.1, 0.3),
    b, d ~ U(0.05, 0.2) and initial states ~ U(0.5, 2.5): a 100-step series holds 2-9 cycles."""
    from scipy.integrate import solve_ivp

    rng = np.random.default_rng(seed)
    a, g, b, d = (
        rng.uniform(lo, hi, num_series)
        for lo, hi in ((0.1, 0.3), (0.1, 0.3), (0.05, 0.2), (0.05, 0.2))
    )
    z0 = rng.uniform(0.5, 2.5, size=(2, num_series)).ravel()
    time = np.linspace(0.0, t_max, num_steps)
    sol = solve_ivp(
        lotka_volterra,
        (0.0, t_max),
        z0,
        t_eval=time,
        args=(a, b, d, g),
        method="RK45",
        rtol=1e-7,
        atol=1e-9,
    )
    series = sol.y.reshape(2, num_series, num_steps).transpose(1, 2, 0)
    return series.astype(np.float32), time


def write_h5(path: Path, series: np.ndarray, time: np.ndarray, variables: tuple[str, ...]) -> None:
    """Write atomically (temp file + rename) so a concurrent reader never sees a partial file."""
    import h5py

    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        ds = f.create_dataset("trajectories", data=series)
        ds.attrs["variables"] = list(variables)
        f.create_dataset("time", data=time)


def cache_dir(cfg: DataConfig) -> Path:
    base = cfg.cache_dir or os.environ.get("LLMTS_CACHE") or "~/.cache/llmts"
    return Path(base).expanduser()


def simulated_path(cfg: DataConfig, seed: int) -> Path:
    """Where the simulated dataset for these settings is cached; generated on first use."""
    name = f"lotka_volterra_{cfg.num_series}x{cfg.num_steps}_t{cfg.t_max:g}_seed{seed}.h5"
    path = cache_dir(cfg) / name
    if not path.exists():
        log.info("simulating %d Lotka-Volterra series -> %s", cfg.num_series, path)
        series, time = simulate_lotka_volterra(cfg.num_series, cfg.num_steps, cfg.t_max, seed)
        write_h5(path, series, time, LV_VARIABLES)
    return path


def load_dataset(cfg: DataConfig, seed: int, min_steps: int = 1) -> Dataset:
    """Read and validate ``cfg.path`` (any format :func:`llmts.data.readers.read_series` reads)
    or the cached simulation; any problem is one LlmtsError. Series of different lengths are
    kept (NaN past each one's end, ``lengths`` says where) for ``data.split=time``, which cuts
    each series by its own length; ``data.split=series`` needs equal lengths."""
    path = Path(cfg.path).expanduser() if cfg.path else simulated_path(cfg, seed)
    if not path.is_file():
        raise LlmtsError(f"data.path: no such file: {path}")
    file = read_series(path, cfg.time_column, cfg.id_column)
    check_values(file.series, str(path), gaps_allowed(cfg))
    lengths = np.array([len(s) for s in file.series])
    check_length(path, int(lengths.min()), min_steps)
    if cfg.split == "series" and lengths.min() != lengths.max():
        raise LlmtsError(
            f"{path}: series have {lengths.min()} to {lengths.max()} steps; "
            "data.split=series needs equal lengths (data.split=time cuts each "
            "series by its own)"
        )
    series = np.full((len(lengths), int(lengths.max()), file.series[0].shape[1]), np.nan)
    for i, s in enumerate(file.series):
        series[i, : len(s)] = s
    longest = int(np.argmax(lengths))
    time = file.time[longest] if file.time is not None else np.arange(lengths[longest], dtype=float)
    if cfg.missing_frac > 0 and not cfg.path:
        series = knock_out(series, cfg.missing_frac, seed)
    variables = tuple(cfg.variables) if cfg.variables else file.variables
    if variables is None:
        variables = tuple(f"var{i}" for i in range(series.shape[2]))
    if len(variables) != series.shape[2]:
        raise LlmtsError(
            f"{path}: data.variables names {len(variables)} variables, "
            f"the file has D={series.shape[2]}"
        )
    return Dataset(series, time, variables, str(path), lengths, file.dates, file.freq)


def knock_out(series: np.ndarray, frac: float, seed: int) -> np.ndarray:
    """``series`` with each value set to NaN with probability ``frac`` (seeded by ``seed``)."""
    gone = np.random.default_rng((seed, 13)).random(series.shape) < frac
    log.info("data.missing_frac=%g: %d of %d values knocked out", frac, gone.sum(), gone.size)
    return np.where(gone, np.nan, series)


def check_length(path, num_steps: int, min_steps: int) -> None:
    if num_steps < min_steps:
        raise LlmtsError(
            f"{path}: series have T={num_steps} steps, fewer than the {min_steps} "
            "needed (eval.context_steps + eval.horizon)"
        )


def main(argv: list[str] | None = None) -> None:
    """``python -m llmts.data.series OUT.h5``: write the simulated Lotka-Volterra dataset for use as
    ``data.path=OUT.h5`` (same series as a run with the same settings and seed simulates)."""
    import argparse

    defaults = DataConfig()
    parser = argparse.ArgumentParser(prog="python -m llmts.data.series", description=main.__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--num-series", type=int, default=defaults.num_series)
    parser.add_argument("--num-steps", type=int, default=defaults.num_steps)
    parser.add_argument("--t-max", type=float, default=defaults.t_max)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    series, time = simulate_lotka_volterra(args.num_series, args.num_steps, args.t_max, args.seed)
    write_h5(args.out, series, time, LV_VARIABLES)
    print(f"wrote {args.out}: trajectories {series.shape}, time {time.shape}")


if __name__ == "__main__":
    main()
