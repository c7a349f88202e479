"""Configuration: the typed schema of every key (:mod:`~llmts.config.schema`), its allowed values
(:mod:`~llmts.config.choices`), Hydra registration, ``--help`` and the preflight
(:mod:`~llmts.config.compose`), and what a sweep varies (:mod:`~llmts.config.sweeps`)."""

from llmts.config.schema import (
    CONF_DIR,
    Config,
    DataConfig,
    DecodingConfig,
    EvalConfig,
    LoggerConfig,
    LoraConfig,
    ModelConfig,
    OptimizerConfig,
    TrainConfig,
    check,
)
from llmts.config.weights import register_resolver

register_resolver()  # ${llmts.weights:NAME}: a model shipped in the package (conf/model/mini.yaml)

__all__ = [
    "CONF_DIR",
    "Config",
    "DataConfig",
    "DecodingConfig",
    "EvalConfig",
    "LoggerConfig",
    "LoraConfig",
    "ModelConfig",
    "OptimizerConfig",
    "TrainConfig",
    "check",
]
