"""``llmts-benchmark`` end to end on the tiny model: three task files in three formats, the
model zero-shot, tuned and both ablations beside statsforecast's five baselines; results.csv,
the leaderboard (seasonal naive exactly 1), the plot; a merge of two runs; mistakes as one line.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tests.helpers import REPO

pytestmark = pytest.mark.slow  # the CLI in a subprocess


def benchmark(*args: str, cwd=REPO):
    """``llmts-benchmark`` in a subprocess, as its entry point runs it."""
    cmd = [sys.executable, "-c", "from llmts.cli.benchmark import entry; entry()", *args]
    env = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600, env=env)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("tasks")
    rng = np.random.default_rng(0)
    t = np.arange(120)
    y = 10 + 3 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.3, 120)
    rows = "".join(f"{i},{v:.3f}\n" for i, v in enumerate(y))
    (d / "monthly.csv").write_text("time,sales\n" + rows)
    t = np.arange(80)
    z = np.stack([np.sin(t * np.pi / 2), np.cos(t * np.pi / 2) - 2], 1)
    z += rng.normal(0, 0.2, (80, 2))
    np.savez(d / "quarterly.npz", trajectories=z[None], variables=np.array(["a", "b"]))
    np.save(d / "walk.npy", np.cumsum(rng.normal(0, 1, 60)) + 50)
    return d


COMMON = [
    "model=tiny",
    "logger=none",
    "eval.horizon=5",
    "eval.bootstrap=50",
    "eval.plot_series=0",
    "benchmark.bootstrap=50",
]


@pytest.fixture(scope="module")
def run(files, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    tasks = (
        f"benchmark.tasks=[{{path:{files}/monthly.csv,horizon:6,season_length:12}},"
        f"{{path:{files}/quarterly.npz,horizon:4,season_length:4,windows:2}}]"
    )
    res = benchmark(
        *COMMON,
        tasks,
        f"benchmark.paths=[{files}/walk.npy]",
        "benchmark.finetune=true",
        "benchmark.ablations=[random_init,shuffled_context]",
        "train.max_steps=2",
        "train.eval_every=0",
        "train.save_every=2",
        "data.context_length=128",
        f"hydra.run.dir={out}",
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return out, res


def test_results_hold_every_task_and_model(run):
    out, _ = run
    results = pd.read_csv(out / "results.csv")
    assert set(results.task) == {"monthly", "quarterly", "walk"}
    models = {"seasonal_naive", "naive", "auto_ets", "auto_arima", "auto_theta"} | {
        f"tiny-qwen2 {v}" for v in ("zero-shot", "lora", "random_init", "shuffled_context")
    }
    assert set(results.model) == models and len(results) == 3 * len(models)
    assert results.mase.notna().all() and (results.mase > 0).all()
    base = results[results.kind == "baseline"]
    assert base.wql.notna().all()  # the baselines' intervals give quantiles
    q = results[results.task == "quarterly"].iloc[0]
    assert (q.windows, q.horizon, q.season_length) == (2, 4, 4)
    tuned = results[results.model == "tiny-qwen2 lora"]
    zero = results[results.model == "tiny-qwen2 zero-shot"]
    assert (tuned.flops > 0).all() and (zero.flops == 0).all()


def test_the_leaderboard_is_relative_to_seasonal_naive(run):
    out, res = run
    board = pd.read_csv(out / "leaderboard.csv").set_index("model")
    assert board.loc["seasonal_naive", "gmean_relative_mase"] == 1.0
    assert board.loc["seasonal_naive", "gmean_relative_wql"] == 1.0
    assert board.loc["seasonal_naive", "skill_mase"] == 0.0
    assert (board.tasks == 3).all()
    lo, hi = board.loc["auto_ets", ["gmean_relative_mase_lo", "gmean_relative_mase_hi"]]
    assert lo <= board.loc["auto_ets", "gmean_relative_mase"] <= hi
    md = (out / "leaderboard.md").read_text()
    assert "| command | " in md and "| wall time | " in md  # where the numbers came from
    assert "| seasonal_naive | 3 | 1 [1, 1] |" in md and md in res.stdout + md  # printed too
    assert (out / "relative_mase.png").stat().st_size > 0
    assert (out / "tasks" / "walk" / "lora" / "metrics.json").is_file()


def test_two_runs_merge_into_one_leaderboard(run, files, tmp_path):
    out, _ = run
    res = benchmark(
        *COMMON,
        f"benchmark.paths=[{files}/walk.npy]",
        "benchmark.label=again",
        f"benchmark.merge=[{out}]",
        f"hydra.run.dir={tmp_path}",
    )
    assert res.returncode == 0, res.stderr[-3000:]
    board = pd.read_csv(tmp_path / "leaderboard.csv").set_index("model")
    assert {"again zero-shot", "tiny-qwen2 zero-shot"} <= set(board.index)
    assert board.loc["again zero-shot", "tasks"] == 1


def test_mistakes_are_one_line_before_any_work(tmp_path):
    res = benchmark("model=tiny", f"hydra.run.dir={tmp_path}/x")
    assert res.returncode == 2 and "no tasks" in res.stderr and "Traceback" not in res.stderr
    res = benchmark("benchmark.paths=[nope.csv]", "model=tiny", f"hydra.run.dir={tmp_path}/y")
    assert res.returncode == 2 and "nope.csv" in res.stderr and "Traceback" not in res.stderr
    res = benchmark("benchmark.ablation=[random_init]")
    assert res.returncode == 2 and "did you mean benchmark.ablations" in res.stderr
    res = benchmark("--help")
    assert res.returncode == 0 and "benchmark.finetune=False: also the model tuned" in res.stdout
