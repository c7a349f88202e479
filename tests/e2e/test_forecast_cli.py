"""``llmts-forecast``: future times in process (its reader: tests/data/test_readers.py); the
console entry point in subprocesses (slow), on a run trained by ``llmts experiment=smoke`` with
gaps and per-variable scaling."""

from __future__ import annotations

import json
import math

import h5py
import numpy as np
import pytest

from llmts.cli.forecast import decimals, future_time
from tests.helpers import llmts, make_h5


def test_future_time_only_when_steps_are_even():
    assert future_time(np.array([0.0, 2.0, 4.0]), 3).tolist() == [6.0, 8.0, 10.0]
    assert future_time(np.array([0.0, 1.0, 4.0]), 3) is None  # uneven: no times


def forecast_cli(*args):
    return llmts(*args, tool="llmts-forecast")


@pytest.fixture(scope="module")
def gap_run(tmp_path_factory):
    """A tiny run trained on data with gaps, per-variable α and training masks."""
    run_dir = tmp_path_factory.mktemp("gaps") / "run"
    res = llmts(
        "experiment=smoke",
        "data.missing=encode",
        "data.missing_frac=0.1",
        "data.mask_prob=0.05",
        "data.scale=per_variable",
        "eval.baselines=true",
        f"hydra.run.dir={run_dir}",
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return run_dir


@pytest.mark.slow
def test_gaps_and_per_variable_scaling_train_and_evaluate(gap_run):
    m = json.loads((gap_run / "metrics.json").read_text())
    assert m["status"] == "ok" and m["missing_truth"] > 0 and m["missing_context"] > 0
    assert math.isfinite(m["mse"]) and math.isfinite(m["baseline/ode_fit/mse"])
    assert math.isfinite(m["nll_per_dim"]) and m["nll_series"] == m["num_series"]
    with h5py.File(gap_run / "forecasts.h5") as f:
        ctx, scale = f["context"][()], f["scale"][()]
        np.testing.assert_allclose(scale, np.nanpercentile(np.abs(ctx), 95, axis=1))


@pytest.mark.slow
def test_api_and_cli_forecast_csv_and_hdf5_with_and_without_gaps(gap_run, tmp_path):
    from llmts import Forecaster

    with h5py.File(gap_run / "forecasts.h5") as f:
        context, evaluated = f["context"][()], f["forecast"][()]
    fc = Forecaster.from_run(gap_run)
    np.testing.assert_array_equal(fc.predict(context, 20).point, evaluated)  # same decoding
    full = np.nan_to_num(context[0], nan=1.0)
    assert fc.predict(full, 20).point.shape == (20, 2)
    csv_in = tmp_path / "gaps.csv"
    rows = ["time,prey,predator"] + [
        f"{2 * i},{'' if np.isnan(a) else a},{'' if np.isnan(b) else b}"
        for i, (a, b) in enumerate(context[1])
    ]
    csv_in.write_text("\n".join(rows) + "\n")
    res = forecast_cli(
        f"run={gap_run}",
        f"input={csv_in}",
        "horizon=20",
        f"output={tmp_path / 'out.csv'}",
        f"hydra.run.dir={tmp_path / 'f1'}",
    )
    assert res.returncode == 0, res.stderr[-3000:]
    lines = (tmp_path / "out.csv").read_text().splitlines()
    assert lines[0] == "series,step,time,prey,predator"  # greedy: no quantile columns
    first = [float(v) for v in lines[1].split(",")]
    assert len(lines) == 21 and first[2] == 2 * 51  # the step after the last input time
    pred = fc.predict(context[1], 20)
    places = decimals(pred.scales, fc.cfg.data.precision)  # the codec's precision
    for row in lines[1:]:
        for cell, k in zip(row.split(",")[3:], places):
            assert len(cell.partition(".")[2]) <= k, row  # no float noise (1.5204280000000001)
    np.testing.assert_allclose(
        [first[3], first[4]], pred.point[0], rtol=0, atol=0.5 * 10.0 ** -places.min()
    )
    make_h5(tmp_path / "in.h5", np.nan_to_num(context, nan=1.0), np.arange(51.0))
    res = forecast_cli(
        f"run={gap_run}",
        f"input={tmp_path / 'in.h5'}",
        "horizon=20",
        "decoding=sampling",
        "decoding.num_samples=3",
        "plot_series=2",
        f"output={tmp_path / 'out.h5'}",
        f"hydra.run.dir={tmp_path / 'f2'}",
    )
    assert res.returncode == 0, res.stderr[-3000:]
    with h5py.File(tmp_path / "out.h5") as f:
        assert f["point"].shape == (4, 20, 2) and f["samples"].shape == (4, 3, 20, 2)
        assert f["quantiles"].shape == (3, 4, 20, 2) and f["scale"].shape == (4, 2)
        assert f["time"][0] == 51.0
    assert len(list((tmp_path / "f2" / "plots").glob("series_*.png"))) == 2
    assert res.stdout.strip().splitlines()[-1].endswith(f"; plots in {tmp_path / 'f2' / 'plots'}")


@pytest.mark.slow
def test_bad_cli_input_is_one_line_and_exit_2(gap_run, tmp_path):
    (tmp_path / "bad.csv").write_text("a,b\n1,oops\n")
    (tmp_path / "long.csv").write_text("store,when,units\na,1,2\na,2,3\n")
    for args, message in [
        ((f"input={tmp_path / 'bad.csv'}",), "'oops' is not a number"),
        # the input's columns are named as for training (data.*), and read
        ((f"input={tmp_path / 'long.csv'}", "data.id_column=shop"), "no column 'shop'"),
        ((f"input={tmp_path / 'none.csv'}",), "no such file"),
        ((f"input={tmp_path / 'bad.csv'}", "checkpoint=/x"), "exactly one of"),
    ]:
        res = forecast_cli(f"run={gap_run}", *args, f"hydra.run.dir={tmp_path / 'f'}")
        assert res.returncode == 2, res.stderr[-2000:]
        err = [
            line for line in res.stderr.splitlines() if line.startswith("llmts-forecast: error:")
        ]
        assert len(err) == 1 and message in err[0], res.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("output", ["out.txt", "forecast"])
def test_an_unknown_output_suffix_is_one_line_before_any_work(tmp_path, output):
    """`output=out.txt` silently wrote HDF5: the suffix says the format, or it is refused."""
    res = forecast_cli(
        "checkpoint=/ckpt",
        "input=/series.csv",
        f"output={tmp_path / output}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert res.returncode == 2 and res.stdout == "", res.stderr
    assert res.stderr.startswith("llmts-forecast: error: output=") and res.stderr.count("\n") == 1
    assert "unknown format" in res.stderr and ".csv" in res.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / output).exists()


@pytest.mark.slow
def test_help_lists_only_what_it_reads():
    res = forecast_cli("--help")
    assert res.returncode == 0 and res.stdout.startswith("llmts-forecast: ")
    groups = res.stdout.split("== Config groups", 1)[1].split("== Keys", 1)[0]
    assert "model:" in groups and "decoding:" in groups
    for training in ("experiment", "sweep", "optimizer", "train", "logger"):
        assert f"{training}:" not in groups and f"  {training}." not in res.stdout, training
