"""The data stage: the one file reader and value check (:mod:`~llmts.data.readers`), series
loaded and validated (:mod:`~llmts.data.series`), simulated
Lotka-Volterra when no file is given, and which part of which series each stage sees
(:mod:`~llmts.data.split`: whole series, or cut in time with rolling origins)."""

from llmts.data.readers import SeriesFile, check_values, read_series
from llmts.data.series import Dataset, load_dataset, simulate_lotka_volterra
from llmts.data.split import Split, forecast_rows, make_split

__all__ = [
    "Dataset",
    "SeriesFile",
    "Split",
    "check_values",
    "forecast_rows",
    "load_dataset",
    "make_split",
    "read_series",
    "simulate_lotka_volterra",
]
