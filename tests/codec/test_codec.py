"""The one Codec object: built from the data config and the tokenizer, it holds every codec setting
and the stages ask it instead of the config."""

from __future__ import annotations

import numpy as np
import pytest

from llmts.codec import Codec, has_negatives
from llmts.codec.llmtime import encode_series
from llmts.errors import LlmtsError
from tests.helpers import compose, digit_pair_tokenizer


def test_build_reads_every_codec_setting_from_the_data_config(tiny_tokenizer):
    data = compose("data.scale=per_variable", "data.missing=encode", "data.precision=3",
                   "data.percentile=90").data
    codec = Codec.build(data, tiny_tokenizer, signed=True)
    assert (codec.per_variable, codec.missing, codec.precision, codec.percentile,
            codec.signed) == (True, True, 3, 90.0, True)
    x = np.array([[1.0, 200.0], [np.nan, 100.0], [3.0, 300.0]])
    text, alpha = encode_series(x, 90.0, 3, per_variable=True, missing=True)
    np.testing.assert_allclose(codec.scales(x), alpha)
    assert codec.encode(x, codec.scales(x)) == text


def test_build_checks_the_tokenizer_in_one_line(tiny_tokenizer):
    with pytest.raises(LlmtsError, match="data.digit_separator=' '"):
        Codec.build(compose().data, digit_pair_tokenizer())
    spaced = Codec.build(compose("data.digit_separator=' '").data, digit_pair_tokenizer())
    assert spaced.encode(np.array([[1.5]]), 1.0) == " 1 . 5 0 ;"


def sign_allowed(codec: Codec) -> bool:
    """Whether the codec's grammar lets a value start with ``-``."""
    g = codec.grammar(1, 2, 1)
    minus = g.columns.tolist().index(codec.tokenizer.convert_tokens_to_ids("-"))
    return bool(g.allowed[0, :, minus].any())


def test_a_sign_only_where_the_data_has_one(tiny_tokenizer):
    codec = Codec.build(compose().data, tiny_tokenizer)
    assert not codec.signed and codec.for_series([np.ones((3, 2))]) is codec
    assert codec.for_series([np.array([[1.0], [-0.5]])]).signed
    assert not sign_allowed(codec) and sign_allowed(codec.for_series([-np.ones((2, 1))]))
    assert has_negatives([np.array([[np.nan, -1e-9]])]) and not has_negatives([np.full((2, 2), np.nan)])


def test_a_negative_context_the_codec_cannot_sign_is_refused(tiny_tokenizer):
    from llmts.forecast.batch import forecast
    from llmts.model.build import build_model

    cfg = compose("model=tiny")
    net = build_model(cfg.model, cfg.lora, cfg.seed)
    unsigned = Codec.build(cfg.data, tiny_tokenizer)
    ctx = np.array([[[0.5, 1.0], [-0.25, 0.75], [0.5, 1.0]]])
    with pytest.raises(LlmtsError, match="negative values"):
        forecast(net, unsigned, ctx, 2, cfg.decoding)
    res = forecast(net, unsigned.for_series(ctx), ctx, 2, cfg.decoding)
    assert res.parse_rate == 1.0 and res.samples.shape == (1, 1, 2, 2)
