"""The README's demo, end to end: it must visibly learn (beat persistence on the test split)."""

import json
import os
import subprocess
import sys
import time

import pytest

from tests.helpers import REPO

pytestmark = pytest.mark.slow  # the 2.5-minute demo in a subprocess


def test_demo_trains_on_cpu_and_beats_persistence(tmp_path):
    start = time.perf_counter()
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "llmts",
            "experiment=demo",
            "logger=none",
            f"hydra.run.dir={tmp_path}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        env=dict(os.environ),
    )
    elapsed = time.perf_counter() - start
    assert res.returncode == 0, res.stderr[-3000:]
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["parse_rate"] == 1.0 and m["num_series"] == 100
    assert m["mse"] < m["baseline/persistence/mse"], (m["mse"], m["baseline/persistence/mse"])
    assert m["r2"] > m["baseline/persistence/r2"]
    history = (tmp_path / "train_history.csv").read_text().splitlines()
    vals = [float(r.split(",")[-1]) for r in history[1:] if r.split(",")[-1]]
    assert vals[-1] < 0.5 * vals[0]  # validation loss fell
    assert "persistence" in res.stdout and "ode_fit" in res.stdout and str(tmp_path) in res.stdout
    print(f"demo took {elapsed:.0f} s")
