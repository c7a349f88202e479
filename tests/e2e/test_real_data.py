"""Real data as the ecosystem writes it, through the real CLI on the shipped mini model: a
pandas-written CSV with a date column, Nixtla's long CSV, AutoGluon's Parquet; the frequency
and season length in the log and data.json; the best validation step evaluated; the warnings a
short series earns."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.helpers import llmts

pytestmark = pytest.mark.slow  # every test here runs the CLI in a subprocess

FAST = [
    "model=mini",
    "logger=none",
    "data.split=time",
    "train.max_steps=4",
    "train.eval_every=2",
    "train.batch_size=2",
    "data.context_length=256",
    "eval.context_steps=24",
    "eval.horizon=6",
    "eval.plot_series=1",
    "eval.bootstrap=0",
]


def monthly(n: int, seed: int = 0, level: float = 50.0) -> np.ndarray:
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    return level + 0.05 * t + 8 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 1.5, n)


def test_a_pandas_csv_with_dates_trains_on_its_past_and_evaluates_its_best_step(tmp_path):
    dates = pd.date_range("2001-01-01", periods=120, freq="MS")
    frame = pd.DataFrame({"date": dates, "sales": monthly(120), "price": monthly(120, 1, 20)})
    frame.to_csv(tmp_path / "sales.csv", index=False)
    run = tmp_path / "run"
    res = llmts(f"data.path={tmp_path / 'sales.csv'}", *FAST, f"hydra.run.dir={run}")
    assert res.returncode == 0, res.stderr[-3000:]
    data = json.loads((run / "data.json").read_text())
    assert data["freq"] == "MS" and data["season_length"] == 12
    assert data["variables"] == ["sales", "price"] and data["first_date"].startswith("2001-01-01")
    log = (run / "llmts.log").read_text()
    assert "frequency MS" in log and "season length 12" in log
    assert "windows of 1 series" in log  # rolling origins counted as windows, not series
    m = json.loads((run / "metrics.json").read_text())
    assert f"evaluating step {m['selected_step']}" in log
    assert m["selected_step"] in (0, 2, 4) and m["trained_steps"] == 4
    assert (run / "checkpoints" / "selected.json").is_file()
    results = (run / "results.md").read_text()  # the printed table under its provenance
    assert (
        "| commit | " in results
        and "MASE" in results
        and "(rolling origins of 1 series)" in results
    )
    assert list((run / "plots").glob("series_0*.png"))


def test_nixtla_csv_and_autogluon_parquet_of_several_series(tmp_path):
    days = pd.date_range("2022-01-03", periods=90, freq="D")
    long = pd.concat(
        pd.DataFrame({"unique_id": f"s{k}", "ds": days[k * 5 :], "y": monthly(90 - k * 5, k)})
        for k in range(3)
    )
    long.to_csv(tmp_path / "nixtla.csv", index=False)
    long.rename(columns={"unique_id": "item_id", "ds": "timestamp", "y": "target"}).to_parquet(
        tmp_path / "ag.parquet"
    )
    for name in ("nixtla.csv", "ag.parquet"):
        run = tmp_path / name.replace(".", "_")
        res = llmts(f"data.path={tmp_path / name}", *FAST, f"hydra.run.dir={run}")
        assert res.returncode == 0, res.stderr[-3000:]
        data = json.loads((run / "data.json").read_text())
        assert data["num_series"] == 3 and data["freq"] == "D" and data["season_length"] == 7
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["parse_rate"] == 1.0 and metrics["test_series"] == 3


def test_a_36_step_series_warns_of_few_windows_and_too_short_is_one_line(tmp_path):
    dates = pd.date_range("2019-01-01", periods=36, freq="MS")
    pd.DataFrame({"date": dates, "v": monthly(36)}).to_csv(tmp_path / "short.csv", index=False)
    run = tmp_path / "run"
    args = [f"data.path={tmp_path / 'short.csv'}", *FAST, "eval.context_steps=12"]
    args += ["data.train_frac=0.6", "data.val_frac=0.2", "data.test_frac=0.2"]
    res = llmts(*args, f"hydra.run.dir={run}")
    assert res.returncode == 0, res.stderr[-3000:]
    log = (run / "llmts.log").read_text()
    assert "training window(s) of 256 tokens (fewer than 8)" in log
    assert "grid of" not in log and "forecasts reach position" not in log  # silent here
    res = llmts(*args, "eval.context_steps=51", f"hydra.run.dir={tmp_path / 'bad'}")
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
