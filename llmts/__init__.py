"""llmts: forecasting numeric time series with a small LLM (LLMTIME encoding, Qwen2.5 + LoRA).

The data flows one way, a subpackage per stage: data → codec → model → train → forecast →
metrics → report, with config (every schema) below them all, tracking (W&B, progress, plots,
atomic files) beside them, perf (FLOPs, estimates, bench) and cli (every entry point) on top.
Importing llmts has no side effects (``Forecaster``, the Python API of :mod:`llmts.api`, is
imported on first use).
"""

__version__ = "0.1.0"
__all__ = ["Forecaster", "Prediction"]


def __getattr__(name: str):
    if name in __all__:
        from llmts import api

        return getattr(api, name)
    raise AttributeError(f"module 'llmts' has no attribute {name!r}")
