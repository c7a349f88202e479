"""The codec of a run, as one object every stage takes: how its series become text and back.

A :class:`Codec` is built once from the data config and the tokenizer (:meth:`Codec.build`,
which also checks that the tokenizer writes every codec character as one token). It holds every
codec setting — percentile and precision of the LLMTIME scaling, one α per series or per
variable, gaps written as ``NaN``, the digit separator, whether values may carry a sign — so no
stage reads those settings from the config again: encoding prompts and training texts, decoding
forecasts, the grammar's token tables, the tokens an output head keeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from llmts.codec import grammar, llmtime
from llmts.codec import tokenizer as tokens
from llmts.errors import LlmtsError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from llmts.config.schema import DataConfig


@dataclass(frozen=True, eq=False)
class Codec:
    """LLMTIME text ⇄ series (T, D) for one tokenizer. ``per_variable``: α_d per variable (else
    one α per series); ``missing``: NaN written as the field ``NaN``; ``separator``: written
    before every character; ``signed``: values may be negative (the grammar allows ``-``)."""

    tokenizer: PreTrainedTokenizerBase
    percentile: float = 95.0
    precision: int = 2
    per_variable: bool = False
    missing: bool = False
    separator: str = ""
    signed: bool = False

    @classmethod
    def build(cls, data: DataConfig, tokenizer: PreTrainedTokenizerBase,
              signed: bool = False) -> Codec:
        """The codec ``data`` describes (``signed``: the series have negative values), after
        checking the tokenizer can write it one token per character (:class:`LlmtsError`)."""
        codec = cls(tokenizer, data.percentile, data.precision, data.scale == "per_variable",
                    data.missing == "encode", data.digit_separator, signed)
        codec.check_tokenizer()
        return codec

    def for_series(self, series: Sequence[np.ndarray] | np.ndarray) -> Codec:
        """This codec, signed when ``series`` hold a negative value (checked again if so)."""
        signed = has_negatives(series)
        if signed == self.signed:
            return self
        codec = Codec(self.tokenizer, self.percentile, self.precision, self.per_variable,
                      self.missing, self.separator, signed)
        codec.check_tokenizer()
        return codec

    def check_tokenizer(self) -> None:
        """One :class:`LlmtsError` line unless every codec character is one token and no two
        neighbours merge (see :func:`llmts.codec.tokenizer.check_codec_tokens`)."""
        tokens.check_codec_tokens(self.tokenizer, self.separator, self.signed, self.missing)

    def check_writable(self, series: Sequence[np.ndarray] | np.ndarray, where: str) -> None:
        """:class:`LlmtsError` when ``series`` hold a negative value this codec has no sign for
        (a forecast would then come back positive: silently wrong)."""
        if not self.signed and has_negatives(series):
            raise LlmtsError(f"{where}: the series have negative values, and this codec writes "
                             "no sign (it was built for non-negative data)")

    def scales(self, x: np.ndarray) -> np.ndarray:
        """(D,) α of series ``x`` (T, D) from its observed values."""
        return llmtime.scales_of(x, self.percentile, self.per_variable)

    def encode(self, x: np.ndarray, scale: float | np.ndarray) -> str:
        """Text of ``x`` (T, D) in units of ``scale`` (ValueError for what it cannot write)."""
        return llmtime.encode(x, scale, self.precision, self.missing, self.separator)

    def training_texts(self, series: np.ndarray, mask_prob: float = 0.0,
                       seed: int = 0) -> list[str]:
        """Each series (N, T, D) with its own α; values knocked out with ``mask_prob``."""
        return llmtime.encode_all(series, self.percentile, self.precision, self.per_variable,
                                  self.missing, self.separator, mask_prob, seed)

    def decode_forecast(self, text: str, num_vars: int, horizon: int,
                        scale: float | np.ndarray, last: np.ndarray) -> llmtime.Forecast:
        """Exactly ``horizon`` steps in original units (see :func:`llmtime.decode_forecast`)."""
        return llmtime.decode_forecast(text, num_vars, horizon, scale, last, self.separator)

    def grammar(self, num_vars: int, horizon: int, max_int_digits: int) -> grammar.Grammar:
        """The format automaton of a ``horizon``-step forecast of ``num_vars`` values."""
        return grammar.Grammar.build(self.tokenizer, num_vars, self.precision, horizon,
                                     max_int_digits, self.signed, self.separator)

    def max_new_tokens(self, num_vars: int, horizon: int, max_int_digits: int) -> int:
        """The most tokens a constrained forecast can take, its EOS included."""
        return grammar.max_new_tokens(num_vars, horizon, self.precision, max_int_digits,
                                      self.signed)

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
