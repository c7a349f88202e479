"""``llmts-benchmark``'s schema (``conf/benchmark.yaml``): a run's groups (the model
configuration benchmarked) plus ``benchmark``: the tasks, the baselines, the variants."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llmts.config.choices import BASELINES, STATISTICAL, Ablation, option, require
from llmts.config.compose import primary_defaults, register_configs
from llmts.config.schema import GROUPS, Config, check


@dataclass
class TaskConfig:
    """One task: a file or a shipped series; what is null defaults from its frequency."""

    path: str | None = option(None, "a series file (any format llmts reads)")
    series: str | None = option(None, "a series a registry package ships (llmts.data.suite)")
    name: str | None = option(None, "its row label; null: the series' name or the file's stem")
    freq: str | None = option(None, "pandas offset alias (MS, QS, W, h, ...); null: the file's")
    horizon: int | None = option(None, "steps forecast; null: GIFT-Eval's for the frequency")
    season_length: int | None = option(None, "m of MASE and the seasonal baselines; null: freq's")
    windows: int | None = option(None, "rolling origins, horizon apart; null: ceil(0.1 T / H)")


@dataclass
class BenchmarkConfig:
    """``benchmark``: every task × (zero-shot, LoRA-tuned, ablations) of the composed model, the
    statistical baselines once per task, one leaderboard."""

    paths: list[str] = option([], "task files, one task each (any format llmts reads)")
    tasks: list[TaskConfig] = option([], "a suite's tasks (benchmark=default: shipped series)")
    finetune: bool = option(False, "also the model tuned on each task's past (lora, train.*)")
    ablations: list[Ablation] = option(
        [],
        "random_init: same architecture, random weights, every weight trained as the tuned "
        "run; shuffled_context: the context's steps permuted before encoding",
    )
    baselines: list[str] = option(list(STATISTICAL), "baselines run once per task")
    max_windows: int = option(20, "cap on a task's rolling windows (GIFT-Eval: 20)")
    context_steps: int | None = option(
        None, "steps the model reads; null: as many as fit data.context_length"
    )
    label: str | None = option(None, "the model's rows are '<label> <variant>'; null: model.name")
    merge: list[str] = option([], "earlier llmts-benchmark run dirs whose results join these")
    bootstrap: int = option(1000, "resamples of the tasks for the leaderboard's intervals; 0: none")
    seed: int = option(0, "seeds those resamples")

    @staticmethod
    def check(c: Any) -> None:
        require(
            bool(c.paths) or bool(c.tasks) or bool(c.merge),
            "benchmark.paths",
            list(c.paths),
            "no tasks: give benchmark.paths=[a.csv,...], benchmark=default or benchmark.merge=",
        )
        unknown = [b for b in c.baselines if b not in BASELINES]
        require(not unknown, "benchmark.baselines", unknown, f"unknown: choose from {BASELINES}")
        require(
            "seasonal_naive" in c.baselines,
            "benchmark.baselines",
            list(c.baselines),
            "must hold seasonal_naive: every relative error is relative to it",
        )
        require(c.max_windows >= 1, "benchmark.max_windows", c.max_windows, "must be >= 1")
        require(c.bootstrap >= 0, "benchmark.bootstrap", c.bootstrap, "must be >= 0")
        if c.context_steps is not None:
            require(c.context_steps >= 1, "benchmark.context_steps", c.context_steps, ">= 1")
        for t in c.tasks:
            require(
                bool(t.path) != bool(t.series), "benchmark.tasks", dict(t), "one of path/series"
            )
            for key in ("horizon", "season_length", "windows"):
                if t[key] is not None:
                    require(t[key] >= 1, f"benchmark.tasks.{key}", t[key], "must be >= 1")


@dataclass
class BenchmarkRunConfig(Config):
    """``llmts-benchmark``'s primary config: a run's groups + ``benchmark``."""

    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)

    @staticmethod
    def check(c: Any) -> None:
        check(c)
        BenchmarkConfig.check(c.benchmark)


def register(header: str = "") -> None:
    """``conf/benchmark.yaml``'s schema, the ``benchmark`` group's default option (``files``:
    tasks from ``benchmark.paths``), the help page and its defaults."""
    from hydra.core.config_store import ConfigStore

    register_configs(
        "llmts-benchmark",
        BenchmarkRunConfig,
        "llmts_benchmark_schema",
        {"benchmark": "files"},
        header=header,
    )
    store = ConfigStore.instance()
    store.store(group="benchmark", name="files", node=BenchmarkConfig)
    store.store(
        name="llmts_benchmark_defaults",
        node={
            "defaults": primary_defaults(
                "llmts_benchmark_schema", None, tuple(GROUPS), ({"benchmark": "files"},)
            )
        },
    )
