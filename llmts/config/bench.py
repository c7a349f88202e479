"""``llmts-bench``'s schema (``conf/bench.yaml``): a run's groups plus ``bench``, what to time."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llmts.config.choices import BenchPath, BenchSection, option, require
from llmts.config.compose import primary_defaults, register_configs
from llmts.config.schema import GROUPS, Config, check


@dataclass
class BenchConfig:
    """``bench``: what ``llmts-bench`` times (after ``warmup`` untimed repeats, the median of
    ``repeats``). The defaults finish in minutes on a 2-core CPU with ``model=tiny``;
    ``bench=gpu`` has the study's sizes."""

    sections: list[BenchSection] = option(
        [BenchSection.train, BenchSection.eval], "sections to run, in order: train, eval, profile"
    )
    paths: list[BenchPath] = option(
        [BenchPath.naive, BenchPath.fast], "training paths: naive, fast, compiled"
    )
    train_shapes: list[list[int]] = option([[4, 512], [32, 512]], "B x L of the train section")
    warmup: int = option(1, "untimed repeats first")
    repeats: int = option(3, "timed repeats (median reported)")
    eval_series: int = option(10, "series forecast in the eval section")
    eval_samples: int = option(2, "sampled forecasts per series (batched sampling)")
    sequential_series: int = option(1, "series timed one at a time")
    horizon: int = option(10, "steps forecast")
    context_steps: int = option(51, "steps of context")
    hf_sampling: bool = option(False, "also time sampling with HF generate (slow)")
    profile_horizon: int = option(2, "steps forecast in the profile section (the profiler is slow)")
    profile_rows: int = option(15, "ops listed by the profile section")

    @staticmethod
    def check(c: Any) -> None:
        require(c.warmup >= 0, "bench.warmup", c.warmup, "must be >= 0")
        for key in (
            "repeats",
            "eval_series",
            "eval_samples",
            "sequential_series",
            "horizon",
            "context_steps",
            "profile_horizon",
            "profile_rows",
        ):
            require(c[key] >= 1, f"bench.{key}", c[key], "must be >= 1")
        require(
            c.sequential_series <= c.eval_series,
            "bench.sequential_series",
            c.sequential_series,
            "must be <= bench.eval_series",
        )
        for key in ("sections", "paths"):  # the values themselves are checked at composition
            require(bool(c[key]), f"bench.{key}", list(c[key]), "must not be empty")
        shapes = [list(s) for s in c.train_shapes]
        require(
            bool(shapes) and all(len(s) == 2 and min(s) >= 1 for s in shapes),
            "bench.train_shapes",
            shapes,
            "a list of [batch_size, seq_len], each >= 1",
        )


@dataclass
class BenchRunConfig(Config):
    """``llmts-bench``'s primary config: a run's groups + ``bench``."""

    bench: BenchConfig = field(default_factory=BenchConfig)

    @staticmethod
    def check(c: Any) -> None:
        check(c)
        BenchConfig.check(c.bench)


def register(header: str = "") -> None:
    """``conf/bench.yaml``'s schema, the ``bench`` group's default option, the help page, and
    its defaults (``llmts_bench_defaults``: config.yaml's groups, ``logger=none``, ``bench``)."""
    from hydra.core.config_store import ConfigStore

    register_configs(
        "llmts-bench", BenchRunConfig, "llmts_bench_schema", {"bench": "default"}, header=header
    )
    store = ConfigStore.instance()
    store.store(group="bench", name="default", node=BenchConfig)
    store.store(
        name="llmts_bench_defaults",
        node={
            "defaults": primary_defaults(
                "llmts_bench_schema", {"logger": "none"}, tuple(GROUPS), ({"bench": "default"},)
            )
        },
    )
