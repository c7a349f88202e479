"""What a run writes of its evaluation: ``forecasts.h5``, the plots, the W&B tables and the
console's results table, from what :func:`llmts.metrics.evaluate.score` returned."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from llmts.metrics.evaluate import POINT_KEYS, Evaluation
from llmts.tracking import plots
from llmts.tracking.files import atomic_path
from llmts.tracking.tracker import Tracker


def write(e: Evaluation, run_dir: Path, plot_series: int, tracker: Tracker, base: str) -> None:
    """``forecasts.h5``, ``plots/`` (the first ``plot_series`` rows, MSE and skill by horizon
    step) and the per-series W&B table. ``base``: what the plots call the model before training
    (:func:`llmts.metrics.evaluate.base_label`)."""
    write_forecasts(run_dir / "forecasts.h5", e)
    write_plots(run_dir / "plots", e, plot_series, tracker, base)
    write_skill(run_dir / "plots" / "skill.png", e.extra, tracker)
    r = e.rows
    per_series = [
        [
            int(i),
            int(o),
            float(np.nanmean((r.truth[k] - e.point[k]) ** 2)),
            float(np.nanmean(np.abs(r.truth[k] - e.point[k]))),
        ]
        for k, (i, o) in enumerate(zip(r.idx, r.origin))
    ]
    tracker.table("eval/per_series", ["series_index", "origin", "mse", "mae"], per_series)


def write_forecasts(path: Path, e: Evaluation) -> None:
    """``forecasts.h5``: every array scoring saw and produced (docs/artifacts.md lists them)."""
    import h5py

    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        r = e.rows
        f["series_index"], f["origin"] = np.asarray(r.idx), np.asarray(r.origin)
        f["context"], f["truth"], f["forecast"] = r.context, r.truth, e.point
        f["mase_scale"] = r.scale  # (n,) the seasonal scale of each row's history
        if e.res.scales is not None:
            f["scale"] = e.res.scales  # (n, D) the α each series was encoded with
            f["offset"] = e.res.offsets  # (n, D) and its offset (data.scale=affine; else 0)
        if e.res.samples.shape[1] > 1:
            f["samples"] = e.res.samples
        for name, fc in e.base.items():
            f[f"baselines/{name}"] = fc
        if e.untrained is not None:
            f["untrained"] = e.untrained  # (n, h, D) the untrained model's point forecast
        for name, err in e.horizon_err.items():
            f[f"per_horizon_mse/{name}"] = err
        for name, values in e.extra.items():  # skill curves, per-series physics checks
            f[name] = values


def write_plots(fig_dir: Path, e: Evaluation, k: int, tracker: Tracker, base: str) -> None:
    """One plot per row for the first ``k`` rows (context, truth, forecast, samples, the
    baselines' and the ``base`` model's forecasts) and the MSE by horizon step."""
    fig_dir.mkdir(exist_ok=True)
    r = e.rows
    for j in range(min(k, len(r.idx))):
        samples = e.res.samples[j] if e.res.samples.shape[1] > 1 else None
        i, o = int(r.idx[j]), int(r.origin[j])
        name = f"series_{i}" if (r.origin == r.origin[0]).all() else f"series_{i}_t{o}"
        path = plots.plot_series(
            fig_dir / f"{name}.png",
            i,
            r.context[j],
            r.truth[j],
            e.point[j],
            samples=samples,
            variables=e.variables,
            baselines=({} if e.untrained is None else {base: e.untrained[j]})
            | {name: fc[j] for name, fc in e.base.items()},
            dates=None if e.dates is None else e.dates[j],
        )
        tracker.image(f"forecast/{name}", path)
    tracker.image(
        "eval/per_horizon_mse", plots.plot_horizon(fig_dir / "per_horizon_mse.png", e.horizon_err)
    )


def write_skill(path: Path, extra: dict[str, np.ndarray], tracker: Tracker) -> None:
    """Skill by forecast step (plot and W&B table), when there are baselines."""
    names = [k.split("/")[1] for k in extra if k.startswith("skill/") and not k.endswith("_ci")]
    if not names:
        return
    curves = {n: (extra[f"skill/{n}"], extra.get(f"skill/{n}_ci")) for n in names}
    tracker.image("eval/skill", plots.plot_skill(path, curves))
    cols = ["step"] + [f"{n}{s}" for n in names for s in ("", "_lo", "_hi")]
    rows = [
        [j + 1]
        + [
            float(v)
            for n in names
            for v in (
                curves[n][0][j],
                *(curves[n][1][:, j] if curves[n][1] is not None else (np.nan, np.nan)),
            )
        ]
        for j in range(len(curves[names[0]][0]))
    ]
    tracker.table("eval/skill", cols, rows)


TABLE_SCALED = ("mase", "wql")  # the field's metrics shown beside the point ones


def cell(value) -> str:
    """One right-aligned table cell: a number, or '-' where the metric is absent/undefined."""
    return f"{value:>11.4g}" if isinstance(value, (int, float)) else f"{'-':>11}"


def results_table(m: dict, base: str = "untrained") -> str:
    """The model's metrics (point ones, MASE and WQL: '-' where not scored, WQL for sampled
    forecasts only) beside each baseline's (every ``baseline/<name>/mse`` in ``m``, in the
    order they were scored), one row each; then, when the model before training was scored
    (``untrained/*``, shown as ``base``: :func:`llmts.metrics.evaluate.base_label`), the skill
    over it (what training bought, paired on the same rows) with its interval."""
    rows = [("model", "")]
    if "untrained/mse" in m:
        rows.append((base, "untrained/"))
    rows += [
        (k.split("/")[1], k[: -len("mse")]) for k in m if re.fullmatch(r"baseline/[^/]+/mse", k)
    ]
    w = max(len(name) for name, _ in rows) + 3
    keys = POINT_KEYS + TABLE_SCALED
    head = f"{'':<{w}}" + "".join(f"{k.upper() if k != 'r2' else 'R2':>11}" for k in keys)
    lines = [head] + [
        f"{name:<{w}}" + "".join(cell(m.get(prefix + k)) for k in keys) for name, prefix in rows
    ]
    if (gain := m.get("skill/untrained")) is not None:
        ci = m.get("skill/untrained_ci")
        band = f" [{ci[0]:.3f}, {ci[1]:.3f}] (95 % interval)" if ci else ""
        lines.append(f"skill vs {base} (1 - MSE / MSE_{base.split()[0]}): {gain:.3f}{band}")
    return "\n".join(lines)
