import numpy as np
import pytest

from llmts.encoding import decode, decode_forecast, encode, encode_series, scale_of

TABLE1 = [
    ([[0.9499, 1.0406], [0.7406, 0.7795], [0.6822, 0.5644]], 2.8809319, "0.33,0.36;0.26,0.27;0.24,0.20;"),
    ([[0.9715, 1.0054], [1.0787, 0.8218], [1.2608, 0.6864]], 3.1954854, "0.30,0.31;0.34,0.26;0.39,0.21;"),
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
    assert fc.parsed == 2 and fc.malformed == 1
    # malformed step 2 and missing steps 4-5 are filled with the last valid value before them
    assert fc.values.tolist() == [[1, 1], [1, 1], [2, 4], [2, 4], [2, 4]]


@pytest.mark.parametrize("text", ["", ";;;", "abc", "1.2.3;", "1e999,2;", "٣.٣,1;", "9" * 5000 + ",1;",
                                  "0.1,0.2,0.3;", "-,-;", ".,.;", "1,2" * 30000])
def test_decode_forecast_is_total(text):
    fc = decode_forecast(text, 2, 4, 3.0, np.array([1.0, 2.0]))
    assert fc.values.shape == (4, 2)
    assert np.isfinite(fc.values).all()
    assert fc.parsed <= 4
