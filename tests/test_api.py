"""The Python API (llmts.api): Forecaster.from_run / from_checkpoint and predict, on a run dir
made in process (config + one checkpoint of the tiny model)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from llmts import Forecaster
from llmts.errors import LlmtsError
from tests.helpers import compose

OVERRIDES = ("experiment=smoke", "data.missing=encode", "data.scale=per_variable")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run dir as ``llmts`` leaves it: .hydra/config.yaml and checkpoints/step-4 whose lm_head
    bias differs from the untrained model's (so loading it changes the forecasts)."""
    from llmts.codec.codec import Codec
    from llmts.codec.tokenizer import build_tiny_tokenizer
    from llmts.model.build import build_model
    from llmts.train.checkpoint import save_checkpoint

    cfg = compose(*OVERRIDES)
    d = tmp_path_factory.mktemp("run")
    (d / ".hydra").mkdir()
    OmegaConf.save(cfg, d / ".hydra" / "config.yaml")
    net = build_model(cfg.model, cfg.lora, cfg.seed, Codec.build(cfg.data, build_tiny_tokenizer()))
    bias = net.get_output_embeddings().bias
    with torch.no_grad():
        bias.copy_(torch.randn(bias.shape, generator=torch.Generator().manual_seed(0)) * 3)
    opt = torch.optim.AdamW([bias])
    save_checkpoint(d, 4, net, opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0), [])
    return d


@pytest.fixture(scope="module")
def series():
    from llmts.data.series import simulate_lotka_volterra

    return simulate_lotka_volterra(3, 40, 80.0, seed=5)[0].astype(np.float64)


def test_from_run_predicts_with_the_checkpoint_and_the_runs_codec(run_dir, series, tiny_tokenizer):
    from llmts.codec.codec import Codec
    from llmts.forecast.batch import forecast
    from llmts.model.build import build_model

    fc = Forecaster.from_run(run_dir)
    pred = fc.predict(series[0], 7)
    assert pred.point.shape == (7, 2) and pred.samples.shape == (1, 7, 2)
    np.testing.assert_allclose(pred.scales, np.percentile(np.abs(series[0]), 95, axis=0))
    assert pred.parse_rate == 1.0 and pred.filled_steps == 0
    cfg = compose(*OVERRIDES)
    codec = Codec.build(cfg.data, tiny_tokenizer)
    untrained = build_model(cfg.model, cfg.lora, cfg.seed, codec)
    before = forecast(untrained, codec, series[:1], 7, cfg.decoding, batch_size=8, seed=cfg.seed)
    assert pred.texts != before.texts  # the checkpoint's weights are in
    same = forecast(fc.model, codec, series[:1], 7, cfg.decoding, batch_size=8, seed=cfg.seed)
    np.testing.assert_array_equal(pred.point, same.samples[0, 0])  # the one code path


def test_many_series_a_list_of_lengths_samples_and_quantiles(run_dir, series):
    fc = Forecaster.from_run(run_dir, step=4)
    many = fc.predict(series, 5)
    assert many.point.shape == (3, 5, 2) and many.scales.shape == (3, 2)
    ragged = fc.predict([series[0], series[1, :20]], 5)
    np.testing.assert_array_equal(ragged.point[0], many.point[0])
    np.testing.assert_array_equal(ragged.point[1], fc.predict(series[1, :20], 5).point)
    sampled = fc.predict(series[:2], 5, num_samples=6, seed=3)
    assert sampled.samples.shape == (2, 6, 5, 2)
    q = sampled.quantiles([0.1, 0.5, 0.9])
    assert q.shape == (3, 2, 5, 2) and (q[0] <= q[1]).all() and (q[1] <= q[2]).all()
    np.testing.assert_allclose(q[1], np.median(sampled.samples, axis=1))
    np.testing.assert_array_equal(sampled.point, np.median(sampled.samples, axis=1))
    again = fc.predict(series[:2], 5, num_samples=6, seed=3)
    np.testing.assert_array_equal(again.samples, sampled.samples)


def test_gaps_in_the_input_and_from_checkpoint(run_dir, series):
    gappy = series[0].copy()
    gappy[::4, 1] = np.nan
    gappy[-1] = np.nan
    a = Forecaster.from_run(run_dir).predict(gappy, 6)
    assert np.isfinite(a.point).all() and a.parse_rate == 1.0
    b = Forecaster.from_checkpoint(
        run_dir / "checkpoints" / "step-4",
        model="tiny",
        overrides=["data.missing=encode", "data.scale=per_variable"],
    )
    np.testing.assert_array_equal(b.predict(gappy, 6).point, a.point)


def test_a_run_saved_before_the_new_keys_still_loads(run_dir, tmp_path, series):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(run_dir, old)
    cfg = OmegaConf.load(old / ".hydra" / "config.yaml")
    for key in ("scale", "missing", "mask_prob", "missing_frac", "digit_separator"):
        cfg.data.pop(key)
    OmegaConf.save(cfg, old / ".hydra" / "config.yaml")
    fc = Forecaster.from_run(old)
    assert fc.cfg.data.scale == "joint" and fc.cfg.data.missing == "error"
    with pytest.raises(LlmtsError, match="data.missing=encode"):  # gaps: one clear line
        fc.predict(np.where(np.arange(40)[:, None] == 3, np.nan, series[0]), 5)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: Forecaster.from_run(d / "nope"), "not an llmts run dir"),
        (lambda d: Forecaster.from_run(d, step=99), "not a checkpoint"),
        (lambda d: Forecaster.from_checkpoint(d, model="tinyy"), "Could not find 'model/tinyy'"),
        (
            lambda d: Forecaster.from_run(d, overrides=["data.scale=both"]),
            "data.scale: Invalid value 'both'",
        ),
        (
            lambda d: Forecaster.from_run(d).predict(np.full((5, 2), np.inf), 3),
            "non-finite value inf",
        ),
        (
            lambda d: Forecaster.from_run(d).predict([np.ones((5, 2)), np.ones((5, 3))], 3),
            "different numbers of variables",
        ),
        (lambda d: Forecaster.from_run(d).predict(np.ones((5, 2)), 0), "horizon=0"),
    ],
)
def test_mistakes_are_one_line(run_dir, make, message):
    with pytest.raises(LlmtsError) as err:
        make(run_dir)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_run_saved_with_a_boolean_train_compile_still_loads():
    """Runs saved before train.compile had modes hold true/false there."""
    from omegaconf import OmegaConf

    from llmts.api import typed_config

    old = OmegaConf.create({"train": {"compile": False}, "bench": {"repeats": 3}})
    assert typed_config(old).train.compile == "none"
    assert typed_config(OmegaConf.create({"train": {"compile": True}})).train.compile == "regions"


def test_from_checkpoint_inside_another_hydra_app(run_dir, series, tmp_path):
    """From a user's own Hydra app: llmts's configs are composed, and the app's Hydra is still
    there afterwards (it used to compose the user's primary config instead)."""
    from hydra import compose, initialize_config_dir

    (tmp_path / "config.yaml").write_text("mine: 1\n")
    with initialize_config_dir(version_base="1.3", config_dir=str(tmp_path)):
        fc = Forecaster.from_checkpoint(
            run_dir / "checkpoints" / "step-4",
            model="tiny",
            overrides=["data.missing=encode", "data.scale=per_variable"],
        )
        assert compose("config").mine == 1
    want = Forecaster.from_run(run_dir).predict(series[0], 6).point
    np.testing.assert_array_equal(fc.predict(series[0], 6).point, want)


def test_forecasting_another_number_of_variables_than_trained_warns(
    run_dir, series, tmp_path, caplog
):
    import json
    import shutil

    run = shutil.copytree(run_dir, tmp_path / "run")
    (run / "data.json").write_text(json.dumps({"variables": ["a", "b", "c"]}))
    fc = Forecaster.from_run(run)
    assert fc.variables == ("a", "b", "c")
    with caplog.at_level("WARNING", logger="llmts.api"):
        fc.predict(series[0], 3)
    assert "trained on D=3 variables (a, b, c); the input has D=2" in caplog.text
    caplog.clear()
    Forecaster.from_run(run_dir).predict(series[0], 3)  # no data.json: nothing to compare
    assert "trained on" not in caplog.text
