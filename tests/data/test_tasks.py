"""A benchmark's tasks: GIFT-Eval's horizon and windows by frequency, per-task overrides, the
shipped series written as files the reader reads."""

import numpy as np
import pytest
from omegaconf import OmegaConf

from llmts.config.benchmark import BenchmarkConfig
from llmts.data.frequency import unit
from llmts.data.tasks import horizon_for, resolve, resolve_all, windows_for
from llmts.errors import LlmtsError


@pytest.mark.parametrize(
    "freq, want, horizon",
    [
        ("YS", "Y", 6),
        ("YE-DEC", "Y", 6),
        ("A-DEC", "Y", 6),
        ("QS-OCT", "Q", 8),
        ("MS", "M", 12),
        ("BMS", "M", 12),
        ("SMS", "M", 12),
        ("B", "D", 30),
        ("W-SAT", "W", 8),
        ("D", "D", 30),
        ("h", "H", 48),
        ("30min", "T", 48),
        ("10s", "S", 60),
        ("ms", "S", 60),
    ],
)
def test_gift_evals_horizon_by_frequency(freq, want, horizon):
    """The unit comes from pandas' own parse of the alias: business and semi-month aliases are
    monthly, business days daily."""
    assert unit(freq) == want and horizon_for(freq, 99) == horizon


def test_an_unknown_frequency_takes_the_default_horizon():
    assert unit(None) is None and horizon_for(None, 20) == 20


def test_windows_are_a_tenth_of_the_series_capped_at_twenty():
    assert windows_for(144, 12) == 2  # ⌈14.4 / 12⌉
    assert windows_for(50, 12) == 1
    assert windows_for(100_000, 48) == 20 and windows_for(100_000, 48, cap=5) == 5


def _csv(path, n=60):
    path.write_text("time,y\n" + "".join(f"{t},{np.sin(t / 2):.4f}\n" for t in range(n)))
    return path


def test_a_task_entry_overrides_what_the_frequency_implies(tmp_path):
    path = _csv(tmp_path / "s.csv")
    t = resolve(OmegaConf.create({"path": str(path), "freq": "MS", "season_length": 12}), 20)
    assert (t.name, t.horizon, t.windows, t.length, t.num_vars) == ("s", 12, 1, 60, 1)
    t = resolve(
        OmegaConf.create({"path": str(path), "name": "x", "horizon": 5, "season_length": 7}), 20
    )
    assert (t.name, t.horizon, t.season_length, t.windows) == ("x", 5, 7, 2)
    t = resolve(OmegaConf.create({"path": str(path)}), 20)  # no frequency: the default, m = 1
    assert (t.horizon, t.season_length) == (20, 1)


def test_the_season_length_defaults_from_the_frequency(tmp_path):
    t = resolve(OmegaConf.create({"path": str(_csv(tmp_path / "s.csv")), "freq": "MS"}), 20)
    assert t.season_length == 12


def test_two_tasks_of_one_name_are_refused(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    bench = OmegaConf.structured(BenchmarkConfig)
    bench.paths = [str(_csv(a / "s.csv")), str(_csv(b / "s.csv"))]
    with pytest.raises(LlmtsError, match="two tasks are named 's'"):
        resolve_all(bench, 20)


def test_a_shipped_series_is_written_once_and_read_as_a_file(tmp_path):
    pytest.importorskip("statsmodels")
    from llmts.data import suite

    spec = OmegaConf.create({"series": "interest_inflation", "freq": "QS", "season_length": 4})
    t = resolve(spec, 20, cache=tmp_path)
    assert t.path == tmp_path / "benchmark" / "interest_inflation.csv"
    assert (t.length, t.num_vars, t.horizon, t.windows) == (107, 2, 8, 2)
    from llmts.data.readers import read_series

    values = read_series(t.path).series[0]
    assert values.min() < 0  # the suite's series with negative values
    stamp = t.path.stat().st_mtime_ns
    assert suite.materialise("interest_inflation", tmp_path).stat().st_mtime_ns == stamp
    with pytest.raises(LlmtsError, match="no shipped series 'nope'"):
        suite.materialise("nope", tmp_path)


def test_the_default_suite_names_only_shipped_series_with_every_frequency():
    from llmts.config.schema import CONF_DIR
    from llmts.data.suite import SERIES

    tasks = OmegaConf.load(f"{CONF_DIR}/benchmark/default.yaml").tasks
    assert len(tasks) >= 12 and all(t.series in SERIES for t in tasks)
    assert {unit(t.freq) for t in tasks} >= {"Y", "Q", "M", "W", "H"}
