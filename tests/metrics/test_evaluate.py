"""The evaluation stage's scoring: context length derived for the context sweep, the untrained
model's row, the field's metrics on each row's history; scoring writes nothing."""

import numpy as np
import pytest

from llmts.codec.codec import Codec
from llmts.codec.llmtime import step_tokens
from llmts.data.series import Dataset, simulate_lotka_volterra
from llmts.data.split import Split
from llmts.forecast.batch import forecast
from llmts.metrics.evaluate import base_label, context_steps, evaluation_rows, score_untrained
from llmts.metrics.point import point_forecast, point_metrics
from llmts.model.build import build_model
from tests.helpers import compose


def smoke(*overrides: str):
    """The smoke config forecasting 4 steps after 12, five short simulated series (all test)."""
    cfg = compose("experiment=smoke", "eval.context_steps=12", "eval.horizon=4", *overrides)
    series, time = simulate_lotka_volterra(5, 16, 32.0, seed=1)
    data = Dataset(series, time, ("prey", "predator"), "simulated")
    return cfg, data, Split(np.arange(0), np.arange(0), np.arange(5))


def score(model, codec, data, split, cfg, untrained=None):
    """:func:`llmts.metrics.evaluate.score` as the fine-tuning recipe calls it."""
    from llmts.metrics import evaluate

    rows = evaluation_rows(data, split, cfg.eval, cfg.data)
    return evaluate.score(
        model,
        codec,
        data,
        rows,
        cfg.eval,
        cfg.decoding,
        seed=cfg.seed,
        label="trained model",
        untrained=untrained,
    )


def fixed_forecast(points: np.ndarray):
    """A stand-in for ``forecast`` that returns ``points`` (n, h, D) as one sample each."""
    from llmts.forecast.batch import ForecastResult

    return lambda model, codec, ctx, h, *a, **k: ForecastResult(
        points[:, None], len(ctx) * h, 0, [""] * len(ctx)
    )


@pytest.mark.parametrize("length", [128, 512, 768])
def test_null_context_steps_fill_the_context_length(length):
    """eval.context_steps=null (the context sweep): as many whole steps as fit in
    data.context_length tokens; one LV step at 2 decimals is '0.33,0.36;' = 10 tokens."""
    cfg = compose("sweep=context", f"data.context_length={length}")
    assert cfg.eval.context_steps is None
    steps = context_steps(cfg.eval, cfg.data, 2)
    assert step_tokens(2, 2) == len("0.33,0.36;")
    assert steps * len("0.33,0.36;") <= length < (steps + 1) * len("0.33,0.36;")
    # a number set in the config is used as it is (the default 51 is also 512 // 10: use another)
    cfg = compose("eval.context_steps=30")
    assert context_steps(cfg.eval, cfg.data, 2) == 30


def test_a_context_length_below_one_step_of_this_data_is_one_error():
    """One step of D = 3 values at 2 decimals is 15 tokens: 14 cannot hold it (the schema
    cannot know D; the run checks it once the data is read)."""
    from llmts.errors import LlmtsError

    cfg = compose("data.context_length=15")
    assert context_steps(cfg.eval, cfg.data, 3) == 51  # eval.context_steps
    cfg = compose("data.context_length=14")
    with pytest.raises(LlmtsError, match="data.context_length=14: too small"):
        context_steps(cfg.eval, cfg.data, 3)


@pytest.mark.parametrize("decoding", ["greedy", "sampled"])
def test_untrained_row_scores_the_model_as_it_is(tiny_tokenizer, decoding):
    """``untrained/*`` equals the point metrics of a forecast by the same (untrained) model, and
    the field's metrics of it on the same scale as the trained model's (sampled: WQL, SQL)."""
    from llmts.metrics.scaled import sample_quantiles, scaled_metrics, seasonal_scale

    sampled = ("decoding=sampling", "decoding.num_samples=4") if decoding == "sampled" else ()
    cfg, data, split = smoke("eval.num_series=3", *sampled)
    net = build_model(cfg.model, cfg.lora, cfg.seed)
    codec = Codec.build(cfg.data, tiny_tokenizer)
    rows = evaluation_rows(data, split, cfg.eval, cfg.data)
    row, point = score_untrained(
        net, codec, rows, cfg.eval, cfg.decoding, seed=cfg.seed, label="untrained"
    )
    series = data.series
    res = forecast(
        net, codec, series[:3, :12], 4, cfg.decoding, batch_size=cfg.eval.batch_size, seed=cfg.seed
    )
    np.testing.assert_array_equal(point, point_forecast(res.samples, cfg.eval.point))
    want = point_metrics(series[:3, 12:16], point)
    names = ("mse", "rmse", "mae", "r2", "nrmse", "mape")
    field = ("mase", "smape", "wape") + (("wql", "sql") if sampled else ())  # from quantiles
    assert set(row) == {f"untrained/{k}{ci}" for k in names + field for ci in ("", "_ci")} | {
        "untrained/nll_per_dim",
        "untrained/constant_forecasts",
        "untrained/mase_excluded",
    }
    assert np.isfinite(row["untrained/nll_per_dim"])
    for key in names:
        assert row[f"untrained/{key}"] == pytest.approx(want[key])
        lo, hi = row[f"untrained/{key}_ci"]
        assert lo <= hi
    scale = seasonal_scale([series[i, :12] for i in range(3)], data.season_length)
    q = sample_quantiles(res.samples) if sampled else None
    want = scaled_metrics(series[:3, 12:16], point, scale, q)
    for key in field:
        assert row[f"untrained/{key}"] == pytest.approx(want[key]), key
        lo, hi = row[f"untrained/{key}_ci"]
        assert lo <= row[f"untrained/{key}"] <= hi


def test_the_base_is_named_for_what_it_is():
    assert base_label(compose("model=qwen2.5-0.5b-instruct").model) == "base zero-shot"
    assert base_label(compose("experiment=smoke").model) == "untrained"


def test_score_writes_nothing(tiny_tokenizer, tmp_path, monkeypatch):
    """Scoring returns arrays and metrics; the files are :mod:`llmts.report.run`'s to write
    (it runs in an empty working directory, which stays empty)."""
    cfg, data, split = smoke("eval.num_series=3", "eval.plot_series=1", "eval.baselines=true")
    net = build_model(cfg.model, cfg.lora, cfg.seed)
    monkeypatch.chdir(tmp_path)
    out, done = score(net, Codec.build(cfg.data, tiny_tokenizer), data, split, cfg)
    assert list(tmp_path.iterdir()) == []
    assert out["mse"] == pytest.approx(np.mean((done.rows.truth - done.point) ** 2))


def test_constant_zero_forecasts_are_flagged_in_the_metrics(tiny_tokenizer, monkeypatch, caplog):
    """Every forecast constant zeros: metrics.json said MSE, MAPE 100, parse rate 1 and no more."""
    import logging

    from llmts.metrics import evaluate

    cfg, data, split = smoke("eval.num_series=3", "eval.baselines=false")
    monkeypatch.setattr(evaluate, "forecast", fixed_forecast(np.zeros((3, 4, 2))))
    monkeypatch.setattr(evaluate.likelihood, "nll_metrics", lambda *a, **k: {})  # needs a model
    with caplog.at_level(logging.WARNING, logger="llmts"):
        out, _ = score(None, Codec.build(cfg.data, tiny_tokenizer), data, split, cfg)
    assert out["constant_forecasts"] == 1.0 and out["mape"] == 100.0
    assert "constant" in out["degenerate"] and "MAPE is exactly 100" in out["degenerate"]
    assert any("degenerate forecasts" in r.getMessage() for r in caplog.records)


def test_the_untrained_forecast_is_a_paired_skill_reference(tiny_tokenizer, monkeypatch):
    """skill/untrained = 1 - MSE / MSE_untrained on the same series, with a bootstrap interval
    around it and a skill curve by horizon step."""
    from llmts.metrics import evaluate

    cfg, data, split = smoke("eval.num_series=5", "eval.baselines=false", "eval.bootstrap=200")
    truth = data.series[:, 12:16]
    rng = np.random.default_rng(0)
    trained, before = truth + rng.normal(0, 0.1, truth.shape), truth + 0.3  # the better one first
    monkeypatch.setattr(evaluate, "forecast", fixed_forecast(trained))
    monkeypatch.setattr(evaluate.likelihood, "nll_metrics", lambda *a, **k: {})
    codec = Codec.build(cfg.data, tiny_tokenizer)
    out, done = score(None, codec, data, split, cfg, untrained=before)
    mse = lambda fc: np.mean((truth - fc) ** 2)  # noqa: E731
    assert out["skill/untrained"] == pytest.approx(1 - mse(trained) / mse(before))
    lo, hi = out["skill/untrained_ci"]
    assert 0 < lo <= out["skill/untrained"] <= hi <= 1
    assert done.extra["skill/untrained"].shape == (4,)
    np.testing.assert_array_equal(done.untrained, before)
    alone, _ = score(None, codec, data, split, cfg)  # no untrained row: no reference
    assert not any("untrained" in k for k in alone)


def test_every_run_scores_the_fields_metrics_on_the_history_before_each_origin(
    tiny_tokenizer, monkeypatch
):
    """MASE's scale reads each row's whole history (data.split=time: longer than the context);
    sampled forecasts add WQL and SQL; statsforecast's baselines are scored with every metric,
    their skill too."""
    from llmts.data.split import make_split
    from llmts.forecast.batch import ForecastResult
    from llmts.metrics import evaluate
    from llmts.metrics.scaled import sample_quantiles, scaled_metrics, seasonal_scale

    cfg = compose(
        "experiment=smoke",
        "eval.context_steps=8",
        "eval.horizon=4",
        "data.split=time",
        "data.train_frac=0.6",
        "data.val_frac=0.2",
        "data.test_frac=0.2",
        "eval.baselines=[persistence,seasonal_naive,auto_ets]",
        "eval.baseline_jobs=1",
        "eval.bootstrap=50",
    )
    series, time = simulate_lotka_volterra(2, 40, 80.0, seed=2)
    data = Dataset(series, time, ("prey", "predator"), "simulated")
    split = make_split(data.lengths, cfg.data, cfg.seed)
    rng = np.random.default_rng(0)

    def sampled(model, codec, ctx, h, *a, **k):
        s = np.repeat(ctx[:, None, -1:], h, axis=2) + rng.normal(0, 0.1, (len(ctx), 6, h, 2))
        return ForecastResult(s, len(ctx) * h, 0, [""] * len(ctx) * 6)

    monkeypatch.setattr(evaluate, "forecast", sampled)
    monkeypatch.setattr(evaluate.likelihood, "nll_metrics", lambda *a, **k: {})
    out, done = score(None, Codec.build(cfg.data, tiny_tokenizer), data, split, cfg)
    hist = [data.series[i, :o] for i, o in zip(done.rows.idx, done.rows.origin)]
    assert min(len(h) for h in hist) > 8  # more than the context
    scale = seasonal_scale(hist, 1)
    want = scaled_metrics(done.rows.truth, done.point, scale, sample_quantiles(done.res.samples))
    for key in ("mase", "smape", "wape", "wql", "sql", "mase_excluded"):
        assert out[key] == pytest.approx(want[key]), key
        assert key == "mase_excluded" or out[f"{key}_ci"][0] <= out[key] <= out[f"{key}_ci"][1]
    assert out["season_length"] == 1
    np.testing.assert_allclose(done.rows.scale, scale)
    for name in ("seasonal_naive", "auto_ets"):
        assert out[f"baseline/{name}/failed"] == 0
        for key in ("mse", "mase", "wql", "sql", "mase_ci"):
            assert f"baseline/{name}/{key}" in out, (name, key)
        assert f"skill/{name}" in out
    assert "baseline/persistence/wql" not in out  # no quantiles: no WQL
    # m = 1: seasonal naive is naive, the last observed value
    np.testing.assert_array_equal(
        done.base["seasonal_naive"], np.repeat(done.rows.context[:, -1:], 4, axis=1)
    )


def test_a_shuffled_context_keeps_each_rows_steps_and_their_variables_together():
    from llmts.metrics.evaluate import shuffled

    ctx = np.arange(2 * 10 * 2, dtype=float).reshape(2, 10, 2)
    out = shuffled(ctx, seed=3)
    assert not np.array_equal(out, ctx)
    for i in range(2):  # the same steps, each step's D values still side by side
        assert sorted(map(tuple, out[i])) == sorted(map(tuple, ctx[i]))
    np.testing.assert_array_equal(out, shuffled(ctx, seed=3))  # seeded
