"""llmts: forecasting numeric time series with a small LLM (LLMTIME encoding, Qwen2.5 + LoRA).

The data flows one way, a module per stage: data → encoding → tokenization → model → train →
forecast → metrics → tracking → report. Importing llmts has no side effects (``Forecaster``,
the Python API of :mod:`llmts.api`, is imported on first use).
"""

__version__ = "0.1.0"
__all__ = ["Forecaster", "Prediction"]


def __getattr__(name: str):
    if name in __all__:
        from llmts import api

        return getattr(api, name)
    raise AttributeError(f"module 'llmts' has no attribute {name!r}")
