"""The leaderboard's aggregation on a hand-made table: the reference is exactly 1, clipping,
the geometric mean, win rate with ties, intervals over tasks."""

import math

import numpy as np
import pandas as pd
import pytest

from llmts.report.leaderboard import gmean, leaderboard, markdown, relative, wide, win_rate


def table():
    rows = [
        # task, model, mase, wql, seconds
        ("a", "seasonal_naive", 2.0, 0.2, 1.0),
        ("a", "llm", 1.0, 0.1, 10.0),
        ("a", "ets", 1.0, 0.4, 2.0),
        ("b", "seasonal_naive", 1.0, 0.1, 1.0),
        ("b", "llm", 4.0, 0.2, 10.0),
        ("b", "ets", 0.5, 0.05, 2.0),
        ("c", "seasonal_naive", 1.0, 0.1, 1.0),
        ("c", "llm", 1000.0, 0.1, 10.0),  # clipped to 100 × the reference
        ("c", "ets", 1.0, 0.1, 2.0),
    ]
    return pd.DataFrame(rows, columns=["task", "model", "mase", "wql", "seconds"])


def test_relative_errors_are_clipped_and_the_reference_is_exactly_one():
    rel = relative(wide(table(), "mase"))
    assert (rel["seasonal_naive"] == 1.0).all()
    assert rel.loc["c", "llm"] == 100.0  # 1000 clipped
    assert rel.loc["a", "llm"] == 0.5 and rel.loc["b", "ets"] == 0.5


def test_the_leaderboard_by_hand():
    board = leaderboard(table(), bootstrap=0).set_index("model")
    # llm: gmean(0.5, 4, 100) = (200)^(1/3); ets: gmean(0.5, 0.5, 1) = 0.25^(1/3)
    assert board.loc["llm", "gmean_relative_mase"] == pytest.approx(200 ** (1 / 3))
    assert board.loc["ets", "gmean_relative_mase"] == pytest.approx(0.25 ** (1 / 3))
    assert board.loc["seasonal_naive", "gmean_relative_mase"] == 1.0
    assert board.loc["ets", "skill_mase"] == pytest.approx(1 - 0.25 ** (1 / 3))
    # wql of llm: 0.5, 2, 1 → gmean 1
    assert board.loc["llm", "gmean_relative_wql"] == pytest.approx(1.0)
    # win rate of ets: a: beats sn, ties llm (1 + ½); b: beats both (2); c: ties sn, beats llm
    # (½ + 1) → 5 of 6 pairs
    assert board.loc["ets", "win_rate_mase"] == pytest.approx(5 / 6)
    assert board.loc["seasonal_naive", "win_rate_mase"] == pytest.approx((0 + 1 + 1.5) / 6)
    assert board.loc["llm", "seconds"] == 30.0
    assert list(board.index) == ["ets", "seasonal_naive", "llm"]  # best first


def test_win_rates_of_all_models_average_one_half():
    rates = win_rate(wide(table(), "mase"))
    assert rates.mean() == pytest.approx(0.5)


def test_a_missing_value_leaves_that_task_out():
    t = table()
    t.loc[(t.task == "c") & (t.model == "llm"), "mase"] = np.nan
    board = leaderboard(t, bootstrap=0).set_index("model")
    assert board.loc["llm", "tasks"] == 2
    assert board.loc["llm", "gmean_relative_mase"] == pytest.approx(math.sqrt(0.5 * 4))


def test_gmean_ignores_nan_and_is_nan_without_values():
    out = gmean(np.array([[1.0, np.nan], [4.0, np.nan]]))
    assert out[0] == pytest.approx(2.0) and np.isnan(out[1])


def test_bootstrap_intervals_over_tasks_bracket_the_estimate():
    rng = np.random.default_rng(0)
    rows = []
    for t in range(30):
        ref = rng.uniform(1, 2)
        rows += [(f"t{t}", "seasonal_naive", ref), (f"t{t}", "m", ref * rng.uniform(0.5, 1.0))]
    board = leaderboard(pd.DataFrame(rows, columns=["task", "model", "mase"]), 500).set_index(
        "model"
    )
    lo, est, hi = board.loc[
        "m", ["gmean_relative_mase_lo", "gmean_relative_mase", "gmean_relative_mase_hi"]
    ]
    assert lo < est < hi < 1.0
    assert board.loc["seasonal_naive", "gmean_relative_mase_lo"] == 1.0  # always exactly 1
    md = markdown(board.reset_index())
    assert md.splitlines()[0].startswith("| Model | Tasks | Rel. MASE")
    assert len(md.splitlines()) == 4


def test_results_without_the_reference_are_refused():
    with pytest.raises(ValueError, match="seasonal_naive"):
        leaderboard(table()[table().model != "seasonal_naive"])
