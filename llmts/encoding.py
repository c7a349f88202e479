"""``from llmts.encoding import …`` (the documented path before the codec package): the LLMTIME
functions of :mod:`llmts.codec.llmtime`, kept importable from here."""

from llmts.codec.llmtime import (
    decode,
    decode_forecast,
    encode,
    encode_all,
    encode_series,
    scale_of,
    scales_of,
)

__all__ = [
    "decode",
    "decode_forecast",
    "encode",
    "encode_all",
    "encode_series",
    "scale_of",
    "scales_of",
]
