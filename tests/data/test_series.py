import numpy as np
import pytest

from llmts.config.schema import DataConfig
from llmts.data.series import load_dataset, simulate_lotka_volterra, write_h5
from llmts.data.split import split_indices
from llmts.errors import LlmtsError
from tests.helpers import make_h5


def load(path, min_steps=71):
    return load_dataset(DataConfig(path=str(path)), seed=42, min_steps=min_steps)


def test_simulated_lotka_volterra_matches_report_shape_and_is_cached(tmp_path):
    cfg = DataConfig(cache_dir=str(tmp_path), num_series=1000, num_steps=100)
    ds = load_dataset(cfg, seed=42, min_steps=71)
    assert ds.series.shape == (1000, 100, 2) and ds.time.shape == (100,)
    assert ds.variables == ("prey", "predator") and (ds.series > 0).all()
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].suffix == ".h5"
    mtime = files[0].stat().st_mtime_ns
    load_dataset(cfg, seed=42)
    assert files[0].stat().st_mtime_ns == mtime  # generated once


def test_simulation_is_seeded():
    a, _ = simulate_lotka_volterra(3, 20, 40.0, seed=1)
    b, _ = simulate_lotka_volterra(3, 20, 40.0, seed=1)
    c, _ = simulate_lotka_volterra(3, 20, 40.0, seed=2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_user_file_any_number_of_variables(tmp_path):
    traj = np.random.default_rng(1).normal(size=(4, 80, 3))
    ds = load(make_h5(tmp_path / "d.h5", traj))
    assert ds.num_vars == 3 and ds.variables == ("var0", "var1", "var2")
    write_h5(tmp_path / "n.h5", traj, np.arange(80.0), ("a", "b", "c"))
    assert load(tmp_path / "n.h5").variables == ("a", "b", "c")


BAD = {
    "missing file": (lambda p: p / "nope.h5", "no such file"),
    "not hdf5": (lambda p: (p / "x.h5").write_text("hello") and p / "x.h5", "not an HDF5 file"),
    "no trajectories": (
        lambda p: make_h5(p / "x.h5", traj=False),
        "missing dataset 'trajectories'",
    ),
    "wrong rank": (lambda p: make_h5(p / "x.h5", np.ones((2, 5, 80, 2))), "(N, T, D)"),
    "nan": (
        lambda p: make_h5(
            p / "x.h5", np.where(np.arange(5 * 80 * 2).reshape(5, 80, 2) == 17, np.nan, 1.0)
        ),
        "non-finite value nan in series 0 at step 8, variable 1",
    ),
    "inf": (lambda p: make_h5(p / "x.h5", np.full((2, 80, 2), np.inf)), "non-finite"),
    "too short": (lambda p: make_h5(p / "x.h5", np.ones((5, 30, 2))), "fewer than the 71 needed"),
    "time length": (
        lambda p: make_h5(p / "x.h5", time=np.arange(79.0)),
        "'time' must have shape (80,)",
    ),
    "time order": (
        lambda p: make_h5(p / "x.h5", time=np.arange(80.0)[::-1]),
        "strictly increasing",
    ),
    "empty": (lambda p: make_h5(p / "x.h5", np.ones((0, 80, 2))), "empty"),
    "strings": (
        lambda p: make_h5(p / "x.h5", np.array([[["a", "b"]] * 80] * 2, dtype="S1")),
        "numeric",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_files_raise_one_clear_line(tmp_path, case):
    make, expected = BAD[case]
    path = make(tmp_path)
    with pytest.raises(LlmtsError) as err:
        load(path)
    msg = str(err.value)
    assert expected in msg and "\n" not in msg
    assert str(path) in msg or "data.path" in msg


def test_split_is_deterministic_and_disjoint():
    cfg = DataConfig()
    a, b = split_indices(1000, cfg, 42), split_indices(1000, cfg, 42)
    assert all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("train", "val", "test"))
    assert (len(a.train), len(a.val), len(a.test)) == (720, 180, 100)
    assert len(set(a.train) | set(a.val) | set(a.test)) == 1000
    assert not np.array_equal(split_indices(1000, cfg, 1).test, a.test)


def test_written_dataset_equals_the_simulated_one(tmp_path):
    from llmts.data.series import main

    main([str(tmp_path / "lv.h5"), "--num-series", "20"])
    cfg = DataConfig(cache_dir=str(tmp_path / "cache"), num_series=20)
    a = load_dataset(DataConfig(path=str(tmp_path / "lv.h5")), seed=0)
    b = load_dataset(cfg, seed=42)
    assert np.array_equal(a.series, b.series) and a.variables == ("prey", "predator")


def test_gaps_need_missing_encode_and_missing_frac_knocks_simulated_values_out(tmp_path):
    traj = np.ones((5, 80, 2))
    traj[1, 3, 0] = np.nan
    path = make_h5(tmp_path / "gaps.h5", traj)
    with pytest.raises(LlmtsError, match="set data.missing=encode"):
        load(path)
    got = load_dataset(DataConfig(path=str(path), missing="encode"), seed=42, min_steps=71)
    assert np.isnan(got.series).sum() == 1
    cfg = DataConfig(
        cache_dir=str(tmp_path), num_series=20, num_steps=50, missing="encode", missing_frac=0.1
    )
    a, b = load_dataset(cfg, seed=1), load_dataset(cfg, seed=1)
    share = np.isnan(a.series).mean()
    assert 0.07 < share < 0.13 and np.array_equal(np.isnan(a.series), np.isnan(b.series))
    full = load_dataset(DataConfig(cache_dir=str(tmp_path), num_series=20, num_steps=50), seed=1)
    seen = ~np.isnan(a.series)
    assert np.array_equal(a.series[seen], full.series[seen])  # only knocked out, never moved


def test_a_file_without_time_counts_steps_and_one_series_needs_no_n_axis(tmp_path):
    ds = load(make_h5(tmp_path / "x.h5", np.ones((80, 2)) * 3, time=False))
    assert ds.series.shape == (1, 80, 2) and ds.time.tolist() == list(range(80))


def test_series_of_different_lengths_need_the_time_split(tmp_path):
    rows = (
        ["id,time,x"]
        + [f"a,{t},{1 + t % 5}" for t in range(90)]
        + [f"b,{t},{2 + t % 3}" for t in range(120)]
    )
    path = tmp_path / "long.csv"
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(LlmtsError, match="series have 90 to 120 steps; data.split=series needs"):
        load(path)
    ds = load_dataset(DataConfig(path=str(path), split="time"), seed=0, min_steps=71)
    assert ds.lengths.tolist() == [90, 120] and ds.series.shape == (2, 120, 1)
    assert np.isnan(ds.series[0, 90:]).all() and not np.isnan(ds.series[1]).any()
    assert ds.variables == ("x",)
