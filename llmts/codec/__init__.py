"""The codec stage: series ⇄ LLMTIME text (:mod:`~llmts.codec.llmtime`), the grammar a forecast
follows (:mod:`~llmts.codec.grammar`), tokenizers and their check
(:mod:`~llmts.codec.tokenizer`), training windows (:mod:`~llmts.codec.windows`), and the one
:class:`Codec` object every later stage takes."""

from llmts.codec.codec import Codec, has_negatives
from llmts.codec.llmtime import decode, decode_forecast, encode, encode_series, scale_of, scales_of
from llmts.codec.tokenizer import build_tiny_tokenizer, load_tokenizer
from llmts.codec.windows import training_windows

__all__ = [
    "Codec",
    "build_tiny_tokenizer",
    "decode",
    "decode_forecast",
    "encode",
    "encode_series",
    "has_negatives",
    "load_tokenizer",
    "scale_of",
    "scales_of",
    "training_windows",
]
