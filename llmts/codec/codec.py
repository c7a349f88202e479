"""The codec of a run, as one object every stage takes: how its series become text and back.

A :class:`Codec` is built once from the data config and the tokenizer (:meth:`Codec.build`,
which also checks that the tokenizer writes every codec character as one token). It holds every
codec setting — the scaling and the precision, gaps written as ``NaN``, the digit separator,
whether values may carry a sign — so no stage reads those settings from the config again:
encoding prompts and training texts, decoding forecasts, the grammar's token tables, the tokens
an output head keeps.

Scaling (:meth:`Codec.scaling`, from the series being encoded — at forecast time the context
only): a value x of variable d is written as (x − o_d) / α_d, read back as v · α_d + o_d.

* ``joint`` (the study): o = 0, α = the ``percentile`` of |x| over the whole series;
* ``per_variable``: o = 0, α_d = the ``percentile`` of |x_d|;
* ``affine`` (LLMTIME's shifted scaler, for data of any sign): o_d = min x_d − β (max x_d −
  min x_d), α_d = the ``percentile`` of x_d − o_d. Every context value is then written ≥ 0, so
  no sign is needed (Qwen's tokenizer merges ``,-``); a forecast can go down to o_d.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from llmts.codec import grammar, llmtime
from llmts.codec import tokenizer as tokens
from llmts.config.schema import gaps_allowed
from llmts.errors import LlmtsError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from llmts.config.schema import DataConfig


@dataclass(frozen=True, eq=False)
class Codec:
    """LLMTIME text ⇄ series (T, D) for one tokenizer. ``scale``: ``joint``, ``per_variable`` or
    ``affine`` (module docstring; ``beta`` is affine's β); ``missing``: NaN written as the field
    ``NaN``; ``separator``: written before every character; ``signed``: values may be negative
    (the grammar allows ``-``; never needed with ``affine``)."""

    tokenizer: PreTrainedTokenizerBase
    percentile: float = 95.0
    precision: int = 2
    scale: str = "joint"
    missing: bool = False
    separator: str = ""
    signed: bool = False
    beta: float = 0.3

    def __post_init__(self) -> None:
        if self.scale not in ("joint", "per_variable", "affine"):
            raise ValueError(f"Codec: unknown scale {self.scale!r}")
        if self.scale == "affine":  # every written value is >= 0
            object.__setattr__(self, "signed", False)

    @classmethod
    def build(
        cls, data: DataConfig, tokenizer: PreTrainedTokenizerBase, signed: bool = False
    ) -> Codec:
        """The codec ``data`` describes (``signed``: the series have negative values), after
        checking the tokenizer can write it one token per character (:class:`LlmtsError`).
        ``data.digit_separator=auto`` is decided here, from the tokenizer, and logged."""
        missing = gaps_allowed(data)
        separator = data.digit_separator
        if separator == "auto":
            separator = tokens.choose_separator(tokenizer, signed, missing)
        codec = cls(
            tokenizer,
            data.percentile,
            data.precision,
            str(data.scale),
            missing,
            separator,
            signed,
            data.affine_beta,
        )
        codec.check_tokenizer()
        return codec

    def for_series(self, series: Sequence[np.ndarray] | np.ndarray) -> Codec:
        """This codec, signed when ``series`` hold a negative value (checked again if so)."""
        if self.scale == "affine" or has_negatives(series) == self.signed:
            return self
        codec = replace(self, signed=not self.signed)
        codec.check_tokenizer()
        return codec

    def check_tokenizer(self) -> None:
        """One :class:`LlmtsError` line unless every codec character is one token and no two
        neighbours merge (see :func:`llmts.codec.tokenizer.check_codec_tokens`)."""
        tokens.check_codec_tokens(self.tokenizer, self.separator, self.signed, self.missing)

    def check_writable(self, series: Sequence[np.ndarray] | np.ndarray, where: str) -> None:
        """:class:`LlmtsError` when ``series`` hold a negative value this codec has no sign for
        (a forecast would then come back positive: silently wrong)."""
        if not self.signed and self.scale != "affine" and has_negatives(series):
            raise LlmtsError(
                f"{where}: the series have negative values, and this codec writes "
                "no sign (it was built for non-negative data; data.scale=affine "
                "writes data of any sign)"
            )

    def scaling(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(α (D,), offset (D,)) of series ``x`` (T, D) from its observed values: a value is
        written as (x − offset) / α (module docstring)."""
        x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        if self.scale != "affine":
            alpha = llmtime.scales_of(x, self.percentile, self.scale == "per_variable")
            return alpha, np.zeros_like(alpha)
        seen = ~np.isnan(x).all(axis=0)
        lo = np.where(seen, np.nanmin(np.where(seen, x, 0.0), axis=0), 0.0)
        hi = np.where(seen, np.nanmax(np.where(seen, x, 0.0), axis=0), 0.0)
        offset = lo - self.beta * (hi - lo)
        return llmtime.scales_of(x - offset, self.percentile, per_variable=True), offset

    def encode(
        self, x: np.ndarray, alpha: float | np.ndarray, offset: float | np.ndarray = 0.0
    ) -> str:
        """Text of ``x`` (T, D) as (x − ``offset``) / ``alpha`` (ValueError for what it cannot
        write)."""
        x = np.asarray(x, dtype=np.float64)
        return llmtime.encode(x - offset, alpha, self.precision, self.missing, self.separator)

    def encode_series(self, x: np.ndarray) -> str:
        """Text of ``x`` (T, D) with its own scaling (training: the whole series is seen)."""
        return self.encode(x, *self.scaling(x))

    def training_texts(self, series, mask_prob: float = 0.0, seed: int = 0) -> list[str]:
        """Each series (N, T, D), or a list of (T_i, D), with its own scaling; with
        ``mask_prob`` > 0 each value is first knocked out with that probability (seeded), so
        the model learns to read gaps."""
        rng = np.random.default_rng(seed)
        return [
            self.encode_series(llmtime.mask_values(np.asarray(x, dtype=np.float64), mask_prob, rng))
            for x in series
        ]

    def decode_forecast(
        self,
        text: str,
        num_vars: int,
        horizon: int,
        alpha: float | np.ndarray,
        last: np.ndarray,
        offset: float | np.ndarray = 0.0,
    ) -> llmtime.Forecast:
        """Exactly ``horizon`` steps in original units, v · ``alpha`` + ``offset`` (malformed
        steps filled as :func:`llmtime.decode_forecast` says, from ``last`` at the latest)."""
        offset = np.broadcast_to(np.asarray(offset, dtype=np.float64), (num_vars,))
        fc = llmtime.decode_forecast(
            text,
            num_vars,
            horizon,
            alpha,
            np.asarray(last, dtype=np.float64) - offset,
            self.separator,
        )
        return replace(fc, values=fc.values + offset)

    def integer_digits(self, contexts, alphas: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Per series: integer digits of its largest written context value (≥ 1)."""
        shifted = [np.asarray(c, dtype=np.float64) - o for c, o in zip(contexts, offsets)]
        return llmtime.integer_digits(shifted, alphas)

    def grammar(self, num_vars: int, horizon: int, max_int_digits: int) -> grammar.Grammar:
        """The format automaton of a ``horizon``-step forecast of ``num_vars`` values."""
        return grammar.Grammar.build(
            self.tokenizer,
            num_vars,
            self.precision,
            horizon,
            max_int_digits,
            self.signed,
            self.separator,
        )

    def max_new_tokens(self, num_vars: int, horizon: int, max_int_digits: int) -> int:
        """The most tokens a constrained forecast can take, its EOS included."""
        return grammar.max_new_tokens(
            num_vars, horizon, self.precision, max_int_digits, self.signed
        )

    def token_ids(self) -> list[int]:
        """Every token ID a codec text can hold (digits, separators, sign, ``NaN``)."""
        return tokens.codec_token_ids(self.tokenizer, self.separator, self.missing)

    @property
    def step_token_id(self) -> int:
        """The token that ends a time step (``;``)."""
        return grammar.grammar_token_ids(self.tokenizer, self.separator)[llmtime.STEP_SEP]


def has_negatives(series: Sequence[np.ndarray] | np.ndarray) -> bool:
    """Whether any value of ``series`` (an array or a list of arrays) is below 0 (NaN is not)."""
    return any(bool((np.nan_to_num(np.asarray(s, dtype=np.float64)) < 0).any()) for s in series)
