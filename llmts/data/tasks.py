"""A benchmark's tasks: which file, and each task's horizon H, season length m and number of
rolling windows W, by default from the data's frequency as GIFT-Eval sets them:

    H = 6 yearly, 8 quarterly, 12 monthly, 8 weekly, 30 daily, 48 hourly and finer
    W = min(20, max(1, ⌈0.1 · T / H⌉))  (T: the shortest series' steps), windows H apart

m defaults from the frequency (:func:`llmts.data.frequency.season_length`). Every one of them can
be set per task. Tasks come from files (``benchmark.paths``, any format the reader takes) or from
a suite's list (``benchmark.tasks``, e.g. ``benchmark=default``), whose entries name a file or a
series that a registry package ships (:mod:`llmts.data.suite`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from llmts.data import suite
from llmts.data.frequency import season_length, unit
from llmts.data.readers import SeriesFile, read_series
from llmts.errors import LlmtsError

MAX_WINDOWS = 20
# GIFT-Eval's short-term horizons by the frequency's calendar unit (frequency.unit)
HORIZONS = {"Y": 6, "Q": 8, "M": 12, "W": 8, "D": 30, "H": 48, "T": 48, "S": 60}


def horizon_for(freq: str | None, default: int) -> int:
    """GIFT-Eval's horizon for ``freq``; ``default`` where the frequency is unknown."""
    return HORIZONS.get(unit(freq) or "", default)


def windows_for(length: int, horizon: int, cap: int = MAX_WINDOWS) -> int:
    """GIFT-Eval's number of rolling windows: min(cap, max(1, ⌈0.1 · T / H⌉))."""
    return min(cap, max(1, math.ceil(0.1 * length / horizon)))


@dataclass(frozen=True)
class Task:
    """One task resolved: its file, name, frequency and the H, m and W it is scored with."""

    name: str
    path: Path
    freq: str | None
    horizon: int
    season_length: int
    windows: int
    length: int  # steps of its shortest series
    num_vars: int  # D


def resolve(
    spec, default_horizon: int, max_windows: int = MAX_WINDOWS, cache: Path | None = None
) -> Task:
    """A :class:`Task` from a task entry (``benchmark.tasks[i]``: ``path`` or ``series``, and
    optional ``name``, ``freq``, ``horizon``, ``season_length``, ``windows``); the file is read
    (:func:`llmts.data.readers.read_series`) for its length and frequency."""
    if bool(spec.get("path")) == bool(spec.get("series")):
        raise LlmtsError(f"benchmark task {dict(spec)}: give exactly one of path= or series=")
    if spec.get("path"):
        path = Path(spec.path).expanduser()
    else:
        path = suite.materialise(spec.series, cache)
    file: SeriesFile = read_series(path)
    freq = spec.get("freq") or file.freq
    length = min(len(s) for s in file.series)
    h = spec.get("horizon") or horizon_for(freq, default_horizon)
    return Task(
        name=spec.get("name") or (spec.get("series") or path.stem),
        path=path,
        freq=freq,
        horizon=int(h),
        season_length=int(spec.get("season_length") or season_length(freq)),
        windows=int(spec.get("windows") or windows_for(length, h, max_windows)),
        length=length,
        num_vars=int(file.series[0].shape[1]),
    )


def resolve_all(bench, default_horizon: int, cache: Path | None = None) -> list[Task]:
    """Every task of ``benchmark``: its ``paths`` (one task per file) then its ``tasks``; names
    must be distinct."""
    specs = [{"path": p} for p in bench.paths] + [dict(t) for t in bench.tasks]
    from omegaconf import OmegaConf

    tasks = [resolve(OmegaConf.create(s), default_horizon, bench.max_windows, cache) for s in specs]
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise LlmtsError(f"benchmark: two tasks are named {dup[0]!r}; give them name=")
    return tasks
