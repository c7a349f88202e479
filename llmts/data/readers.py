"""The one file reader of every entry point (``llmts``, ``llmts-forecast``, ``Forecaster``) and the
one NaN/inf check of every series that comes in.

Formats (by suffix):

- ``.h5``/``.hdf5``: dataset ``trajectories`` (N, T, D), (T, D) or (T,); optional ``time`` (T,);
  an optional ``variables`` attribute on ``trajectories`` names the D variables.
- ``.csv``: ONE series (a row per step, a column per variable, an optional header, an optional
  time column named ``time_column``) or MANY in long format, when the header has an
  ``id_column``: ``id,time,<variables>`` (as Chronos's ``predict_df``); a series per id in order
  of first appearance, its rows sorted by time, lengths may differ. Empty, ``nan``, ``NA``,
  ``null`` cells are gaps (NaN). Column names are case-insensitive; a UTF-8 BOM is ignored.
- ``.npy``: an array (T,), (T, D) or (N, T, D).
- ``.npz``: a ``trajectories`` array (or the archive's only array) shaped as ``.npy``, optional
  ``time`` (T,) and ``variables`` (D,).

Anything wrong with the file is one :class:`~llmts.errors.LlmtsError` line naming the file (and
the row and column of a bad CSV cell). Values are not judged here: gaps are allowed or not by
the caller's settings, so callers run :func:`check_values` on :attr:`SeriesFile.series`.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from llmts.errors import LlmtsError, first_line

FORMATS = ".h5/.hdf5, .csv, .npy or .npz"
GAPS = {"", "nan", "na", "n/a", "null", "none"}  # CSV cells read as missing (case-insensitive)
GAP_FIX = "set data.missing=encode for gaps"


@dataclass(frozen=True)
class SeriesFile:
    """What a file holds: N series, their times and variable names."""

    series: list[np.ndarray]  # N arrays, each (T_i, D) float64; NaN = gap; D equal for all
    time: list[np.ndarray] | None  # N arrays (T_i,), each strictly increasing; None: no time
    variables: tuple[str, ...] | None  # names from the header / `variables` attribute
    source: str  # the path, for messages


def read_series(path: str | Path, time_column: str = "time", id_column: str = "id") -> SeriesFile:
    """Read the series in ``path`` (format by suffix, see the module docstring). A missing file
    is ``no such file: PATH`` (a caller may prefix the setting that named it)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise LlmtsError(f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix in (".h5", ".hdf5"):
        return _read_h5(path)
    if suffix == ".csv":
        return _read_csv(path, time_column, id_column)
    if suffix in (".npy", ".npz"):
        return _read_numpy(path)
    raise LlmtsError(f"{path}: unknown format {suffix or '(no suffix)'!r} (use {FORMATS})")


def check_values(series: Sequence[np.ndarray], where: str, gaps: bool) -> None:
    """Refuse ±inf always and NaN unless ``gaps`` (``data.missing=encode``): one line naming
    ``where`` (a file or ``input``), the first bad value's series, step and variable, and how
    many there are in all."""
    bad = [np.isinf(s) | (np.isnan(s) & (not gaps)) for s in series]
    first = next((i for i, b in enumerate(bad) if b.any()), None)
    if first is None:
        return
    s = np.asarray(series[first]).reshape(len(series[first]), -1)
    j, k = np.argwhere(bad[first].reshape(s.shape))[0]
    total = sum(int(b.sum()) for b in bad)
    fix = "" if np.isinf(s[j, k]) else f"; {GAP_FIX}"
    raise LlmtsError(
        f"{where}: non-finite value {s[j, k]} in series {first} at step {j}, "
        f"variable {k} ({total} in all){fix}"
    )


def _read_h5(path: Path) -> SeriesFile:
    import h5py

    if not h5py.is_hdf5(path):
        raise LlmtsError(f"{path}: not an HDF5 file")
    with h5py.File(path, "r") as f:
        if not isinstance(f.get("trajectories"), h5py.Dataset):
            raise LlmtsError(f"{path}: missing dataset 'trajectories' (have: {sorted(f.keys())})")
        traj = f["trajectories"]
        raw = traj.attrs.get("variables")
        names = (
            None
            if raw is None
            else tuple(v.decode() if isinstance(v, bytes) else str(v) for v in np.atleast_1d(raw))
        )
        if "time" in f and not isinstance(f["time"], h5py.Dataset):
            raise LlmtsError(f"{path}: 'time' must be a dataset")
        time = f["time"][()] if "time" in f else None
        return _from_array(path, "trajectories", traj[()], time, names)


def _read_numpy(path: Path) -> SeriesFile:
    kind = path.suffix.lower()[1:]
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise LlmtsError(f"{path}: not a .{kind} array ({first_line(exc)})") from None
    if isinstance(loaded, np.ndarray):
        return _from_array(path, "array", loaded, None, None)
    with loaded as z:
        keys = list(z.keys())
        data = [k for k in keys if k not in ("time", "variables")]
        key = "trajectories" if "trajectories" in keys else data[0] if len(data) == 1 else None
        if key is None:
            raise LlmtsError(
                f"{path}: need an array 'trajectories' or a single array (have: {sorted(keys)})"
            )
        try:
            traj = z[key]
            time = z["time"] if "time" in keys else None
            names = (
                tuple(str(v) for v in np.atleast_1d(z["variables"]))
                if "variables" in keys
                else None
            )
        except ValueError as exc:  # an object array, which allow_pickle=False refuses
            raise LlmtsError(f"{path}: not a .npz of plain arrays ({first_line(exc)})") from None
    return _from_array(path, key, traj, time, names)


def _from_array(path: Path, key: str, values: np.ndarray, time, names) -> SeriesFile:
    """A SeriesFile from an array (T,), (T, D) or (N, T, D) and an optional shared time (T,)."""
    values = np.asarray(values)
    if values.dtype.kind not in "fiu":
        raise LlmtsError(f"{path}: '{key}' must be numeric, got {values.dtype}")
    if values.ndim not in (1, 2, 3):
        raise LlmtsError(
            f"{path}: '{key}' must have shape (T,), (T, D) or (N, T, D), got {values.shape}"
        )
    if values.size == 0:
        raise LlmtsError(f"{path}: '{key}' is empty, shape {values.shape}")
    values = values.astype(np.float64)
    values = values[:, None] if values.ndim == 1 else values
    values = values[None] if values.ndim == 2 else values
    n, t, d = values.shape
    if names is not None and len(names) != d:
        raise LlmtsError(f"{path}: 'variables' names {len(names)} variables, '{key}' has D={d}")
    if time is not None:
        time = np.asarray(time)
        if time.dtype.kind not in "fiu":
            raise LlmtsError(f"{path}: 'time' must be numeric, got {time.dtype}")
        if time.shape != (t,):
            raise LlmtsError(f"{path}: 'time' must have shape ({t},) to match T, got {time.shape}")
        time = _check_time(path, time.astype(np.float64))
    return SeriesFile(list(values), None if time is None else [time] * n, names, str(path))


def _check_time(path: Path, time: np.ndarray, what: str = "'time'") -> np.ndarray:
    if not np.isfinite(time).all():
        raise LlmtsError(
            f"{path}: {what} has a missing or non-finite value at step "
            f"{int(np.argmin(np.isfinite(time)))}"
        )
    if not np.all(np.diff(time) > 0):
        j = int(np.argmin(np.diff(time) > 0))
        raise LlmtsError(
            f"{path}: {what} must be strictly increasing (step {j + 1}: "
            f"{time[j + 1]:g} after {time[j]:g})"
        )
    return time


def _read_csv(path: Path, time_column: str, id_column: str) -> SeriesFile:
    """One series, or many in long format when the header has ``id_column``; a first row that
    is not all numbers is the header. Rows are numbered as lines of the file (header = 1)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            rows = [(reader.line_num, r) for r in reader if any(c.strip() for c in r)]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise LlmtsError(f"{path}: not a readable CSV ({first_line(exc)})") from None
    if not rows:
        raise LlmtsError(f"{path}: empty CSV")
    first = rows[0][1]
    header = None if all(_number(c) is not None for c in first) else [c.strip() for c in first]
    body = rows[1:] if header else rows
    if not body:
        raise LlmtsError(f"{path}: empty CSV (a header and no rows)")
    width = len(first)
    lower = [h.lower() for h in header or ()]
    t_col = lower.index(time_column.lower()) if time_column.lower() in lower else None
    id_col = lower.index(id_column.lower()) if id_column.lower() in lower else None
    if header and "" in header:  # e.g. the unnamed index column pandas writes: not a variable
        raise LlmtsError(
            f"{path}: column {header.index('') + 1} has no name in the header (an "
            "index column? leave it out)"
        )
    value_cols = [k for k in range(width) if k not in (t_col, id_col)]
    if not value_cols:
        raise LlmtsError(f"{path}: no variable columns (only {', '.join(header)})")
    values = np.empty((len(body), width))
    ids: list[str] = []
    for i, (line, row) in enumerate(body):
        if len(row) != width:
            raise LlmtsError(f"{path}: row {line} has {len(row)} cells, expected {width}")
        for k, cell in enumerate(row):
            if k == id_col:
                ids.append(cell.strip())
                if not ids[-1]:
                    raise LlmtsError(f"{path}: row {line}, column {k + 1}: empty {header[k]!r}")
                continue
            v = _number(cell)
            if v is None or (k == t_col and math.isnan(v)):
                what = "missing" if v is not None else f"{cell.strip()!r} is not a number"
                if k == t_col:
                    what += f" (the time column {header[k]!r})"
                elif header and id_col is None and k == 0 and width > 1:  # an id named otherwise
                    what += f" (if {header[0]!r} names the series, call it {id_column!r})"
                raise LlmtsError(f"{path}: row {line}, column {k + 1}: {what}")
            values[i, k] = v
    names = tuple(header[k] for k in value_cols) if header else None
    lines = np.array([line for line, _ in body])
    if id_col is None:
        time = None if t_col is None else _check_time(path, values[:, t_col], f"{header[t_col]!r}")
        return SeriesFile(
            [values[:, value_cols]], None if time is None else [time], names, str(path)
        )
    return _long(
        path,
        values,
        ids,
        lines,
        t_col,
        value_cols,
        names,
        [row[t_col].strip() for _, row in body] if t_col is not None else None,
    )


def _long(
    path: Path,
    values: np.ndarray,
    ids: list[str],
    lines: np.ndarray,
    t_col: int | None,
    value_cols: list[int],
    names,
    time_text: list[str] | None,
) -> SeriesFile:
    """Long format: a series per id (first appearance order), each sorted by time; a duplicate
    (id, time) is an error naming both rows."""
    index = {x: g for g, x in enumerate(dict.fromkeys(ids))}
    group = np.array([index[x] for x in ids])
    by_id = np.split(np.argsort(group, kind="stable"), np.cumsum(np.bincount(group))[:-1])
    series, times = [], []
    for name, rows in zip(index, by_id):
        if t_col is not None:
            rows = rows[np.argsort(values[rows, t_col], kind="stable")]
            t = values[rows, t_col]
            dup = np.flatnonzero(np.diff(t) == 0)
            if len(dup):
                a, b = rows[dup[0]], rows[dup[0] + 1]
                raise LlmtsError(
                    f"{path}: id {name!r} has two rows at time {time_text[a]} "
                    f"(rows {lines[min(a, b)]} and {lines[max(a, b)]})"
                )
            times.append(_check_time(path, t, f"time of id {name!r}"))
        series.append(values[np.ix_(rows, value_cols)])
    return SeriesFile(series, times if t_col is not None else None, names, str(path))


def _number(cell: str) -> float | None:
    """A CSV cell's value: a float, NaN for a gap, None when it is not a number."""
    text = cell.strip()
    if text.lower() in GAPS:
        return math.nan
    try:
        return float(text)
    except ValueError:
        return None
