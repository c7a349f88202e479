"""``llmts-pretrain``'s schema (``conf/pretrain.yaml``): a Qwen2-architecture model with random
weights, fully trained on the synthetic corpus (:mod:`llmts.data.synthetic`), written as a
Hugging Face folder. ``model``, ``data`` (the codec's settings and the window length),
``optimizer`` and ``train`` are the groups ``llmts`` uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llmts.config.choices import option, require
from llmts.config.compose import register_configs
from llmts.config.schema import DataConfig, ModelConfig, OptimizerConfig, TrainConfig


@dataclass
class CorpusConfig:
    num_series: int = option(20000, "synthetic training series")
    val_series: int = option(200, "synthetic validation series (another seed)")
    num_steps: int = option(160, "time steps per series")
    min_period: float = option(3.0, "shortest period of the periodic families, steps")
    max_period: float = option(40.0, "longest period, steps")
    families: dict[str, float] = option(
        dict(kernel=0.15, ar=0.05, oscillator=0.1, ode=0.1, periodic=0.35, motif=0.25),
        "family -> weight, >= 0 (the families: llmts/data/synthetic.py)",
    )

    @staticmethod
    def check(c: Any) -> None:
        for key in ("num_series", "val_series", "num_steps"):
            require(c[key] > 0, f"corpus.{key}", c[key], "must be > 0")
        require(
            0 < c.min_period <= c.max_period,
            "corpus.min_period",
            c.min_period,
            "must be in (0, corpus.max_period]",
        )
        weights = dict(c.families)
        require(
            bool(weights) and min(weights.values()) >= 0 and sum(weights.values()) > 0,
            "corpus.families",
            weights,
            "weights must be >= 0 with a positive sum",
        )


@dataclass
class PretrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    seed: int = option(0, "seeds the corpus, the weights and the batch order")
    output: str | None = option(
        None, "the Hugging Face folder written; null: model/ in the run dir"
    )

    @staticmethod
    def check(c: Any) -> None:
        ModelConfig.check(c.model)
        DataConfig.check(c.data)
        OptimizerConfig.check(c.optimizer)
        TrainConfig.check(c.train)
        CorpusConfig.check(c.corpus)
        require(
            c.model.source == "random",
            "model.source",
            str(c.model.source),
            "llmts-pretrain trains a model from random weights (model.source=random)",
        )
        require(c.train.max_steps > 0, "train.max_steps", c.train.max_steps, "must be > 0")
        require(
            c.data.context_length <= c.model.max_position_embeddings,
            "data.context_length",
            c.data.context_length,
            f"exceeds model.max_position_embeddings={c.model.max_position_embeddings}",
        )


def register(header: str = "") -> None:
    """``conf/pretrain.yaml``'s schema (``pretrain_schema``) and llmts-pretrain's help page."""
    register_configs("llmts-pretrain", PretrainConfig, "pretrain_schema", header=header)


__all__ = ["CorpusConfig", "PretrainConfig", "register"]
