"""The benchmark recipe's pieces: a task's run config tests its last W·H steps at W origins H
apart; the variants; merging earlier results."""

import numpy as np
import pandas as pd
import pytest

from llmts.data.split import forecast_rows, make_split
from llmts.data.tasks import Task
from llmts.errors import LlmtsError
from llmts.recipes.benchmark import merge, model_variants, task_config
from tests.helpers import compose


def _task(length=100, horizon=6, windows=3):
    return Task("t", "t.csv", "MS", horizon, 12, windows, length, 1)


def test_a_tasks_run_tests_its_last_windows_at_origins_a_horizon_apart():
    cfg = compose("model=tiny", config_name="benchmark")
    job = task_config(cfg, _task(), {"train.max_steps": 0}, ["seasonal_naive"])
    assert job.data.split == "time" and job.eval.season_length == 12
    assert list(job.eval.baselines) == ["seasonal_naive"] and job.logger.name == "none"
    split = make_split(np.array([100]), job.data, job.seed)
    _, origins = forecast_rows(
        split,
        np.array([100]),
        job.eval.context_steps,
        6,
        num_series=None,
        origins=3,
        stride=6,
        source="t",
    )
    assert origins.tolist() == [82, 88, 94]  # the last 18 steps, 6 apart
    assert job.eval.context_steps <= 82 and job.train.max_steps == 0


def test_a_task_without_history_before_its_windows_is_one_error():
    cfg = compose("model=tiny", config_name="benchmark")
    with pytest.raises(LlmtsError, match="no history before 3 window"):
        task_config(cfg, _task(length=19), {}, [])


def test_variants_zero_shot_tuned_and_ablations():
    cfg = compose(
        "model=tiny",
        "benchmark.finetune=true",
        "benchmark.ablations=[random_init,shuffled_context]",
        config_name="benchmark",
    )
    v = model_variants(cfg)
    assert list(v) == ["zero-shot", "lora", "random_init", "shuffled_context"]
    assert v["random_init"]["lora.enabled"] is False
    assert v["shuffled_context"]["eval.shuffle_context"] is True


def test_merging_keeps_each_task_and_model_once(tmp_path):
    old = pd.DataFrame({"task": ["a", "a"], "model": ["seasonal_naive", "x"], "mase": [1.0, 2.0]})
    old.to_csv(tmp_path / "results.csv", index=False)
    new = pd.DataFrame({"task": ["a", "a"], "model": ["seasonal_naive", "y"], "mase": [1.0, 3.0]})
    out = merge(new, [str(tmp_path)])
    assert sorted(out.model) == ["seasonal_naive", "x", "y"]
    with pytest.raises(LlmtsError, match="no results.csv"):
        merge(new, [str(tmp_path / "nope")])


def test_a_benchmark_without_tasks_is_one_line():
    from llmts.config.benchmark import BenchmarkRunConfig

    with pytest.raises(LlmtsError, match="no tasks"):
        BenchmarkRunConfig.check(compose("model=tiny", config_name="benchmark"))
    with pytest.raises(LlmtsError, match="must hold seasonal_naive"):
        BenchmarkRunConfig.check(
            compose(
                "benchmark.paths=[a.csv]", "benchmark.baselines=[naive]", config_name="benchmark"
            )
        )


def test_every_job_is_checked_before_the_first_runs(tmp_path, monkeypatch):
    """A mistake in the last task's job (here a batch size of 0, as a bad per-task setting)
    ends the benchmark as one error before any job runs."""
    from llmts.recipes import benchmark

    cfg = compose("model=tiny", "benchmark.finetune=true", config_name="benchmark")
    tasks = [_task(), Task("wide", "w.csv", "MS", 6, 12, 3, 100, 2)]
    monkeypatch.setattr(benchmark, "resolve_all", lambda *a: tasks)
    monkeypatch.setattr(benchmark, "run_job", lambda *a: pytest.fail("a job ran"))
    real = benchmark.task_config

    def config(cfg, task, overrides, baselines):
        job = real(cfg, task, overrides, baselines)
        if task.name == "wide":
            job.train.batch_size = 0
        return job

    monkeypatch.setattr(benchmark, "task_config", config)
    with pytest.raises(LlmtsError, match="train.batch_size"):
        benchmark.run_benchmark(cfg, tmp_path)
