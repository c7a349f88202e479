"""The leaderboard of a benchmark (pure functions, public API): from ``results`` (one row per
task × model: ``task``, ``model``, ``mase``, ``wql``, …) to one row per model, as fev-bench
aggregates:

* relative error of model a on task t:  r_{a,t} = clip(e_{a,t} / e_{ref,t}, 0.01, 100), ref =
  seasonal naive (so its own r is exactly 1; 0 / 0 counts as 1: both exact)
* ``gmean_relative_<metric>`` = exp(mean over tasks of log r_{a,t})  (tasks where r is defined)
* ``skill_<metric>`` = 1 − gmean_relative_<metric>
* ``win_rate_mase`` = mean over tasks t and other models b of 1{e_a < e_b} + ½·1{e_a = e_b}
  (pairs where both are defined)
* 95 % intervals by the percentile bootstrap over tasks (tasks drawn with replacement).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from llmts.metrics.bootstrap import interval, resample_indices
from llmts.report.markdown import md_table

REFERENCE = "seasonal_naive"
CLIP = (0.01, 100.0)


def wide(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """task × model table of ``metric`` (NaN where a model has no value on a task)."""
    return results.pivot_table(
        index="task", columns="model", values=metric, aggfunc="first", dropna=False
    ).astype(float)


def relative(table: pd.DataFrame, reference: str = REFERENCE) -> pd.DataFrame:
    """Each model's error ÷ the reference's on the same task (task × model), clipped to CLIP."""
    if reference not in table.columns:
        raise ValueError(f"the results have no {reference!r} rows to be relative to")
    ref = table[reference].to_numpy()[:, None]
    err = table.to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where((err == 0) & (ref == 0), 1.0, err / ref)
    rel = np.clip(np.where(np.isnan(rel), np.nan, rel), *CLIP)
    return pd.DataFrame(rel, index=table.index, columns=table.columns)


def gmean(rel: np.ndarray) -> np.ndarray:
    """Geometric mean over axis 0 (tasks) ignoring NaN; NaN where a column has no value."""
    logs = np.log(np.asarray(rel, dtype=np.float64))
    ok = np.isfinite(logs)
    n = ok.sum(0)
    total = np.where(ok, logs, 0.0).sum(0)
    return np.exp(np.divide(total, n, out=np.full(total.shape, np.nan), where=n > 0))


def win_rate(table: pd.DataFrame) -> pd.Series:
    """Per model: the share of (task, other model) pairs it beats, ties counting ½."""
    e = table.to_numpy()
    rates = {}
    for j, name in enumerate(table.columns):
        mine, other = e[:, j : j + 1], np.delete(e, j, axis=1)
        ok = np.isfinite(mine) & np.isfinite(other)
        score = (mine < other) + 0.5 * (mine == other)
        rates[name] = float(score[ok].mean()) if ok.any() else np.nan
    return pd.Series(rates)


def leaderboard(
    results: pd.DataFrame, bootstrap: int = 1000, seed: int = 0, reference: str = REFERENCE
) -> pd.DataFrame:
    """One row per model, best (lowest gmean relative MASE) first: tasks scored,
    ``gmean_relative_mase`` with ``_lo``/``_hi``, ``skill_mase``, ``gmean_relative_wql`` with
    its interval, ``win_rate_mase``, and the sums of ``flops`` and ``seconds`` (when present)."""
    mase = wide(results, "mase")
    rel = relative(mase, reference)
    board = pd.DataFrame(index=mase.columns)
    board["tasks"] = np.isfinite(mase.to_numpy()).sum(0)
    board["gmean_relative_mase"] = gmean(rel.to_numpy())
    board["skill_mase"] = 1.0 - board["gmean_relative_mase"]
    metrics = {"mase": rel}
    if "wql" in results and results["wql"].notna().any():
        wql = wide(results, "wql").reindex(columns=mase.columns)
        metrics["wql"] = relative(wql, reference)
        board["gmean_relative_wql"] = gmean(metrics["wql"].to_numpy())
    board["win_rate_mase"] = win_rate(mase)
    if bootstrap and len(mase) > 1:
        idx = resample_indices(len(mase), bootstrap, seed)
        for key, r in metrics.items():
            draws = np.stack([gmean(r.to_numpy()[row]) for row in idx])
            lo, hi = interval(draws)
            board[f"gmean_relative_{key}_lo"], board[f"gmean_relative_{key}_hi"] = lo, hi
    for col in ("flops", "seconds"):
        if col in results:
            board[col] = results.groupby("model")[col].sum(min_count=1).reindex(board.index)
    board = board.sort_values("gmean_relative_mase", na_position="last")
    return board.rename_axis("model").reset_index()


def markdown(board: pd.DataFrame) -> str:
    """The leaderboard as a Markdown table: intervals in brackets, 3 significant digits."""
    cols = [
        ("model", "Model", None),
        ("tasks", "Tasks", None),
        ("gmean_relative_mase", "Rel. MASE (gmean)", "gmean_relative_mase"),
        ("skill_mase", "Skill (MASE)", None),
        ("gmean_relative_wql", "Rel. WQL (gmean)", "gmean_relative_wql"),
        ("win_rate_mase", "Win rate (MASE)", None),
        ("flops", "FLOPs", None),
        ("seconds", "Seconds", None),
    ]
    cols = [c for c in cols if c[0] in board]

    def cell(row, key, ci):
        v = row[key]
        if isinstance(v, str):
            return v
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return "–"
        text = f"{v:.3g}" if not isinstance(v, (int, np.integer)) else str(v)
        if ci and f"{ci}_lo" in row and np.isfinite(row[f"{ci}_lo"]):
            text += f" [{row[f'{ci}_lo']:.3g}, {row[f'{ci}_hi']:.3g}]"
        return text

    rows = [[cell(row, k, ci) for k, _, ci in cols] for _, row in board.iterrows()]
    return md_table([c[1] for c in cols], rows)
