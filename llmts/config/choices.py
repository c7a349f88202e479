"""The building blocks of the config schemas (:mod:`llmts.config.schema`): the allowed values of
every choice key as Enum types (Hydra rejects any other value at composition, naming the choices), a
field with its help text, and the one-line range check."""

from __future__ import annotations

from dataclasses import field
from enum import Enum
from typing import Any

from llmts.errors import LlmtsError


class Choice(str, Enum):
    """An allowed value: a str (``Precision.bf16 == "bf16"``) that prints as its value."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


def _choice(name: str, *values: str) -> Any:
    return Choice(name, [(v, v) for v in values])


Source = _choice("Source", "pretrained", "random")
Dtype = _choice("Dtype", "auto", "float32", "bfloat16", "float16")
AttnImplementation = _choice("AttnImplementation", "sdpa", "eager", "flash_attention_2")
OutputVocab = _choice("OutputVocab", "full", "numeric")
Engine = _choice("Engine", "llmts", "hf")
CacheImplementation = _choice("CacheImplementation", "static", "dynamic")
Schedule = _choice("Schedule", "constant", "cosine", "linear")
Precision = _choice("Precision", "auto", "no", "bf16", "fp16")
Compile = _choice("Compile", "none", "regions", "step")
Kernels = _choice("Kernels", "none", "liger")
BenchSection = _choice("BenchSection", "train", "eval", "profile")
BenchPath = _choice("BenchPath", "naive", "fast", "compiled")  # llmts.perf.train_bench's recipes
Point = _choice("Point", "median", "mean")
Scale = _choice("Scale", "joint", "per_variable", "affine")
SplitBy = _choice("SplitBy", "series", "time")
Select = _choice("Select", "last", "best_val")
# What a sweeper optimises (the task function's return value), and which way.
OBJECTIVE_DIRECTION = {
    "val_loss": "minimize",
    "mse": "minimize",
    "rmse": "minimize",
    "mae": "minimize",
    "nrmse": "minimize",
    "mape": "minimize",
    "r2": "maximize",
    "nll_per_dim": "minimize",
    "crps": "minimize",
}
Objective = _choice("Objective", *OBJECTIVE_DIRECTION)
Missing = _choice("Missing", "error", "encode")
# eval.baselines: llmts's own (persistence; seasonal naive with the period found in the context;
# the Lotka-Volterra ODE fit) and statsforecast's, fitted on the history before each origin
STATISTICAL = ("seasonal_naive", "naive", "auto_ets", "auto_arima", "auto_theta")
BASELINES = ("persistence", "context_seasonal_naive", "ode_fit", *STATISTICAL)
DEFAULT_BASELINES = ("persistence", "seasonal_naive", "ode_fit")
Ablation = _choice("Ablation", "random_init", "shuffled_context")  # llmts-benchmark's
LoggerName = _choice("LoggerName", "wandb", "none")
LoggerMode = _choice("LoggerMode", "auto", "online", "offline", "disabled")


def option(default: Any, doc: str) -> Any:
    """A field with its help text (``llmts --help`` lists it)."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": doc})
    return field(default=default, metadata={"help": doc})


def require(ok: bool, key: str, value: Any, rule: str) -> None:
    if not ok:
        raise LlmtsError(f"{key}={value!r}: {rule}")
