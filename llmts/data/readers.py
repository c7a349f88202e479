"""The one file reader of every entry point (``llmts``, ``llmts-forecast``, ``Forecaster``) and the
one NaN/inf check of every series that comes in.

Formats (by suffix):

- ``.csv`` and ``.parquet`` (read by pandas; Parquet through pyarrow), as the ecosystem writes
  them. WIDE: one series, a row per step, a column per variable, an optional header, an optional
  time column. LONG: many series stacked, an id column naming each one's rows, lengths may differ
  (Nixtla's ``unique_id,ds,y``, AutoGluon/Chronos's ``item_id,timestamp,target``, or any
  ``<id>,<time>,<variables>``); a series per id in order of first appearance, its rows sorted by
  time. The id column is ``id_column`` or the first of :data:`ID_NAMES`; the time column is
  ``time_column``, else the first of :data:`TIME_NAMES`, else a column of dates. Times are numbers
  or dates/timestamps in any spelling pandas parses; dated series get a frequency (a pandas offset
  alias, :mod:`llmts.data.frequency`), and a date skipped on that calendar becomes a gap (a NaN
  row). Empty, ``nan``, ``NA``, ``null`` cells are gaps. Column names are case-insensitive; a
  UTF-8 BOM is ignored.
- ``.h5``/``.hdf5``: dataset ``trajectories`` (N, T, D), (T, D) or (T,); optional ``time`` (T,);
  an optional ``variables`` attribute on ``trajectories`` names the D variables.
- ``.npy``: an array (T,), (T, D) or (N, T, D).
- ``.npz``: a ``trajectories`` array (or the archive's only array) shaped as ``.npy``, optional
  ``time`` (T,) and ``variables`` (D,).

Anything wrong with the file is one :class:`~llmts.errors.LlmtsError` line naming the file (and
the row and column of a bad table cell: rows numbered as lines of a CSV, header = 1, or as rows
of a Parquet table from 1). Values are not judged here: gaps are allowed or not by the caller's
settings, so callers run :func:`check_values` on :attr:`SeriesFile.series`.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from llmts.data.frequency import date_text, infer_freq, regular_grid
from llmts.errors import LlmtsError, first_line

log = logging.getLogger(__name__)
FORMATS = ".csv, .parquet, .h5/.hdf5, .npy or .npz"
GAPS = {"", "nan", "na", "n/a", "null", "none"}  # table cells read as missing (case-insensitive)
GAP_FIX = "set data.missing=encode for gaps"
ID_NAMES = ("id", "unique_id", "item_id")  # llmts, Nixtla, AutoGluon/Chronos
TIME_NAMES = ("time", "timestamp", "ds", "date", "datetime")


@dataclass(frozen=True)
class SeriesFile:
    """What a file holds: N series, their times and variable names."""

    series: list[np.ndarray]  # N arrays, each (T_i, D) float64; NaN = gap; D equal for all
    time: list[np.ndarray] | None  # N arrays (T_i,), each strictly increasing; None: no time
    variables: tuple[str, ...] | None  # names from the header / `variables` attribute
    source: str  # the path, for messages
    dates: list[np.ndarray] | None = None  # N datetime64 arrays (T_i,) of dated series
    freq: str | None = None  # pandas offset alias of the dates' calendar; None: unknown


def read_series(
    path: str | Path, time_column: str | None = None, id_column: str | None = None
) -> SeriesFile:
    """Read the series in ``path`` (format by suffix, see the module docstring). A missing file
    is ``no such file: PATH`` (a caller may prefix the setting that named it). ``time_column`` /
    ``id_column`` name a table's columns; null: found by name (or, for time, by type)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise LlmtsError(f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix in (".h5", ".hdf5"):
        return _read_h5(path)
    if suffix in (".csv", ".parquet", ".pq"):
        read = _csv_cells if suffix == ".csv" else _parquet_columns
        return _read_table(path, *read(path), time_column, id_column)
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


def _is_number(cell: str) -> bool:
    text = cell.strip()
    if text.lower() in GAPS:
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def _csv_cells(path: Path):
    """A CSV's cells as text: (header or None, body as a frame of stripped strings, the file line
    of each body row). A first row that is not all numbers (or gaps) is the header."""
    try:
        with path.open(encoding="utf-8-sig") as fh:  # leading blank lines: the width is row 1's
            lead = next((i for i, line in enumerate(fh) if line.strip()), None)
        if lead is None:
            raise LlmtsError(f"{path}: empty CSV")
        # The python engine tells a short row (None past its end) from an empty cell ('').
        raw = pd.read_csv(
            path,
            header=None,
            skiprows=lead,
            dtype=object,
            keep_default_na=False,
            skip_blank_lines=False,
            engine="python",
            encoding="utf-8-sig",
        )
    except pd.errors.EmptyDataError:
        raise LlmtsError(f"{path}: empty CSV") from None
    except pd.errors.ParserError as exc:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if m:
            row = int(m[2]) + lead
            raise LlmtsError(f"{path}: row {row} has {m[3]} cells, expected {m[1]}") from None
        raise LlmtsError(f"{path}: not a readable CSV ({first_line(exc)})") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise LlmtsError(f"{path}: not a readable CSV ({first_line(exc)})") from None
    cells = raw.apply(lambda col: col.str.strip())
    given = cells.notna().to_numpy()
    blank = ~(given & (cells.fillna("") != "").to_numpy()).any(axis=1)
    width = cells.shape[1]
    for i in np.flatnonzero(~blank & ~given.all(axis=1)):
        raise LlmtsError(
            f"{path}: row {i + 1 + lead} has {int(given[i].sum())} cells, expected {width}"
        )
    lines = np.flatnonzero(~blank) + 1 + lead
    cells = cells[~blank].reset_index(drop=True)
    if cells.empty:
        raise LlmtsError(f"{path}: empty CSV")
    first = cells.iloc[0].tolist()
    if all(_is_number(c) for c in first):
        return None, cells, lines
    body = cells.iloc[1:].reset_index(drop=True)
    if body.empty:
        raise LlmtsError(f"{path}: empty CSV (a header and no rows)")
    if "" in first:  # e.g. the unnamed index column pandas writes: not a variable
        raise LlmtsError(
            f"{path}: column {first.index('') + 1} has no name in the header (an "
            "index column? leave it out)"
        )
    return first, body, lines[1:]


def _parquet_columns(path: Path):
    """A Parquet table's columns as pandas reads them (an index it stored back as a column),
    with rows numbered from 1."""
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many kinds for a bad file
        raise LlmtsError(f"{path}: not a readable Parquet file ({first_line(exc)})") from None
    if any(name is not None for name in frame.index.names):  # e.g. a date index, stored
        frame = frame.reset_index()
    if frame.empty:
        raise LlmtsError(f"{path}: empty table (no rows)")
    return [str(c) for c in frame.columns], frame.reset_index(drop=True), np.arange(len(frame)) + 1


def _numbers(col) -> tuple[np.ndarray, np.ndarray]:
    """A column's values as float64 (gaps NaN) and where a cell is not a number."""
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        return col.to_numpy(dtype=np.float64, na_value=np.nan), np.zeros(len(col), bool)
    text = col.astype("string").str.strip()
    gap = (text.isna() | text.str.lower().isin(GAPS)).to_numpy()
    values = pd.to_numeric(text.where(~gap), errors="coerce").to_numpy(np.float64, na_value=np.nan)
    return values, np.isnan(values) & ~gap


def _dates(col) -> np.ndarray:
    """A column of dates/timestamps as datetime64[ns] (NaT where it holds no date); time zones
    become UTC, then naive."""
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        return col.dt.tz_convert(None).to_numpy("datetime64[ns]")
    if pd.api.types.is_datetime64_any_dtype(col):
        return col.to_numpy("datetime64[ns]")
    text = col.astype("string").str.strip()
    for fmt in (None, "mixed"):  # one inferred format first (fast), then each cell its own
        try:
            with warnings.catch_warnings():  # "could not infer format": the next try is mixed
                warnings.simplefilter("ignore", UserWarning)
                parsed = pd.to_datetime(text, errors="coerce", utc=True, format=fmt)
        except (ValueError, TypeError, OverflowError):
            continue
        if parsed.notna().all():
            break
    return parsed.dt.tz_localize(None).to_numpy("datetime64[ns]")


def _is_date_column(col) -> bool:
    """Holds dates, not numbers: a datetime column, or text whose cells all parse as dates."""
    if pd.api.types.is_datetime64_any_dtype(col) or isinstance(col.dtype, pd.DatetimeTZDtype):
        return True
    if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        return False
    _, not_number = _numbers(col)
    return bool(not_number.all()) and not np.isnat(_dates(col)).any()


def _column(path: Path, header, name: str | None, known: tuple[str, ...], key: str) -> int | None:
    """The index of column ``name`` (case-insensitive; an error if absent), else of the first
    of ``known`` in the header, else None."""
    lower = [h.lower() for h in header or ()]
    if name is not None:
        if name.lower() not in lower:
            have = ", ".join(header) if header else "no header"
            raise LlmtsError(f"{path}: no column {name!r} ({key}; have: {have})")
        return lower.index(name.lower())
    return next((lower.index(k) for k in known if k in lower), None)


def _read_table(
    path: Path, header, frame, lines, time_column: str | None, id_column: str | None
) -> SeriesFile:
    """A table (wide or long, see the module docstring) as a SeriesFile."""
    width = frame.shape[1]
    id_col = _column(path, header, id_column, ID_NAMES, "data.id_column")
    t_col = _column(path, header, time_column, TIME_NAMES, "data.time_column")
    if t_col is None and header:
        t_col = next(
            (k for k in range(width) if k != id_col and _is_date_column(frame.iloc[:, k])), None
        )
    value_cols = [k for k in range(width) if k not in (t_col, id_col)]
    if not value_cols:
        raise LlmtsError(f"{path}: no variable columns (only {', '.join(header)})")

    def cell_error(i: int, k: int, what: str) -> LlmtsError:
        return LlmtsError(f"{path}: row {lines[i]}, column {k + 1}: {what}")

    ids = None
    if id_col is not None:
        ids = frame.iloc[:, id_col].astype("string").str.strip().fillna("")
        if (empty := np.flatnonzero((ids == "").to_numpy())).size:
            raise cell_error(empty[0], id_col, f"empty {header[id_col]!r}")
        ids = ids.tolist()
    values = np.empty((len(frame), len(value_cols)))
    bad = np.zeros(values.shape, bool)
    for j, k in enumerate(value_cols):
        values[:, j], bad[:, j] = _numbers(frame.iloc[:, k])
    if bad.any():
        i, j = np.argwhere(bad)[0]
        k = value_cols[j]
        what = f"{str(frame.iloc[i, k]).strip()!r} is not a number"
        if header and id_col is None and k == 0 and width > 1:  # an id named otherwise
            what += f" (if {header[0]!r} names the series, call it 'id')"
        raise cell_error(i, k, what)
    time, dated = None, False
    if t_col is not None:
        time, dated = _times(frame.iloc[:, t_col], header[t_col], t_col, cell_error)
    names = tuple(header[k] for k in value_cols) if header else None
    if ids is None:
        series = [values]
        times = None if time is None or dated else [_check_time(path, time, f"{header[t_col]!r}")]
        times = [time] if dated else times
    else:
        text = None if time is None else frame.iloc[:, t_col].astype("string").str.strip()
        series, times = _long(path, values, ids, lines, time, text)
    if not dated:
        return SeriesFile(series, times, names, str(path))
    return _on_calendar(path, series, times, names)


def _times(col, name: str, k: int, cell_error):
    """A time column as float64 numbers or datetime64 dates, and whether they are dates; a
    missing or unreadable cell is an error naming it."""
    numbers, not_number = _numbers(col)
    dates = _dates(col) if not_number.any() else None
    missing = np.isnan(numbers) if dates is None else np.isnat(dates)
    if missing.any():
        i = int(np.argmax(missing))
        cell = "" if col.isna().iloc[i] else str(col.iloc[i]).strip()
        what = "missing" if cell.lower() in GAPS else f"{cell!r} is neither a number nor a date"
        raise cell_error(i, k, f"{what} (the time column {name!r})")
    return (numbers, False) if dates is None else (dates, True)


def _long(path: Path, values: np.ndarray, ids: list[str], lines, time, time_text):
    """Long format: a series per id (first appearance order), each sorted by time; a duplicate
    (id, time) is an error naming both rows."""
    index = {x: g for g, x in enumerate(dict.fromkeys(ids))}
    group = np.array([index[x] for x in ids])
    by_id = np.split(np.argsort(group, kind="stable"), np.cumsum(np.bincount(group))[:-1])
    series, times = [], []
    for name, rows in zip(index, by_id):
        if time is not None:
            rows = rows[np.argsort(time[rows], kind="stable")]
            t = time[rows]
            dup = np.flatnonzero(t[1:] == t[:-1])
            if len(dup):
                a, b = rows[dup[0]], rows[dup[0] + 1]
                raise LlmtsError(
                    f"{path}: id {name!r} has two rows at time {time_text[a]} "
                    f"(rows {lines[min(a, b)]} and {lines[max(a, b)]})"
                )
            times.append(t if t.dtype.kind == "M" else _check_time(path, t, f"time of id {name!r}"))
        series.append(values[rows])
    return series, times if time is not None else None


def _on_calendar(path: Path, series: list[np.ndarray], dates: list[np.ndarray], names):
    """Dated series on their calendar: the frequency, skipped dates as NaN rows, times as steps
    from each series' first date. Dates must increase within a series."""
    for d in dates:
        if (j := np.flatnonzero(np.diff(d) <= np.timedelta64(0))).size:
            raise LlmtsError(
                f"{path}: dates must be strictly increasing (step {j[0] + 1}: "
                f"{date_text(d[j[0] + 1])} after {date_text(d[j[0]])})"
            )
    freq = infer_freq(dates)
    if freq is None:
        log.info("%s: dates on no regular calendar (frequency unknown)", path)
    else:
        grids = [regular_grid(d, s, freq) for d, s in zip(dates, series)]
        skipped = sum(len(g) - len(d) for (g, _), d in zip(grids, dates))
        if skipped:
            log.warning(
                "%s: %d date(s) missing from the %s calendar: those steps are gaps (NaN)",
                path,
                skipped,
                freq,
            )
        dates, series = [g for g, _ in grids], [s for _, s in grids]
    times = [np.arange(len(d), dtype=np.float64) for d in dates]
    return SeriesFile(series, times, names, str(path), dates=list(dates), freq=freq)
