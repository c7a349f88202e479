"""End to end with the shipped mini model: a LoRA run saves, resumes bit for bit and reloads
(Forecaster.from_run); a damaged weights file stops the run in one line, exit 2."""

import json
import shutil

import numpy as np
import pytest

from tests.helpers import llmts

pytestmark = pytest.mark.slow  # the CLI in subprocesses

RUN = [
    "model=mini",
    "logger=none",
    "data.num_series=40",
    "data.context_length=256",
    "train.max_steps=4",
    "train.save_every=2",
    "train.eval_every=2",
    "train.val_batches=1",
    "train.log_every=1",
    "eval.num_series=3",
    "eval.baselines=false",
    "eval.plot_series=0",
    "eval.bootstrap=0",
]


def test_lora_run_resumes_and_reloads(tmp_path):
    from safetensors.torch import load_file

    from llmts import Forecaster

    full = tmp_path / "full"
    res = llmts(*RUN, f"hydra.run.dir={full}")
    assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads((full / "metrics.json").read_text())["status"] == "ok"
    resumed = tmp_path / "resumed"
    shutil.copytree(full, resumed)
    shutil.rmtree(resumed / "checkpoints" / "step-4")
    res = llmts(*RUN, "train.resume=auto", f"hydra.run.dir={resumed}")
    assert res.returncode == 0, res.stderr[-3000:]
    a, b = (
        load_file(d / "checkpoints" / "step-4" / "trainable.safetensors") for d in (full, resumed)
    )
    assert a.keys() == b.keys() and all(a[k].equal(b[k]) for k in a)
    assert any("lora_" in k for k in a)
    fc = Forecaster.from_run(full)
    x = np.abs(np.sin(np.arange(51)[:, None] / 4 + np.array([0.0, 1.0]))) + 0.2
    pred = fc.predict(x, 20)
    assert pred.point.shape == (20, 2) and pred.parse_rate == 1.0


def test_damaged_weights_exit_2_in_one_line(tmp_path):
    from tests.helpers import compose

    folder = tmp_path / "mini"
    shutil.copytree(compose("model=mini").model.path, folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    res = llmts(*RUN, f"model.path={folder}", f"hydra.run.dir={tmp_path / 'run'}")
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("llmts: error:") and str(weights) in lines[0]
