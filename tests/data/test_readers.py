"""The one reader (every format, one series or many, ragged, names, times) and the one NaN/inf
check; every mistake in a file is one line naming it."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from llmts.data.readers import check_values, read_series
from llmts.errors import LlmtsError
from tests.helpers import make_h5


def test_csv_header_time_column_and_gaps(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("Time,prey,predator\n0,1.5,2\n2,,3\n4,NaN,4.25\n")
    f = read_series(path)
    assert f.variables == ("prey", "predator") and f.time[0].tolist() == [0, 2, 4]
    assert len(f.series) == 1 and f.series[0].shape == (3, 2) and f.source == str(path)
    assert np.isnan(f.series[0][1:, 0]).all() and f.series[0][2, 1] == 4.25
    path.write_text("1,2\n3,4\n")  # no header, no time
    f = read_series(path)
    assert f.series[0].tolist() == [[1, 2], [3, 4]] and f.time is None and f.variables is None


def test_csv_gap_spellings_blank_lines_a_bom_and_another_time_column(tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes("\ufeffstep,a\n\n1,NA\n2,null\n3, n/a \n4,none\n5,-2.5e1\n".encode())
    f = read_series(path, time_column="step")
    assert f.variables == ("a",) and f.time[0].tolist() == [1, 2, 3, 4, 5]
    assert np.isnan(f.series[0][:4]).all() and f.series[0][4, 0] == -25.0
    f = read_series(path)  # no column 'time': 'step' is a variable
    assert f.variables == ("step", "a") and f.time is None


def test_long_csv_ragged_series_by_first_appearance_sorted_by_time(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text(
        "item_id,x,timestamp,y\nb,1,30,2\na,5,0,6\nb,,10,4\na,7,1,8\nb,9,20,10\nc,0,5,0\n"
    )
    f = read_series(path, time_column="timestamp", id_column="item_id")
    assert f.variables == ("x", "y") and len(f.series) == 3
    assert [s.shape for s in f.series] == [(3, 2), (2, 2), (1, 2)]  # b, a, c
    assert [t.tolist() for t in f.time] == [[10, 20, 30], [0, 1], [5]]
    assert np.isnan(f.series[0][0, 0]) and f.series[0][1:].tolist() == [[9, 10], [1, 2]]
    assert f.series[1].tolist() == [[5, 6], [7, 8]]


def test_long_csv_without_a_time_column_keeps_the_file_order(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("ID,v\n7,3\n8,1\n7,2\n")  # numeric ids are names too
    f = read_series(path)
    assert f.time is None and f.variables == ("v",)
    assert [s[:, 0].tolist() for s in f.series] == [[3, 2], [1]]


def test_hdf5_and_npy(tmp_path):
    traj = np.random.default_rng(0).uniform(1, 2, (3, 30, 2))
    f = read_series(make_h5(tmp_path / "x.h5", traj))
    assert len(f.series) == 3 and np.array_equal(f.series[1], traj[1]) and f.time[0].shape == (30,)
    assert f.variables is None and f.series[0].dtype == np.float64
    np.save(tmp_path / "x.npy", traj[0, :, 0])
    f = read_series(tmp_path / "x.npy")
    assert f.series[0].shape == (30, 1) and f.time is None
    np.save(tmp_path / "x.npy", traj.astype(np.float32))
    assert [s.shape for s in read_series(tmp_path / "x.npy").series] == [(30, 2)] * 3


def test_hdf5_one_series_names_and_no_time(tmp_path):
    path = tmp_path / "one.hdf5"
    with h5py.File(path, "w") as f:
        f["trajectories"] = np.arange(20.0).reshape(10, 2)
        f["trajectories"].attrs["variables"] = ["prey", "predator"]
    f = read_series(path)
    assert len(f.series) == 1 and f.series[0].shape == (10, 2) and f.time is None
    assert f.variables == ("prey", "predator")


def test_npz_trajectories_time_and_names_or_a_single_array(tmp_path):
    traj = np.arange(24.0).reshape(2, 6, 2)
    np.savez(
        tmp_path / "a.npz",
        trajectories=traj,
        time=np.arange(6.0) * 2,
        variables=np.array(["u", "v"]),
        other=np.ones(3),
    )
    f = read_series(tmp_path / "a.npz")
    assert np.array_equal(np.stack(f.series), traj) and f.variables == ("u", "v")
    assert [t.tolist() for t in f.time] == [[0, 2, 4, 6, 8, 10]] * 2
    np.savez(tmp_path / "b.npz", np.arange(5))
    f = read_series(tmp_path / "b.npz")
    assert f.series[0][:, 0].tolist() == [0, 1, 2, 3, 4] and f.time is None


def _h5(name, traj, **kw):
    return lambda p: make_h5(p / name, traj, **kw)


def _text(name, content):
    def make(p):
        (p / name).write_text(content)
        return p / name

    return make


BAD = {
    "cell": (_text("a.csv", "prey,predator\n1,2\n3,x\n"), "row 3, column 2: 'x' is not a number"),
    "ragged": (_text("a.csv", "1,2\n3\n"), "row 2 has 1 cells, expected 2"),
    "ragged long": (_text("a.csv", "id,time,x\na,1,2\na,2\n"), "row 3 has 2 cells, expected 3"),
    "time order": (_text("a.csv", "time,v\n2,1\n1,2\n"), "strictly increasing"),
    "time gap": (_text("a.csv", "time,v\n1,1\n,2\n"), "row 3, column 1: missing"),
    "time text": (
        _text("a.csv", "time,v\n2020-01,1\nsoon,2\n"),
        "row 3, column 1: 'soon' is neither a number nor a date (the time column 'time')",
    ),
    "id named otherwise": (
        _text("a.csv", "series,time,v\na,1,1\n"),
        ("row 2, column 1: 'a' is not a number (if 'series' names the series, call it 'id')"),
    ),
    "unnamed column": (_text("a.csv", ",x\n0,1\n1,2\n"), "column 1 has no name in the header"),
    "duplicate": (
        _text("a.csv", "id,time,v\na,1,1\nb,1,2\na,2,3\na,1,4\n"),
        "id 'a' has two rows at time 1 (rows 2 and 5)",
    ),
    "inf time": (
        _text("a.csv", "id,time,v\na,1,1\na,inf,2\n"),
        "time of id 'a' has a missing or non-finite value at step 1",
    ),
    "empty id": (_text("a.csv", "id,v\na,1\n,2\n"), "row 3, column 1: empty 'id'"),
    "empty": (_text("a.csv", "\n \n"), "empty CSV"),
    "header only": (_text("a.csv", "time,x\n"), "a header and no rows"),
    "no variables": (_text("a.csv", "id,time\na,1\n"), "no variable columns"),
    "unknown format": (
        _text("a.txt", "1,2\n"),
        ("unknown format '.txt' (use .csv, .parquet, .h5/.hdf5, .npy or .npz)"),
    ),
    "missing": (lambda p: p / "none.csv", "no such file: "),
    "not hdf5": (_text("a.h5", "not hdf5"), "not an HDF5 file"),
    "not npy": (_text("a.npy", "not npy"), "not a .npy array"),
    "not npz": (_text("a.npz", "not npz"), "not a .npz array"),
    "npz which": (
        lambda p: np.savez(p / "a.npz", x=np.ones(3), y=np.ones(3)) or p / "a.npz",
        "need an array 'trajectories' or a single array (have: ['x', 'y'])",
    ),
    "npz objects": (
        lambda p: (
            np.savez(p / "a.npz", trajectories=np.array([1, "a"], dtype=object)) or p / "a.npz"
        ),
        "not a .npz of plain arrays",
    ),
    "no trajectories": (_h5("a.h5", False), "missing dataset 'trajectories'"),
    "h5 rank": (_h5("a.h5", np.ones((2, 3, 4, 5))), "must have shape (T,), (T, D) or (N, T, D)"),
    "h5 empty": (_h5("a.h5", np.ones((0, 80, 2))), "'trajectories' is empty"),
    "h5 strings": (_h5("a.h5", np.array([[["a", "b"]] * 80] * 2, dtype="S1")), "must be numeric"),
    "h5 time length": (
        _h5("a.h5", np.ones((2, 80, 2)), time=np.arange(79.0)),
        "'time' must have shape (80,) to match T",
    ),
    "h5 time order": (
        _h5("a.h5", np.ones((2, 80, 2)), time=np.arange(80.0)[::-1]),
        "'time' must be strictly increasing (step 1: 78 after 79)",
    ),
    "h5 time text": (
        _h5("a.h5", np.ones((2, 3, 2)), time=np.array([b"a", b"b", b"c"])),
        "'time' must be numeric",
    ),
    "h5 time nan": (
        _h5("a.h5", np.ones((2, 3, 2)), time=np.array([0, np.nan, 2])),
        "'time' has a missing or non-finite value at step 1",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_one_line_naming_the_file(tmp_path, case):
    make, message = BAD[case]
    path = make(tmp_path)
    with pytest.raises(LlmtsError) as err:
        read_series(path)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert str(path) in str(err.value)


def test_hdf5_variable_names_must_match_d(tmp_path):
    path = make_h5(tmp_path / "x.h5", np.ones((2, 5, 3)))
    with h5py.File(path, "a") as f:
        f["trajectories"].attrs["variables"] = ["a", "b"]
    with pytest.raises(LlmtsError, match="'variables' names 2 variables, 'trajectories' has D=3"):
        read_series(path)


def test_check_values_refuses_inf_always_and_nan_without_gaps():
    ok = np.ones((4, 2))
    gap = ok.copy()
    gap[2, 1] = np.nan
    check_values([ok, ok], "input", gaps=False)
    check_values([ok, gap], "input", gaps=True)
    with pytest.raises(LlmtsError) as err:
        check_values([ok, gap, gap], "data.csv", gaps=False)
    assert str(err.value) == (
        "data.csv: non-finite value nan in series 1 at step 2, variable 1 "
        "(2 in all); set data.missing=encode for gaps"
    )
    inf = ok.copy()
    inf[3, 0] = -np.inf
    for gaps in (False, True):
        with pytest.raises(LlmtsError) as err:
            check_values([ok, gap, inf], "input", gaps=gaps)
        msg = str(err.value)
        first = "series 2 at step 3, variable 0" if gaps else "series 1 at step 2, variable 1"
        assert msg.startswith("input: non-finite value") and first in msg
        assert ("missing=encode" in msg) == (not gaps) and "\n" not in msg
    with pytest.raises(LlmtsError, match="value -inf in series 0 at step 3, variable 0"):
        check_values([inf[:, 0]], "input", gaps=True)  # (T,) works too


@pytest.mark.parametrize(
    "dates",
    [
        ["2000-01-01", "2000-02-01", "2000-03-01", "2000-04-01"],
        ["2000-01", "2000-02", "2000-03", "2000-04"],
        ["01/01/2000", "02/01/2000", "03/01/2000", "04/01/2000"],
        ["2000-01-01 00:00:00", "2000-02-01 00:00:00", "2000-03-01 00:00:00", "2000-04-01"],
        ["Jan 2000", "Feb 2000", "Mar 2000", "Apr 2000"],
    ],
)
def test_a_pandas_written_csv_with_dates_in_any_spelling(tmp_path, dates):
    """A `date` column (found by name) of month starts, written several ways."""
    path = tmp_path / "sales.csv"
    rows = "".join(f"{d},{i},{i / 2}\n" for i, d in enumerate(dates))
    path.write_text("date,sales,price\n" + rows)
    f = read_series(path)
    assert f.variables == ("sales", "price") and f.freq == "MS"
    assert f.series[0][:, 0].tolist() == [0, 1, 2, 3] and f.time[0].tolist() == [0, 1, 2, 3]
    assert str(f.dates[0][0])[:10] == "2000-01-01" and str(f.dates[0][-1])[:10] == "2000-04-01"


def test_the_time_column_is_found_by_type_when_no_name_says_it(tmp_path):
    path = tmp_path / "air.csv"
    path.write_text("Month,Passengers\n1949-01,112\n1949-02,118\n1949-03,132\n")
    f = read_series(path)
    assert f.variables == ("Passengers",) and f.freq == "MS" and len(f.dates[0]) == 3


def test_pandas_round_trip_wide_and_both_long_formats(tmp_path):
    pd = pytest.importorskip("pandas")
    days = pd.date_range("2021-03-01", periods=10, freq="D")
    wide = pd.DataFrame({"date": days, "a": np.arange(10.0), "b": -np.arange(10.0)})
    wide.to_csv(tmp_path / "wide.csv", index=False)
    f = read_series(tmp_path / "wide.csv")
    assert f.freq == "D" and f.series[0].shape == (10, 2) and f.series[0][3, 1] == -3
    nixtla = pd.DataFrame(
        {
            "unique_id": ["x"] * 10 + ["y"] * 6,
            "ds": list(days) + list(days[:6]),
            "y": np.r_[np.arange(10.0), 100 + np.arange(6.0)],
        }
    ).sample(frac=1.0, random_state=0)  # any row order
    nixtla.to_csv(tmp_path / "nixtla.csv", index=False)
    f = read_series(tmp_path / "nixtla.csv")
    assert f.variables == ("y",) and [len(s) for s in f.series] == [10, 6] or [6, 10]
    by_len = sorted(f.series, key=len)
    assert by_len[0][:, 0].tolist() == (100 + np.arange(6.0)).tolist() and f.freq == "D"
    autogluon = nixtla.rename(columns={"unique_id": "item_id", "ds": "timestamp", "y": "target"})
    autogluon.to_parquet(tmp_path / "ag.parquet")
    g = read_series(tmp_path / "ag.parquet")
    assert g.variables == ("target",) and g.freq == "D"
    assert sorted(len(s) for s in g.series) == [6, 10]
    wide.set_index("date").to_parquet(tmp_path / "indexed.parquet")  # the index stored
    h = read_series(tmp_path / "indexed.parquet")
    assert h.variables == ("a", "b") and h.freq == "D" and h.series[0].shape == (10, 2)


def test_a_skipped_month_is_a_gap_on_the_calendar(tmp_path):
    path = tmp_path / "gap.csv"
    months = ["2000-01-01", "2000-02-01", "2000-04-01", "2000-05-01", "2000-06-01"]
    path.write_text("date,v\n" + "".join(f"{m},{i + 1}\n" for i, m in enumerate(months)))
    f = read_series(path)
    assert f.freq == "MS" and len(f.series[0]) == 6
    assert np.isnan(f.series[0][2, 0]) and f.series[0][3, 0] == 3
    assert str(f.dates[0][2])[:10] == "2000-03-01"
    with pytest.raises(LlmtsError, match="missing=encode"):
        check_values(f.series, f.source, gaps=False)


def test_irregular_dates_keep_their_rows_without_a_frequency(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text("time,v\n2000-01-01,1\n2000-01-02,2\n2000-01-09,3\n2000-02-20,4\n")
    f = read_series(path)
    assert f.freq is None and len(f.series[0]) == 4 and f.time[0].tolist() == [0, 1, 2, 3]


def test_named_columns_and_a_missing_one(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text(
        "store,when,units\na,2020-01-06,1\na,2020-01-13,2\nb,2020-01-06,3\na,2020-01-20,4\n"
    )
    f = read_series(path, time_column="when", id_column="store")
    assert [s[:, 0].tolist() for s in f.series] == [[1, 2, 4], [3]] and f.freq == "W-MON"
    with pytest.raises(LlmtsError, match=r"no column 'shop' \(data.id_column; have: store, when"):
        read_series(path, id_column="shop")


TABLE_BAD = {
    "dates out of order": ("date,v\n2000-02-01,1\n2000-01-01,2\n", "strictly increasing (step 1"),
    "duplicate id and date": (
        "unique_id,ds,y\na,2000-01-01,1\na,2000-01-01,2\n",
        "id 'a' has two rows at time 2000-01-01 (rows 2 and 3)",
    ),
    "text in a value column": ("ds,y\n2000-01-01,1\n2000-01-02,lots\n", "row 3, column 2: 'lots'"),
    "ragged with dates": ("date,v\n2000-01-01,1\n2000-01-02\n", "row 3 has 1 cells, expected 2"),
    "unparseable date": ("date,v\n2000-01-01,1\nyesterday,2\n", "'yesterday' is neither"),
    "missing date": ("date,v\n2000-01-01,1\n,2\n", "row 3, column 1: missing (the time column"),
}


@pytest.mark.parametrize("case", TABLE_BAD)
def test_bad_tables_are_one_line(tmp_path, case):
    text, message = TABLE_BAD[case]
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(LlmtsError) as err:
        read_series(path)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert str(path) in str(err.value)


def test_a_damaged_parquet_file_is_one_line(tmp_path):
    path = tmp_path / "x.parquet"
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(LlmtsError, match="not a readable Parquet file") as err:
        read_series(path)
    assert "\n" not in str(err.value)
