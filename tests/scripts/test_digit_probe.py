"""scripts/digit_probe.py: the tenths digits it scores, and their previous-step partners."""

import importlib.util

from tests.helpers import REPO


def load_probe():
    spec = importlib.util.spec_from_file_location("digit_probe", REPO / "scripts/digit_probe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tenths_pairs_each_variables_digit_with_its_previous_step():
    text = "0.33,1.36;0.26,10.27;"
    pairs = load_probe().tenths(text)
    assert [(text[p], q) for p, q in pairs] == [("3", -1), ("3", -1), ("2", 2), ("2", 7)]
    assert [text[q] for _, q in pairs if q >= 0] == ["3", "3"]
