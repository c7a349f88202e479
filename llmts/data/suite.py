"""Real series that registry packages ship (statsmodels, pmdarima: ``pip install -e
".[benchmark]"``), by name, written once as CSV files (``time`` = step, a column per variable) in
the data cache, so a suite's tasks are files read like any other. Nothing is downloaded: each
loader reads the data its package installs.

The series, as their packages describe them: ``nile`` (yearly Nile flow 1871-1970),
``sunspots`` (yearly sunspot numbers 1700-2008), ``lynx`` (yearly lynx trappings 1821-1934),
``austres`` (quarterly Australian residents 1971-1993), ``ausbeer`` (quarterly Australian beer
production 1956-2008), ``woolyrnq`` (quarterly woollen yarn production 1965-1994),
``macrodata`` (US quarterly real GDP, consumption and investment 1959-2009: 3 variables),
``interest_inflation`` (German quarterly inflation change and interest rate 1972-1998: 2
variables, negative values), ``airline`` (monthly airline passengers 1949-1960), ``wineind``
(monthly Australian wine sales 1980-1994), ``elnino`` (monthly sea surface temperature
1950-2010), ``co2`` (weekly Mauna Loa CO2 1958-2001; its 59 gaps linearly interpolated, as
statsmodels' own examples fill them) and ``taylor`` (half-hourly electricity demand in England
and Wales, 12 weeks of 2000, averaged to hourly).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from llmts.errors import LlmtsError
from llmts.tracking.files import atomic_path

INSTALL = 'pip install -e ".[benchmark]"'


def _statsmodels(name: str):
    import statsmodels.api as sm

    return getattr(sm.datasets, name).load_pandas().data


def _pmdarima(name: str) -> np.ndarray:
    import pmdarima.datasets as pm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(getattr(pm, f"load_{name}")(), dtype=np.float64)


def _elnino() -> tuple[np.ndarray, tuple[str, ...]]:
    table = _statsmodels("elnino").drop(columns="YEAR").to_numpy(dtype=np.float64)
    return table.reshape(-1, 1), ("temperature",)  # year by year, January to December


def _co2() -> tuple[np.ndarray, tuple[str, ...]]:
    co2 = _statsmodels("co2")["co2"].interpolate(limit_direction="both")
    return co2.to_numpy(dtype=np.float64)[:, None], ("co2",)


def _taylor() -> tuple[np.ndarray, tuple[str, ...]]:
    half_hours = _pmdarima("taylor")
    return half_hours.reshape(-1, 2).mean(1)[:, None], ("demand",)


def _columns(dataset: str, cols: tuple[str, ...]) -> Callable:
    return lambda: (_statsmodels(dataset)[list(cols)].to_numpy(dtype=np.float64), cols)


def _one(package: str, name: str, var: str) -> Callable:
    if package == "pmdarima":
        return lambda: (_pmdarima(name)[:, None], (var,))
    return lambda: (_statsmodels(name)[[var]].to_numpy(dtype=np.float64), (var.lower(),))


# name -> (package that ships it, loader returning ((T, D) values, D variable names))
SERIES: dict[str, tuple[str, Callable[[], tuple[np.ndarray, tuple[str, ...]]]]] = {
    "nile": ("statsmodels", _one("statsmodels", "nile", "volume")),
    "sunspots": ("statsmodels", _one("statsmodels", "sunspots", "SUNACTIVITY")),
    "lynx": ("pmdarima", _one("pmdarima", "lynx", "trappings")),
    "austres": ("pmdarima", _one("pmdarima", "austres", "residents")),
    "ausbeer": ("pmdarima", _one("pmdarima", "ausbeer", "production")),
    "woolyrnq": ("pmdarima", _one("pmdarima", "woolyrnq", "production")),
    "macrodata": ("statsmodels", _columns("macrodata", ("realgdp", "realcons", "realinv"))),
    "interest_inflation": ("statsmodels", _columns("interest_inflation", ("Dp", "R"))),
    "airline": ("pmdarima", _one("pmdarima", "airpassengers", "passengers")),
    "wineind": ("pmdarima", _one("pmdarima", "wineind", "sales")),
    "elnino": ("statsmodels", _elnino),
    "co2": ("statsmodels", _co2),
    "taylor": ("pmdarima", _taylor),
}


def available(name: str) -> bool:
    """Whether the package that ships ``name`` is installed."""
    import importlib.util

    return name in SERIES and importlib.util.find_spec(SERIES[name][0]) is not None


def materialise(name: str, cache: str | Path) -> Path:
    """The CSV file of the shipped series ``name`` in ``cache``/benchmark (the data cache,
    :func:`llmts.data.series.cache_dir`), written on first use."""
    if name not in SERIES:
        raise LlmtsError(f"benchmark: no shipped series {name!r} (known: {', '.join(SERIES)})")
    package, load = SERIES[name]
    path = Path(cache).expanduser() / "benchmark" / f"{name}.csv"
    if path.is_file():
        return path
    if not available(name):
        raise LlmtsError(f"benchmark series {name!r} is shipped by {package}: {INSTALL}")
    values, names = load()
    seen = np.flatnonzero(~np.isnan(values).all(1))
    values = values[seen[0] : seen[-1] + 1]  # ausbeer's last quarter is NaN: not data
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        rows = [",".join(["time", *names])]
        rows += [",".join([str(t), *(repr(float(v)) for v in row)]) for t, row in enumerate(values)]
        Path(tmp).write_text("\n".join(rows) + "\n")
    return path
