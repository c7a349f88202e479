"""The LLMTIME codec (public API): numeric series <-> text.

Encoding a series x (T, D):  α = Percentile_p(|x|) (p = 95), x' = x / α rounded to ``precision``
decimals; the D values of a step are joined by ``,`` and steps end with ``;``::

    >>> encode(np.array([[1.0, 2.5], [0.5, 0.3]]), scale=2.0)
    '0.50,1.25;0.25,0.15;'

``data.scale=per_variable`` gives each variable its own α_d (the percentile of |x[:, d]|); α is
then a (D,) array and x'[:, d] = x[:, d] / α_d. An all-zero series (or variable) has α = 0; it is
encoded with α = 1 instead. At forecast time α is computed from the observed context only, never
from the future being forecast.

Missing values (``data.missing=encode``): a NaN is written as the field ``NaN`` (LLMTIME's
choice; one token in Qwen2's vocabulary that never merges with ``,`` or ``;``, three byte tokens
in the tiny tokenizer) and α uses the observed values only. ``±inf`` is always refused, and so is
NaN without ``missing``. ``separator`` (``data.digit_separator``) is written before every
character (LLMTIME's spaced digits, for tokenizers that merge digits) and removed on reading.

The round trip is closed: every value :func:`encode` writes, :func:`decode` reads back (to
within half a unit of the last decimal); a value it could not read back (|x/α| > 1e12) is
refused with a ValueError naming it. Decoding is total: any string (model output) yields the
steps that parse and a count of the malformed ones, never an exception. Only steps ended by
``;`` are read: an unterminated tail (output cut off mid-step) is never a value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from llmts.config.choices import require

STEP_SEP = ";"
VALUE_SEP = ","
MISSING = "NaN"  # the missing-value field (data.missing=encode)
# ASCII digits only: str.isdigit/\d accept other scripts' digits, which float() would then accept.
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?|-?\.[0-9]+")
_MAX_ABS = 1e12  # a decoded value beyond this is model noise, not a forecast: treat as malformed


def scale_of(x: np.ndarray, percentile: float = 95.0) -> float:
    """α = the ``percentile``-th percentile of |x| over its finite (observed) values; 1.0 when
    that is 0 or there is none (an all-zero or all-missing series)."""
    x = np.abs(np.asarray(x, dtype=np.float64))
    x = x[np.isfinite(x)]
    alpha = float(np.percentile(x, percentile)) if x.size else 0.0
    return alpha if alpha > 0 and np.isfinite(alpha) else 1.0


def step_tokens(num_vars: int, precision: int, int_digits: int = 1, signed: bool = False) -> int:
    """Characters (= tokens, one per character) of one encoded time step: each of the D values
    has an optional sign, ``int_digits`` digits, ``.`` and ``precision`` decimals (no ``.`` when
    precision is 0), then one separator (``,`` or ``;``): D · (sign + k + [1 + p] + 1)."""
    value = int(signed) + int_digits + (1 + precision if precision > 0 else 0)
    return num_vars * (value + 1)


def check_context_length(data) -> None:
    """:class:`LlmtsError` unless ``data.context_length`` tokens hold one time step of one
    variable (the shortest a codec text has; the run checks again once D is known)."""
    require(
        data.context_length >= step_tokens(1, data.precision),
        "data.context_length",
        data.context_length,
        "too small to hold one time step",
    )


def scales_of(x: np.ndarray, percentile: float = 95.0, per_variable: bool = False) -> np.ndarray:
    """(D,) α for series ``x`` (T, D): one joint α repeated, or each variable's own."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    if per_variable:
        return np.array([scale_of(x[:, k], percentile) for k in range(x.shape[1])])
    return np.full(x.shape[1], scale_of(x, percentile))


def encode(
    x: np.ndarray,
    scale: float | np.ndarray,
    precision: int = 2,
    missing: bool = False,
    separator: str = "",
) -> str:
    """Text for series ``x`` (T, D) or (T,) in units of ``scale`` (a float or (D,)), each step
    ending with ``;``. ValueError for ±inf, for NaN unless ``missing``, and for a value the
    decoder could not read back."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    _check_finite(x, missing)
    scaled = np.round(x / np.asarray(scale, dtype=np.float64), precision) + 0.0  # -0.0 → 0.0
    if (big := np.abs(np.nan_to_num(scaled)) > _MAX_ABS).any():
        i, k = np.argwhere(big)[0]
        raise ValueError(
            f"encode: value {x[i, k]:g} at step {i}, variable {k} is "
            f"{scaled[i, k]:.3g} × α; the codec reads back at most {_MAX_ABS:g} × α"
        )
    fmt = f"{{:.{precision}f}}"
    text = "".join(
        VALUE_SEP.join(MISSING if np.isnan(v) else fmt.format(v) for v in row) + STEP_SEP
        for row in scaled
    )
    return spaced(text, separator)


def _check_finite(x: np.ndarray, missing: bool) -> None:
    bad = np.isinf(x) | (np.isnan(x) & (not missing))
    if bad.any():
        i, k = np.argwhere(bad)[0]
        hint = "" if np.isinf(x[i, k]) else " (set data.missing=encode to write gaps as 'NaN')"
        raise ValueError(f"encode: non-finite value {x[i, k]} at step {i}, variable {k}{hint}")


def spaced(text: str, separator: str) -> str:
    """``separator`` before every character (the missing field ``NaN`` is kept whole)."""
    if not separator:
        return text
    units = text.replace(MISSING, "\0").replace("", separator)[: -len(separator)]
    return units.replace("\0", MISSING)


def encode_series(
    x: np.ndarray,
    percentile: float = 95.0,
    precision: int = 2,
    per_variable: bool = False,
    missing: bool = False,
    separator: str = "",
) -> tuple[str, np.ndarray | float]:
    """``(text, α)`` with α from ``x`` itself (a float, or (D,) when ``per_variable``)."""
    alphas = scales_of(x, percentile, per_variable)
    alpha = alphas if per_variable else float(alphas[0])
    return encode(x, alpha, precision, missing, separator), alpha


@dataclass(frozen=True)
class Decoded:
    values: np.ndarray  # (k, D) steps that parsed, in the encoded (scaled) units; NaN = missing
    malformed: int  # step-shaped pieces that did not parse as D finite numbers


def decode(text: str, num_vars: int, max_steps: int | None = None, separator: str = "") -> Decoded:
    """Parse ``a,b;c,d;...`` into (k, D), keeping only the steps that parse; a ``NaN`` field
    reads back as NaN."""
    rows = _parse_pieces(_plain(text, separator), num_vars, max_steps, missing=True)
    steps = [r for r in rows if r is not None]
    values = np.array(steps, dtype=np.float64).reshape(len(steps), num_vars)
    return Decoded(values, len(rows) - len(steps))


def _plain(text: str, separator: str) -> str:
    return text.replace(separator, "") if separator else text


def _parse_pieces(
    text: str, num_vars: int, max_steps: int | None, missing: bool = False
) -> list[list[float] | None]:
    """One entry per step position: the parsed row, or None where that step is malformed.
    A step ends with ``;``; a non-empty piece after the last ``;`` (output cut off mid-step) is
    one malformed step, never a value."""
    pieces = text.split(STEP_SEP)
    tail = pieces.pop()  # after the last ';' (empty when the text ends with ';')
    rows = [_parse_step(p, num_vars, missing) for p in pieces[:max_steps]]
    if tail.strip() and (max_steps is None or len(rows) < max_steps):
        rows.append(None)
    return rows


def _parse_step(piece: str, num_vars: int, missing: bool = False) -> list[float] | None:
    parts = [p.strip() for p in piece.strip().split(VALUE_SEP)]
    if len(parts) != num_vars:
        return None
    if not all(_NUMBER.fullmatch(p) or (missing and p == MISSING) for p in parts):
        return None
    try:
        row = [np.nan if p == MISSING else float(p) for p in parts]
    except ValueError:
        return None
    return row if all(np.isnan(v) or abs(v) <= _MAX_ABS for v in row) else None


@dataclass(frozen=True)
class Forecast:
    values: np.ndarray  # (horizon, D) in original units
    parsed: int  # steps taken from the text, before filling
    malformed: int


def decode_forecast(
    text: str,
    num_vars: int,
    horizon: int,
    scale: float | np.ndarray,
    last: np.ndarray,
    separator: str = "",
) -> Forecast:
    """Exactly ``horizon`` steps in original units, always finite. A malformed or missing step
    (a ``NaN`` field in a forecast is malformed) is filled with the last valid value before it
    (a parsed step, else ``last``, the final observed context values); steps keep their
    positions in time. ``scale``: α, a float or (D,)."""
    rows = _parse_pieces(_plain(text, separator), num_vars, horizon)
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), (num_vars,))
    limit = np.finfo(np.float64).max / max(float(np.max(np.abs(scale))), 1.0)  # × α stays finite
    rows = [r if r is None or max(map(abs, r)) <= limit else None for r in rows]
    values = np.empty((horizon, num_vars))
    prev = np.nan_to_num(np.asarray(last, dtype=np.float64).reshape(num_vars))
    for i in range(horizon):
        row = rows[i] if i < len(rows) else None
        prev = np.asarray(row) * scale if row is not None else prev
        values[i] = prev
    parsed = sum(r is not None for r in rows)
    return Forecast(values, parsed, len(rows) - parsed)


def last_observed(x: np.ndarray) -> np.ndarray:
    """(D,) each variable's last non-NaN value in ``x`` (T, D); 0 where there is none."""
    x = np.asarray(x, dtype=np.float64)
    seen = ~np.isnan(x)
    last = np.where(seen.any(0), len(x) - 1 - np.argmax(seen[::-1], axis=0), 0)
    return np.nan_to_num(x[last, np.arange(x.shape[1])])


def mask_values(x: np.ndarray, prob: float, rng: np.random.Generator) -> np.ndarray:
    """``x`` with each value replaced by NaN with probability ``prob`` (training gaps)."""
    return np.where(rng.random(x.shape) < prob, np.nan, x) if prob > 0 else x


def encode_all(
    series: np.ndarray,
    percentile: float = 95.0,
    precision: int = 2,
    *,
    per_variable: bool = False,
    missing: bool = False,
    separator: str = "",
    mask_prob: float = 0.0,
    seed: int = 0,
) -> list[str]:
    """Each series (N, T, D) encoded with its own α (training data: the whole series is seen);
    with ``mask_prob`` > 0 each value is first knocked out with that probability (seeded), so
    the model learns to read gaps."""
    rng = np.random.default_rng(seed)
    return [
        encode_series(
            mask_values(x, mask_prob, rng), percentile, precision, per_variable, missing, separator
        )[0]
        for x in series
    ]


def integer_digits(contexts, scales: np.ndarray) -> np.ndarray:
    """Per series: integer digits of its largest scaled value (≥ 1; gaps ignored). With α the
    95th percentile of |context| that is one digit for most series, so a forecast can reach 10×
    its context's typical size but never the 1e3-1e5 that an unconstrained integer part allows.
    ``contexts``: (n, c, D) or a list of (c_i, D); ``scales``: (n,) or (n, D)."""
    scales = np.asarray(scales, dtype=np.float64).reshape(len(contexts), -1)
    top = [np.nanmax(np.abs(c) / a, initial=0.0) for c, a in zip(contexts, scales)]
    return np.array([max(1, len(str(int(t)))) for t in top])
