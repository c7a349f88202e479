"""Wall-time estimates from a bench.json: interpolation by tokens per step, the job's arithmetic,
and llmts-flops' sweep table. Expected values are worked out by hand below."""

import json

import pytest

from llmts.errors import LlmtsError
from llmts.perf.estimate import architecture, job_seconds, load_rates, tokens_per_s
from tests.helpers import compose


def write_bench(path, arch=None, eval_section=True):
    """B4xL512 = 2048 tokens/step at 1000 tokens/s, B32xL512 = 16384 at 4000 tokens/s; greedy
    100 rows in 10 s and sampling 400 rows in 20 s at horizon 10."""
    bench = {
        "device": "Test GPU",
        "dtype": "bfloat16",
        "architecture": arch,
        "train": {
            "shapes": [
                {"batch_size": 32, "seq_len": 512, "fast": {"tokens_per_s": 4000.0}},
                {
                    "batch_size": 4,
                    "seq_len": 512,
                    "fast": {"tokens_per_s": 1000.0},
                    "naive": {"tokens_per_s": 10.0},
                },
            ]
        },
    }
    if eval_section:
        bench["eval"] = {
            "horizon": 10,
            "batched_greedy": {"rows": 100, "s_per_repeat": 10.0},
            "batched_sampling": {"rows": 400, "s_per_repeat": 20.0},
        }
    path.write_text(json.dumps(bench))
    return path


def test_rate_is_interpolated_in_log_tokens_per_step_and_flat_outside(tmp_path):
    rates = load_rates(write_bench(tmp_path / "b.json"))
    assert rates.tokens_per_step == [2048, 16384]  # sorted; the naive path is not used
    assert tokens_per_s(rates, 2048) == pytest.approx(1000)
    # 8192 is 2 of the 3 doublings from 2048 to 16384: 1000 + 2/3 * 3000
    assert tokens_per_s(rates, 8192) == pytest.approx(3000)
    assert tokens_per_s(rates, 512) == pytest.approx(1000)
    assert tokens_per_s(rates, 1 << 20) == pytest.approx(4000)


def test_job_seconds_by_hand(tmp_path):
    rates = load_rates(write_bench(tmp_path / "b.json"))
    cfg = compose(
        "model=tiny",
        "train.max_steps=100",
        "train.batch_size=4",
        "data.context_length=512",
        "eval.num_series=50",
        "eval.horizon=20",
    )
    est = job_seconds(cfg, rates)
    assert est["train"] == pytest.approx(100 * 2048 / 1000)
    assert est["eval"] == pytest.approx(50 / 10 * 20 / 10)  # 10 greedy rows/s, twice the horizon
    assert est["total"] == pytest.approx(204.8 + 10)
    sampled = compose(
        "model=tiny",
        "train.max_steps=0",
        "decoding=sampling",
        "decoding.num_samples=4",
        "eval.num_series=50",
        "eval.horizon=10",
    )
    assert job_seconds(sampled, rates)["eval"] == pytest.approx(50 * 4 / 20)  # 20 rows/s
    accum = compose(
        "model=tiny",
        "train.max_steps=10",
        "train.batch_size=4",
        "train.grad_accum=4",
        "data.context_length=512",
    )
    assert job_seconds(accum, rates)["train"] == pytest.approx(10 * 8192 / 3000)


def test_bench_without_rates_is_one_clear_error(tmp_path):
    (tmp_path / "e.json").write_text(json.dumps({"sections": ["eval"], "eval": {}}))
    with pytest.raises(LlmtsError, match="no training rates"):
        load_rates(tmp_path / "e.json")
    with pytest.raises(LlmtsError, match="cannot read"):
        load_rates(tmp_path / "missing.json")
    rates = load_rates(write_bench(tmp_path / "b.json", eval_section=False))
    est = job_seconds(compose("model=tiny", "train.max_steps=1"), rates)
    assert est["eval"] is None and est["total"] == est["train"]


def test_flops_sweep_prints_estimated_minutes_and_names_the_device(tmp_path, capsys):
    from llmts.cli.flops import sweep_main
    from llmts.config.flops import register

    register()  # as llmts-flops's entry does (the test must not rely on another's registration)

    tiny = compose("model=tiny").model
    path = write_bench(tmp_path / "b.json", arch=architecture(tiny))
    assert (
        sweep_main(
            [
                "sweep=lr",
                "model=tiny",
                "train.max_steps=300",
                "eval.num_series=100",
                "eval.horizon=10",
            ],
            str(path),
        )
        == 0
    )
    out = capsys.readouterr().out
    per_job = (300 * 4 * 512 / 1000 + 100 / 10) / 60  # B4 x L512 at 1000 tokens/s + forecasts
    assert out.count(f" {per_job:.1f}\n") == 3 and "est. min" in out
    assert f"sweep ≈ {3 * per_job:.1f} min" in out and "Test GPU (bfloat16)" in out
    assert "warning" not in out
    sweep_main(["sweep=lr", "train.max_steps=300"], str(path))  # the 0.5B model: not what was timed
    assert "another architecture" in capsys.readouterr().out


def test_forecast_time_counts_the_runs_own_test_series(tmp_path):
    """The test split of data.num_series as the run cuts it, capped by eval.num_series."""
    from llmts.data.split import split_indices

    rates = load_rates(write_bench(tmp_path / "b.json"))
    cfg = compose("model=tiny", "data.num_series=33", "eval.num_series=0", "eval.horizon=10")
    test = len(split_indices(33, cfg.data, cfg.seed).test)
    assert job_seconds(cfg, rates)["eval"] == pytest.approx(test / 10)  # 10 greedy rows/s
    capped = compose("model=tiny", "data.num_series=33", "eval.num_series=500", "eval.horizon=10")
    assert job_seconds(capped, rates)["eval"] == pytest.approx(test / 10)
