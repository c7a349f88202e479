import numpy as np
import pytest

from llmts.codec.llmtime import (
    MISSING,
    decode,
    decode_forecast,
    encode,
    encode_all,
    encode_series,
    last_observed,
    scale_of,
    scales_of,
    spaced,
)

TABLE1 = [
    (
        [[0.9499, 1.0406], [0.7406, 0.7795], [0.6822, 0.5644]],
        2.8809319,
        "0.33,0.36;0.26,0.27;0.24,0.20;",
    ),
    (
        [[0.9715, 1.0054], [1.0787, 0.8218], [1.2608, 0.6864]],
        3.1954854,
        "0.30,0.31;0.34,0.26;0.39,0.21;",
    ),
]


@pytest.mark.parametrize("x, scale, text", TABLE1)
def test_report_table1_strings(x, scale, text):
    assert encode(np.array(x), scale, precision=2) == text


def test_scale_is_percentile_of_abs():
    x = np.linspace(-10, 10, 101)
    assert scale_of(x, 95) == pytest.approx(np.percentile(np.abs(x), 95))
    assert scale_of(np.zeros(5)) == 1.0  # all-zero series: no division by zero


def test_round_trip_within_half_a_unit_of_precision():
    rng = np.random.default_rng(0)
    for d in (1, 2, 5):
        x = rng.gamma(2.0, size=(30, d))
        text, alpha = encode_series(x)
        back = decode(text, d).values * alpha
        assert back.shape == x.shape
        assert np.max(np.abs(back - x)) <= 0.005 * alpha + 1e-12


def test_negative_values_and_signs():
    text = encode(np.array([[-1.0, 0.0], [-0.001, 2.0]]), 1.0)
    assert text == "-1.00,0.00;0.00,2.00;"
    assert decode(text, 2).values.tolist() == [[-1.0, 0.0], [0.0, 2.0]]


def test_decode_counts_malformed_and_keeps_positions():
    fc = decode_forecast("0.50,0.50;garbage;1.00,2.00;0.7", 2, 5, 2.0, np.array([9.0, 9.0]))
    assert fc.parsed == 2 and fc.malformed == 2  # "garbage" and the cut-off tail "0.7"
    # malformed step 2 and missing steps 4-5 are filled with the last valid value before them
    assert fc.values.tolist() == [[1, 1], [1, 1], [2, 4], [2, 4], [2, 4]]


@pytest.mark.parametrize(
    "text",
    [
        "",
        ";;;",
        "abc",
        "1.2.3;",
        "1e999,2;",
        "٣.٣,1;",
        "9" * 5000 + ",1;",
        "0.1,0.2,0.3;",
        "-,-;",
        ".,.;",
        "1,2" * 30000,
    ],
)
def test_decode_forecast_is_total(text):
    fc = decode_forecast(text, 2, 4, 3.0, np.array([1.0, 2.0]))
    assert fc.values.shape == (4, 2)
    assert np.isfinite(fc.values).all()
    assert fc.parsed <= 4


# Codec fixes (issue 13, item 7)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_a_clear_value_error(bad):
    x = np.array([[1.0, 2.0], [bad, 3.0]])
    with pytest.raises(ValueError, match="non-finite value .* step 1, variable 0"):
        encode_series(x)


def test_nan_is_the_missing_field_under_missing_encode_and_reads_back_as_nan():
    x = np.array([[1.0, np.nan], [3.0, 4.0]])
    text, alpha = encode_series(x, missing=True)
    assert alpha == pytest.approx(np.percentile([1.0, 3.0, 4.0], 95))  # observed values only
    assert text.count(MISSING) == 1 and text.split(";")[0].endswith("," + MISSING)
    back = decode(text, 2).values * alpha
    assert np.isnan(back[0, 1]) and np.allclose(
        back[[0, 1, 1], [0, 0, 1]], [1, 3, 4], atol=0.005 * alpha
    )
    with pytest.raises(ValueError, match="non-finite value inf"):  # inf is never a gap
        encode(np.array([[np.inf, 1.0]]), 1.0, missing=True)


def test_a_missing_field_in_a_forecast_is_malformed_and_filled_with_the_last_observed():
    fc = decode_forecast(f"0.50,{MISSING};", 2, 1, 2.0, np.array([7.0, np.nan]))
    assert fc.parsed == 0 and fc.malformed == 1
    assert fc.values.tolist() == [[7.0, 0.0]]  # a NaN in `last` never reaches the forecast
    assert last_observed(np.array([[1, 2], [np.nan, 3], [4, np.nan]])).tolist() == [4, 3]


@pytest.mark.parametrize("text", ["0.26,0.2", "0.26,0.20;0.11,0.2", "0.26,0.20;0.11,0.20"])
def test_an_unterminated_tail_is_never_a_value(text):
    steps = text.count(";")
    assert len(decode(text, 2).values) == steps
    fc = decode_forecast(text, 2, 3, 1.0, np.array([5.0, 5.0]))
    assert fc.parsed == steps and fc.malformed == 1  # the cut-off step
    assert fc.values[steps].tolist() == ([5.0, 5.0] if steps == 0 else [0.26, 0.2])


def test_encoder_refuses_what_the_decoder_would_reject_naming_the_value():
    with pytest.raises(ValueError, match=r"value 3e\+15 at step 1, variable 0"):
        encode(np.array([[1.0], [3e15]]), 1.0)
    edge = np.array([[1e12], [-1e12]])  # the largest magnitude the decoder accepts
    assert decode(encode(edge, 1.0), 1).values.tolist() == edge.tolist()


def test_every_value_the_encoder_writes_reads_back():
    rng = np.random.default_rng(1)
    for precision in (0, 1, 2, 4):
        x = rng.normal(size=(40, 3)) * 10.0 ** rng.integers(-6, 10, size=(40, 3))
        x[rng.random(x.shape) < 0.1] = np.nan
        for per_variable in (False, True):
            text, alpha = encode_series(
                x, precision=precision, per_variable=per_variable, missing=True
            )
            back = decode(text, 3).values * alpha
            assert np.array_equal(np.isnan(back), np.isnan(x))
            err = np.abs(np.nan_to_num(back) - np.nan_to_num(x))
            assert (err <= 0.5 * 10.0**-precision * np.broadcast_to(alpha, (3,)) * (1 + 1e-9)).all()


# Per-variable scaling (item 4)


def test_per_variable_alpha_is_each_variables_percentile():
    x = np.c_[np.linspace(0, 1, 50), np.linspace(0, 1000, 50)]
    assert scales_of(x, per_variable=True).tolist() == pytest.approx(
        [np.percentile(x[:, 0], 95), np.percentile(x[:, 1], 95)]
    )
    joint = scales_of(x)
    assert joint.tolist() == [scale_of(x)] * 2
    text, alpha = encode_series(x, per_variable=True)
    assert text.split(";")[-2] == "1.05,1.05"  # both variables on the same scale
    fc = decode_forecast("0.50,0.50;", 2, 1, alpha, x[-1])
    assert fc.values[0].tolist() == pytest.approx(0.5 * alpha)


def test_spaced_digits_round_trip():
    text = encode(np.array([[0.5, np.nan]]), 1.0, missing=True, separator=" ")
    assert text == " 0 . 5 0 , NaN ;" and spaced("1;", " ") == " 1 ;"
    assert np.isnan(decode(text, 2, separator=" ").values[0, 1])
    assert decode_forecast(" 0 . 2 5 , 1 . 0 0 ;", 2, 1, 2.0, np.zeros(2), " ").values.tolist() == [
        [0.5, 2.0]
    ]


def test_mask_prob_knocks_out_training_values_reproducibly():
    series = np.ones((3, 200, 2))
    texts = encode_all(series, missing=True, mask_prob=0.25, seed=3)
    assert texts == encode_all(series, missing=True, mask_prob=0.25, seed=3)
    share = sum(t.count(MISSING) for t in texts) / series.size
    assert 0.2 < share < 0.3
    assert MISSING not in "".join(encode_all(series, missing=True))
