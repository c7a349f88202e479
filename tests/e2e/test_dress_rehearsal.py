"""The full-size dress rehearsal, the closest CI gets to a GPU run: the exact Qwen2.5-0.5B
architecture (random weights, no download) with the real Qwen tokenizer, weights and autocast in
bf16, LoRA, 2 optimizer steps of one 64-token window, then 2 test series forecast by llmts's decode
loop and, from the saved checkpoint, by transformers' generate. About a minute per run on 2 free
cores (never asserted: speed is llmts-bench's to report)."""

from __future__ import annotations

import csv
import json
import math

import h5py
import pytest

from tests.helpers import QWEN_TOKENIZER, llmts

pytestmark = pytest.mark.slow  # two CLI runs of a 0.5B-parameter model on the CPU

REHEARSAL = (
    "model=qwen2.5-0.5b-arch",
    f"model.tokenizer_path={QWEN_TOKENIZER}",
    "model.dtype=bfloat16",
    "train.precision=bf16",
    "logger=none",
    "data.num_series=20",
    "data.context_length=64",
    "train.batch_size=1",
    "train.eval_every=2",
    "train.val_batches=1",
    "train.log_every=1",
    "eval.num_series=2",
    "eval.context_steps=10",
    "eval.horizon=3",
    "eval.plot_series=0",
    "eval.baselines=false",
    "eval.bootstrap=0",
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """``{engine: run dir}``: trained and forecast with engine=llmts, then the same checkpoint
    forecast with engine=hf (evaluation only)."""
    if not QWEN_TOKENIZER.is_dir():
        pytest.skip(f"real Qwen tokenizer not found at {QWEN_TOKENIZER}")
    base = tmp_path_factory.mktemp("rehearsal")
    dirs = {"llmts": base / "llmts", "hf": base / "hf"}
    trained = llmts(
        *REHEARSAL, "train.max_steps=2", "decoding.engine=llmts", f"hydra.run.dir={dirs['llmts']}"
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    again = llmts(
        *REHEARSAL,
        "train.max_steps=0",
        "decoding.engine=hf",
        f"eval.checkpoint={dirs['llmts'] / 'checkpoints' / 'step-2'}",
        f"hydra.run.dir={dirs['hf']}",
    )
    assert again.returncode == 0, again.stderr[-3000:]
    return dirs


def test_full_size_lora_run_in_bf16_trains_and_scores_finite_metrics(runs):
    run_dir = runs["llmts"]
    with open(run_dir / "train_history.csv") as f:
        rows = list(csv.DictReader(f))
    losses = [float(r["loss"]) for r in rows if r["loss"]]
    vals = [float(r["val_loss"]) for r in rows if r["val_loss"]]
    assert len(losses) == 2 and len(vals) == 2  # validation at steps 0 and 2
    assert all(math.isfinite(v) for v in losses + vals), rows
    assert (run_dir / "checkpoints" / "step-2" / "adapter" / "adapter_model.safetensors").is_file()
    for engine, run_dir in runs.items():
        m = json.loads((run_dir / "metrics.json").read_text())
        assert m["status"] == "ok" and m["num_series"] == 2 and m["horizon"] == 3, (engine, m)
        assert m["parse_rate"] == 1.0, (engine, m)  # constrained decoding always parses
        for key in ("mse", "rmse", "mae", "r2", "nll_per_dim"):
            assert math.isfinite(m[key]), (engine, key, m[key])
        config = (run_dir / ".hydra" / "config.yaml").read_text()
        assert "dtype: bfloat16" in config and "precision: bf16" in config, engine
        assert str(QWEN_TOKENIZER) in config and "vocab_size: 151936" in config, engine


def forecasts(run_dir):
    """``(forecast (N, H, D), series_index (N,))`` of a run's forecasts.h5."""
    with h5py.File(run_dir / "forecasts.h5") as f:
        return f["forecast"][()], f["series_index"][()]


def test_both_engines_give_the_same_greedy_forecast(runs):
    (ours, rows), (theirs, their_rows) = forecasts(runs["llmts"]), forecasts(runs["hf"])
    assert ours.shape == theirs.shape == (2, 3, 2)
    assert (ours == theirs).all(), (ours, theirs)
    assert (rows == their_rows).all()
