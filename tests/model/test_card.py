"""The pretrained folder's model card."""

from llmts.model.card import curve_text


def test_the_cards_validation_curve_takes_evenly_spaced_evaluations():
    curve = [(300 * i, 1.0 / (i + 1)) for i in range(41)]  # the recipe's 41 evaluations
    text = curve_text(curve)
    assert [int(p.split(":")[0]) for p in text.split(", ")] == list(range(0, 12001, 1500))
    assert text.startswith("0: 1.0000, 1500: 0.1667") and text.endswith("12000: 0.0244")
    assert curve_text(curve[:2]) == "0: 1.0000, 300: 0.5000"
    assert curve_text([]) == "n/a"
