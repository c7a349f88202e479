"""The LLMTIME codec (public API): numeric series <-> text.

Encoding a series x (T, D):  α = Percentile_p(|x|) (p = 95), x' = x / α rounded to ``precision``
decimals; the D values of a step are joined by ``,`` and steps end with ``;``::

    >>> encode(np.array([[1.0, 2.5], [0.5, 0.3]]), scale=2.0)
    '0.50,1.25;0.25,0.15;'

An all-zero series has α = 0; it is encoded with α = 1 instead. At forecast time α is computed from
the observed context only, never from the future being forecast.

Decoding is total: any string (model output) yields the steps that parse and a count of the
malformed ones, never an exception and never a non-finite value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

STEP_SEP = ";"
VALUE_SEP = ","
# ASCII digits only: str.isdigit/\d accept other scripts' digits, which float() would then accept.
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?|-?\.[0-9]+")
_MAX_ABS = 1e12  # a decoded value beyond this is model noise, not a forecast: treat as malformed


def scale_of(x: np.ndarray, percentile: float = 95.0) -> float:
    """α = the ``percentile``-th percentile of |x| (1.0 when that is 0, e.g. an all-zero series)."""
    alpha = float(np.percentile(np.abs(x), percentile))
    return alpha if alpha > 0 and np.isfinite(alpha) else 1.0


def step_tokens(num_vars: int, precision: int, int_digits: int = 1, signed: bool = False) -> int:
    """Characters (= tokens, one per character) of one encoded time step: each of the D values
    has an optional sign, ``int_digits`` digits, ``.`` and ``precision`` decimals (no ``.`` when
    precision is 0), then one separator (``,`` or ``;``): D · (sign + k + [1 + p] + 1)."""
    value = int(signed) + int_digits + (1 + precision if precision > 0 else 0)
    return num_vars * (value + 1)


def encode(x: np.ndarray, scale: float, precision: int = 2) -> str:
    """Text for series ``x`` (T, D) or (T,) in units of ``scale``, each step ending with ``;``."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    scaled = np.round(x / scale, precision) + 0.0  # + 0.0 turns -0.0 into 0.0
    fmt = f"{{:.{precision}f}}"
    return "".join(VALUE_SEP.join(fmt.format(v) for v in row) + STEP_SEP for row in scaled)


def encode_series(x: np.ndarray, percentile: float = 95.0, precision: int = 2) -> tuple[str, float]:
    """``(text, α)`` with α from ``x`` itself."""
    alpha = scale_of(x, percentile)
    return encode(x, alpha, precision), alpha


@dataclass(frozen=True)
class Decoded:
    values: np.ndarray  # (k, D) steps that parsed, in the encoded (scaled) units
    malformed: int  # step-shaped pieces that did not parse as D finite numbers


def decode(text: str, num_vars: int, max_steps: int | None = None) -> Decoded:
    """Parse ``a,b;c,d;...`` into (k, D), keeping only the steps that parse."""
    rows = _parse_pieces(text, num_vars, max_steps)
    steps = [r for r in rows if r is not None]
    values = np.array(steps, dtype=np.float64).reshape(len(steps), num_vars)
    return Decoded(values, len(rows) - len(steps))


def _parse_pieces(text: str, num_vars: int, max_steps: int | None) -> list[list[float] | None]:
    """One entry per step position: the parsed row, or None where that step is malformed.
    A piece is a step when it ends with ``;``, or is the final piece and still holds D
    well-formed values (output cut off before its ``;``)."""
    pieces = text.split(STEP_SEP)
    tail = pieces.pop()  # after the last ';' (empty when the text ends with ';')
    rows = [_parse_step(p, num_vars) for p in pieces[:max_steps]]
    if (max_steps is None or len(rows) < max_steps) and (last := _parse_step(tail, num_vars)):
        rows.append(last)
    return rows


def _parse_step(piece: str, num_vars: int) -> list[float] | None:
    parts = piece.strip().split(VALUE_SEP)
    if len(parts) != num_vars or not all(_NUMBER.fullmatch(p.strip()) for p in parts):
        return None
    try:
        row = [float(p) for p in parts]
    except ValueError:
        return None
    return row if all(abs(v) <= _MAX_ABS for v in row) else None


@dataclass(frozen=True)
class Forecast:
    values: np.ndarray  # (horizon, D) in original units
    parsed: int  # steps taken from the text, before filling
    malformed: int


def decode_forecast(text: str, num_vars: int, horizon: int, scale: float,
                    last: np.ndarray) -> Forecast:
    """Exactly ``horizon`` steps in original units, always finite. A malformed or missing step
    is filled with the last valid value before it (a parsed step, else ``last``, the final
    context step); steps keep their positions in time."""
    rows = _parse_pieces(text, num_vars, horizon)
    limit = np.finfo(np.float64).max / max(abs(scale), 1.0)  # × scale must stay finite
    rows = [r if r is None or max(map(abs, r)) <= limit else None for r in rows]
    values = np.empty((horizon, num_vars))
    prev = np.asarray(last, dtype=np.float64).reshape(num_vars)
    for i in range(horizon):
        row = rows[i] if i < len(rows) else None
        prev = np.asarray(row) * scale if row is not None else prev
        values[i] = prev
    parsed = sum(r is not None for r in rows)
    return Forecast(values, parsed, len(rows) - parsed)


def encode_all(series: np.ndarray, percentile: float = 95.0, precision: int = 2) -> list[str]:
    """Each series (N, T, D) encoded with its own α (training data: the whole series is seen)."""
    return [encode_series(x, percentile, precision)[0] for x in series]
