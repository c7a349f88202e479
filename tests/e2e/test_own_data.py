"""Your own data, all the way, through the real CLI: one long CSV series trained and backtested
in time, negative values through Qwen's tokenizer with the affine scaler, an Optuna study."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from tests.helpers import QWEN_TOKENIZER, llmts

pytestmark = pytest.mark.slow  # every test here runs the CLI in a subprocess

FAST = [
    "model=tiny",
    "lora=none",
    "logger=none",
    "train.max_steps=30",
    "train.eval_every=15",
    "train.val_batches=2",
    "train.save_every=30",
    "data.context_length=128",
    "eval.context_steps=12",
    "eval.horizon=6",
    "eval.plot_series=1",
]


def write_csv(path, values: np.ndarray, names: list[str], time: np.ndarray | None = None):
    """A CSV as people write them: a header, a time column, one row per step."""
    cols = (["time"] if time is not None else []) + names
    rows = [",".join(cols)]
    for j, row in enumerate(values):
        cells = ([f"{time[j]:g}"] if time is not None else []) + [
            "" if np.isnan(v) else f"{v:.4f}" for v in row
        ]
        rows.append(",".join(cells))
    path.write_text("\n".join(rows) + "\n")
    return path


def monthly(n: int = 300, seed: int = 0) -> np.ndarray:
    """A real-looking monthly series: level, trend, a yearly cycle, noise; positive."""
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    return (50 + 0.05 * t + 8 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 1.5, n))[:, None]


def test_one_long_csv_series_trains_and_backtests_in_time(tmp_path):
    csv = write_csv(tmp_path / "sales.csv", monthly(), ["sales"], np.arange(300.0))
    run = tmp_path / "run"
    res = llmts(
        f"data.path={csv}", "data.split=time", "eval.origin_stride=2", *FAST, f"hydra.run.dir={run}"
    )
    assert res.returncode == 0, res.stderr[-3000:]
    split = json.loads((run / "split.json").read_text())
    assert split["val_start"] == [216] and split["test_start"] == [270]
    with h5py.File(run / "forecasts.h5") as f:
        origins = f["origin"][()]
        assert origins.tolist() == list(range(270, 295, 2))  # o + 6 <= 300, every 2 steps
        assert f["context"].shape == (len(origins), 12, 1)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "ok" and metrics["num_series"] == len(origins)
    assert metrics["test_series"] == 1 and np.isfinite(metrics["mse"])
    lo, hi = metrics["mse_ci"]  # bootstrapped over the origins
    assert lo <= metrics["mse"] <= hi
    assert "rolling origins of 1 series" in res.stdout


def test_a_series_too_short_for_the_origins_is_one_line(tmp_path):
    csv = write_csv(tmp_path / "short.csv", monthly(120), ["sales"])
    res = llmts(
        f"data.path={csv}",
        "data.split=time",
        "eval.origins=5",
        *FAST,
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr[-2000:]
    assert "too short for 5 origin(s)" in res.stderr and "short.csv" in res.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(
    not QWEN_TOKENIZER.is_dir(), reason=f"real Qwen tokenizer not found at {QWEN_TOKENIZER}"
)
def test_negative_values_with_qwens_tokenizer_need_and_get_the_affine_scaler(tmp_path):
    t = np.arange(240)
    values = np.stack([3 * np.sin(t / 6) - 0.5, -5 + 0.5 * np.cos(t / 9)], axis=1)
    csv = write_csv(tmp_path / "signed.csv", values, ["x", "y"])
    qwen = [
        f"model.tokenizer_path={QWEN_TOKENIZER}",
        "model.vocab_size=151936",
        "model.output_vocab=numeric",
    ]
    refused = llmts(
        f"data.path={csv}", "data.split=time", *FAST, *qwen, f"hydra.run.dir={tmp_path / 'no'}"
    )
    assert refused.returncode == 2 and "set data.scale=affine" in refused.stderr, refused.stderr
    run = tmp_path / "run"
    res = llmts(
        f"data.path={csv}",
        "data.split=time",
        "data.scale=affine",
        *FAST,
        *qwen,
        f"hydra.run.dir={run}",
    )
    assert res.returncode == 0, res.stderr[-3000:]
    with h5py.File(run / "forecasts.h5") as f:
        offset, forecast, context = f["offset"][()], f["forecast"][()], f["context"][()]
    assert (offset < context.min(axis=1)).all()  # below each context's minimum, per variable
    assert (forecast[..., 1] < 0).all()  # y lies in [-5.5, -4.5]: its forecasts come back < 0


def test_an_optuna_study_of_three_trials_completes(tmp_path):
    """The task function returns the objective, so Optuna's sweeper runs unchanged over
    continuous and choice parameters; the sweep report takes its non-grid values."""
    pytest.importorskip(
        "hydra_plugins.hydra_optuna_sweeper",
        reason="hydra-optuna-sweeper not installed (pip install -e '.[optuna]')",
    )
    sweep = tmp_path / "study"
    res = llmts(
        "-m",
        "hydra/sweeper=optuna",
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.sampler.seed=0",
        "optimizer.lr=tag(log,interval(1e-5,1e-3))",
        "lora.r=choice(2,4,8)",
        "experiment=smoke",
        f"hydra.sweep.dir={sweep}",
    )
    assert res.returncode == 0, res.stderr[-3000:]
    import yaml

    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    jobs = [json.loads((sweep / str(i) / "metrics.json").read_text()) for i in range(3)]
    assert all(j["status"] == "ok" for j in jobs)
    assert best["best_value"] == pytest.approx(min(j["final_val_loss"] for j in jobs))
    assert 1e-5 <= best["best_params"]["optimizer.lr"] <= 1e-3
    assert best["best_params"]["lora.r"] in (2, 4, 8)
    report = (sweep / "report.md").read_text()
    assert "optimizer.lr" in report or "lr" in report
