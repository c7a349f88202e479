"""The data stage: series read and validated (:mod:`~llmts.data.series`), simulated
Lotka-Volterra when no file is given, and which part of which series each stage sees
(:mod:`~llmts.data.split`: whole series, or cut in time with rolling origins)."""

from llmts.data.series import Dataset, load_dataset, simulate_lotka_volterra
from llmts.data.split import Split, forecast_rows, make_split

__all__ = ["Dataset", "Split", "forecast_rows", "load_dataset", "make_split",
           "simulate_lotka_volterra"]
