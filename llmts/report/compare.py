"""Sweep comparisons that tell a real difference from noise (used by ``llmts.report.sweep``).

A *setting* is the jobs of a sweep that differ only in ``seed``; its value of a metric is the mean
over its seeds (± their standard deviation when there are several). Intervals come from the test
series: every job's ``forecasts.h5`` is rescored on B resamples of its series
(``llmts.metrics.bootstrap``),
and a setting's draws are the mean of its jobs' draws, so its interval is that of the seed mean.

Jobs whose ``forecasts.h5`` hold the same truth form a *stratum* (same test series: in a sweep,
the same seed); every stratum has its own resample matrix. The difference of a setting to the
best one is *paired* over the strata they share — the same resample of the same series on both
sides, averaged over the shared seeds — and *unpaired* (independent resamples) when they share
none. A difference is marked when its 95 % interval excludes 0.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from llmts.metrics import bootstrap as stats
from llmts.metrics.point import POINT_METRICS
from llmts.tracking.plots import plot_lines


@dataclass
class Setting:
    label: str
    jobs: list  # report.Job, all status ok, differing only in seed


@dataclass
class Cell:
    mean: float | None
    std: float | None = None  # across seeds, when there are several
    lo: float | None = None
    hi: float | None = None


def setting_label(j, name: str, names: list[str]) -> str:
    """A job's row label without its seed: ``lr = 1e-4`` when ``name`` is the one swept
    parameter."""
    if names == [name]:
        return f"{name} = {j.swept[name]}"
    return ",".join(f"{n}={j.swept[n]}" for n in names) or (
        "all seeds" if "seed" in j.swept else j.label
    )


def settings(jobs: list, names: list[str], name: str) -> list[Setting]:
    """Group ok ``jobs`` by their swept values ``names`` (all but ``seed``), in first-seen order."""
    groups: dict[tuple, Setting] = {}
    for j in jobs:
        key = tuple(j.swept.get(n) for n in names)
        groups.setdefault(key, Setting(setting_label(j, name, names), [])).jobs.append(j)
    return list(groups.values())


@dataclass
class Bootstrap:
    """Resampled metrics of each job, from its ``forecasts.h5`` (none: ``num`` = 0 or no file)."""

    num: int
    seed: int = 0
    strata: dict[str, int] = field(default_factory=dict)
    _draws: dict[int, tuple[str, dict[str, np.ndarray]] | None] = field(default_factory=dict)

    @classmethod
    def of(cls, jobs: list, num: int | None = None) -> Bootstrap:
        """Resample as the jobs were scored (``eval.bootstrap``, ``eval.bootstrap_seed``; 1000 and
        0 where they do not say), or ``num`` times."""

        def said(key: str, default: int) -> int:
            for j in jobs:
                try:
                    return int(float(j.value(key)))
                except (TypeError, ValueError):
                    continue
            return default

        return cls(
            said("eval.bootstrap", 1000) if num is None else num, said("eval.bootstrap_seed", 0)
        )

    def job(self, job) -> tuple[str, dict[str, np.ndarray]] | None:
        """(stratum, {metrics.json key: draws (B,) or, for ``skill/<ref>@step``, (B, h)})."""
        if id(job) not in self._draws:
            self._draws[id(job)] = self._load(Path(job.dir) / "forecasts.h5") if self.num else None
        return self._draws[id(job)]

    def _load(self, path: Path) -> tuple[str, dict[str, np.ndarray]] | None:
        import h5py

        try:
            with h5py.File(path, "r") as f:
                truth, fc = f["truth"][()], f["forecast"][()]
                base = {k: v[()] for k, v in f["baselines"].items()} if "baselines" in f else {}
                phys = {k: v[()] for k, v in f["physics"].items()} if "physics" in f else {}
        except (OSError, KeyError):
            return None
        key = hashlib.sha1(truth.tobytes() + str(truth.shape).encode()).hexdigest()
        stratum = self.strata.setdefault(key, len(self.strata))
        idx = stats.resample_indices(len(truth), self.num, (self.seed, stratum))
        w = stats.counts(idx, len(truth))
        out = stats.point_draws(stats.series_sums(truth, fc), idx)
        model_sse = stats.step_sse(truth, fc)
        for name, b in base.items():
            out.update(
                {
                    f"baseline/{name}/{k}": v
                    for k, v in stats.point_draws(stats.series_sums(truth, b), idx).items()
                }
            )
            ref_sse = stats.step_sse(truth, b)
            out[f"skill/{name}"] = stats.skill(model_sse.sum(1), ref_sse.sum(1), w)
            out[f"skill/{name}@step"] = stats.skill(model_sse, ref_sse, w)
        out.update({f"physics/{k}": stats.mean_draws(v, w) for k, v in phys.items()})
        return key, out

    def setting(self, s: Setting, key: str, jobs: list | None = None) -> np.ndarray | None:
        """Draws of the mean over ``jobs`` (default: the setting's) of ``key``; None if any lacks
        them."""
        got = [self.job(j) for j in (s.jobs if jobs is None else jobs)]
        if not got or any(g is None or key not in g[1] for g in got):
            return None
        return np.mean([g[1][key] for g in got], axis=0)


def cell(s: Setting, key: str, boot: Bootstrap) -> Cell:
    """Seed mean (± std) of ``key`` and its interval: from the draws, else a lone job's ``_ci``."""
    vals = [j.metrics.get(key) for j in s.jobs]
    vals = [float(v) for v in vals if isinstance(v, (int, float)) and np.isfinite(v)]
    if not vals:
        return Cell(None)
    out = Cell(float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1 else None)
    draws = boot.setting(s, key)
    if draws is not None:
        out.lo, out.hi = stats.interval(draws).tolist()
    elif len(s.jobs) == 1 and isinstance(ci := s.jobs[0].metrics.get(f"{key}_ci"), list):
        out.lo, out.hi = ci
    return out


def difference(a: Setting, best: Setting, key: str, boot: Bootstrap) -> tuple[Cell, bool] | None:
    """(a − best with its interval, paired?) over the strata both have, else unpaired; None
    without draws."""

    def by_stratum(s: Setting) -> dict[str, list]:
        out: dict[str, list] = {}
        for j in s.jobs:
            if (g := boot.job(j)) is not None:
                out.setdefault(g[0], []).append(j)
        return out

    sa, sb = by_stratum(a), by_stratum(best)
    common = [k for k in sa if k in sb]
    if common:
        parts = [(boot.setting(a, key, sa[k]), boot.setting(best, key, sb[k])) for k in common]
        if all(x is not None and y is not None for x, y in parts):
            mean = lambda js: np.mean([j.metrics.get(key, np.nan) for j in js])  # noqa: E731
            diff = float(np.mean([mean(sa[k]) - mean(sb[k]) for k in common]))
            lo, hi = stats.interval(np.mean([x - y for x, y in parts], axis=0)).tolist()
            return Cell(diff, None, lo, hi), True
    da, db = boot.setting(a, key), boot.setting(best, key)
    ca, cb = cell(a, key, boot), cell(best, key, boot)
    if da is None or db is None or ca.mean is None or cb.mean is None:
        return None
    lo, hi = stats.interval(da - db).tolist()
    return Cell(ca.mean - cb.mean, None, lo, hi), False


def useful_steps(s: Setting, ref: str, boot: Bootstrap) -> Cell:
    """Last forecast step whose skill over ``ref`` is above 0 with 95 % confidence, for the seed
    mean's skill curve (from the draws), else the mean (± std) of the jobs' values."""
    draws = boot.setting(s, f"skill/{ref}@step")
    if draws is not None:
        return Cell(float(stats.useful_horizon(stats.interval(draws)[0])))
    return cell(s, f"skill/{ref}_horizon", boot)


def summary_rows(jobs: list, names: list[str]) -> tuple[list[str], list[list[Any]]]:
    """summary.csv: one row per job — label, dir, status, swept values, seed, then every metric
    with its interval (``<metric>``, ``<metric>_lo``, ``<metric>_hi``)."""
    keys = sorted(
        {
            k
            for j in jobs
            for k, v in j.metrics.items()
            if not k.endswith("_ci") and not isinstance(v, (list, dict))
        }
        - {"status", "error"},
        key=lambda k: (POINT_METRICS.index(k) if k in POINT_METRICS else len(POINT_METRICS), k),
    )
    with_ci = {k for k in keys if any(f"{k}_ci" in j.metrics for j in jobs)}
    head = ["label", "dir", "status", "error"] + names + ["seed"]
    for k in keys:
        head += [k] + ([f"{k}_lo", f"{k}_hi"] if k in with_ci else [])
    rows = []
    for j in jobs:
        row = (
            [j.label, str(j.dir), j.status, j.error]
            + [j.swept.get(n) for n in names]
            + [j.value("seed")]
        )
        for k in keys:
            ci = j.metrics.get(f"{k}_ci") or [None, None]
            row += [j.metrics.get(k)] + (list(ci) if k in with_ci else [])
        rows.append(row)
    return head, rows


def plot_skill(jobs: list, out: Path, ref: str = "persistence") -> Path | None:
    """Skill over ``ref`` by forecast step, one curve per job (from ``forecasts.h5``)."""
    import h5py

    lines = []
    for j in jobs:
        try:
            with h5py.File(Path(j.dir) / "forecasts.h5", "r") as f:
                values = f[f"skill/{ref}"][()]
        except (OSError, KeyError):
            continue
        lines.append((j.label, np.arange(1, len(values) + 1), values))
    return (
        plot_lines(
            out,
            lines,
            "forecast step",
            f"skill = 1 − MSE / MSE_{ref}",
            f"Skill over {ref} by forecast step",
            "symlog",
            "o",
        )
        if lines
        else None
    )
