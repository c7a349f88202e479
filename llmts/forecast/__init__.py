"""The forecast stage: every (series × sample) decoded together under the codec's grammar
(:mod:`~llmts.forecast.batch`), with llmts's fixed-shape decode loop
(:mod:`~llmts.forecast.engine`) or Hugging Face ``generate`` (:mod:`~llmts.forecast.hf`)."""

from llmts.forecast.batch import ForecastResult, forecast

__all__ = ["ForecastResult", "forecast"]
