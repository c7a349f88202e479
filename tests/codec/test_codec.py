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
    data = compose(
        "data.scale=per_variable", "data.missing=encode", "data.precision=3", "data.percentile=90"
    ).data
    codec = Codec.build(data, tiny_tokenizer, signed=True)
    assert (codec.scale, codec.missing, codec.precision, codec.percentile, codec.signed) == (
        "per_variable",
        True,
        3,
        90.0,
        True,
    )
    x = np.array([[1.0, 200.0], [np.nan, 100.0], [3.0, 300.0]])
    text, alpha = encode_series(x, 90.0, 3, per_variable=True, missing=True)
    np.testing.assert_allclose(codec.scaling(x)[0], alpha)
    assert not codec.scaling(x)[1].any() and codec.encode(x, alpha) == text


def test_build_checks_the_tokenizer_in_one_line(tiny_tokenizer):
    with pytest.raises(LlmtsError, match="data.digit_separator=' '"):
        Codec.build(compose("data.digit_separator=''").data, digit_pair_tokenizer())
    spaced = Codec.build(compose("data.digit_separator=' '").data, digit_pair_tokenizer())
    assert spaced.encode(np.array([[1.5]]), 1.0) == " 1 . 5 0 ;"


def test_auto_separator_spaces_digits_only_where_the_tokenizer_merges_them(tiny_tokenizer, caplog):
    auto = compose().data
    assert auto.digit_separator == "auto"
    with caplog.at_level("INFO", logger="llmts.codec.tokenizer"):
        assert Codec.build(auto, tiny_tokenizer).separator == ""
        assert Codec.build(auto, digit_pair_tokenizer()).separator == " "
    said = [r.getMessage() for r in caplog.records if "digit_separator=auto" in r.getMessage()]
    assert len(said) == 2 and "''" in said[0] and "' '" in said[1] and "'00'" in said[1]


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
    assert has_negatives([np.array([[np.nan, -1e-9]])]) and not has_negatives(
        [np.full((2, 2), np.nan)]
    )


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


def test_affine_scaling_writes_any_sign_without_one_and_inverts_exactly(tiny_tokenizer):
    """LLMTIME's shifted scaler: offset = min − β·(max − min) per variable, α = the percentile of
    x − offset; every written context value is ≥ 0 (no '-'), and reading back inverts it."""
    codec = Codec.build(
        compose("data.scale=affine", "data.affine_beta=0.3").data, tiny_tokenizer, signed=True
    )
    assert not codec.signed  # no sign needed
    x = np.stack([np.sin(np.linspace(0, 6, 40)) * 3 - 1, np.linspace(-5, -4, 40)], axis=1)
    alpha, offset = codec.scaling(x)
    lo, hi = x.min(0), x.max(0)
    np.testing.assert_allclose(offset, lo - 0.3 * (hi - lo))
    np.testing.assert_allclose(alpha, np.percentile(x - offset, 95, axis=0))
    text = codec.encode(x, alpha, offset)
    assert "-" not in text
    back = codec.decode_forecast(text, 2, 40, alpha, x[-1], offset).values
    assert np.abs(back - x).max() <= 0.5 * 10**-codec.precision * alpha.max() + 1e-12


def test_a_series_crossing_zero_forecasts_negative_values_back(tiny_tokenizer):
    """A model that always writes '0' forecasts 0.00 in the encoded units: the offset, below the
    context's minimum, so negative; the grammar never offers '-'."""
    import copy

    import torch

    from llmts.forecast.batch import forecast
    from llmts.model.build import build_model

    cfg = compose("model=tiny", "data.scale=affine")
    net = copy.deepcopy(build_model(cfg.model, cfg.lora, cfg.seed))
    bias = next(p for n, p in net.named_parameters() if n.endswith("lm_head.bias"))
    with torch.no_grad():
        bias[tiny_tokenizer.convert_tokens_to_ids("0")] += 1e4
    ctx = np.stack([np.sin(np.linspace(0, 9, 30)) * 2 + 0.5, np.cos(np.linspace(0, 9, 30))], 1)
    codec = Codec.build(cfg.data, tiny_tokenizer, signed=has_negatives([ctx]))
    res = forecast(net, codec, ctx[None], 4, cfg.decoding)
    assert res.parse_rate == 1.0 and "-" not in res.texts[0]
    np.testing.assert_allclose(res.samples[0, 0], np.broadcast_to(res.offsets[0], (4, 2)))
    assert (res.samples < 0).all() and (res.offsets < ctx.min(0)).all()


def test_qwen_refuses_signed_data_unless_affine_and_says_so():
    from tests.helpers import QWEN_TOKENIZER

    if not QWEN_TOKENIZER.is_dir():
        pytest.skip(f"real Qwen tokenizer not found at {QWEN_TOKENIZER}")
    from transformers import AutoTokenizer

    qwen = AutoTokenizer.from_pretrained(str(QWEN_TOKENIZER))
    with pytest.raises(LlmtsError, match="set data.scale=affine"):
        Codec.build(compose().data, qwen, signed=True)
    assert not Codec.build(compose("data.scale=affine").data, qwen, signed=True).signed
