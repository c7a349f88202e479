"""llmts: forecasting numeric time series with a small LLM (LLMTIME encoding, Qwen2.5 + LoRA).

The data flows one way, a module per stage: data → encoding → tokenization → model → train →
forecast → metrics → tracking → report. Importing llmts has no side effects.
"""

__version__ = "0.1.0"
