"""The field's metrics: hand-computed values, an independent loop implementation on random data
(the formulas as fev/GluonTS write them), the documented edge cases, and the bootstrap."""

import json

import numpy as np
import pytest

from llmts.metrics.bootstrap import resample_indices
from llmts.metrics.scaled import (
    QUANTILES,
    pinball,
    sample_quantiles,
    scaled_intervals,
    scaled_metrics,
    seasonal_scale,
)


def test_seasonal_scale_by_hand():
    # m = 2: |3 − 1|, |2 − 2|, |6 − 3| → mean 5/3; the second variable doubles every value
    hist = np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0], [2.0, 4.0], [6.0, 12.0]])
    # variable 2's differences are 4, 0, 6: pooled mean over both = (2+0+3+4+0+6)/6 = 15/6
    assert seasonal_scale([hist], 2)[0] == pytest.approx(15 / 6)
    # a history of T <= m steps uses m = 1 (GluonTS): |2 − 1|, |3 − 2| → 1
    assert seasonal_scale([np.array([[1.0], [2.0], [3.0]])], 12)[0] == pytest.approx(1.0)
    # one step: no difference at all → NaN; gaps are skipped
    assert np.isnan(seasonal_scale([np.array([[5.0]])], 1)[0])
    gap = np.array([[1.0], [np.nan], [4.0], [6.0]])
    assert seasonal_scale([gap], 1)[0] == pytest.approx(2.0)  # only |6 − 4| is observed


def test_scaled_metrics_by_hand():
    truth = np.array([[[2.0], [4.0]]])  # one row, h = 2, D = 1
    pred = np.array([[[3.0], [2.0]]])
    hist = [np.array([[0.0], [1.0], [3.0]])]  # m = 1: |1 − 0|, |3 − 1| → s = 1.5
    scale = seasonal_scale(hist, 1)
    m = scaled_metrics(truth, pred, scale)
    # |e| = 1, 2: MAE 1.5 → MASE 1.5 / 1.5 = 1
    assert m["mase"] == pytest.approx(1.0)
    # sMAPE = mean(2·1/5, 2·2/6) = (0.4 + 0.6667) / 2
    assert m["smape"] == pytest.approx((0.4 + 2 / 3) / 2)
    assert m["wape"] == pytest.approx(3 / 6)
    assert m["mase_excluded"] == 0 and "wql" not in m


def test_wql_and_sql_by_hand():
    truth = np.array([[[10.0]]])
    levels = (0.1, 0.5, 0.9)
    q = np.array([8.0, 10.0, 14.0]).reshape(3, 1, 1, 1)
    # 2ρ: q = 0.1, q̂ = 8 < y: 2·|2·(0 − 0.1)| = 0.4; q = 0.5, exact: 0; q = 0.9, q̂ = 14 ≥ y:
    # 2·|(−4)·(1 − 0.9)| = 0.8 → mean 0.4
    assert pinball(truth, q, levels)[0, 0, 0] == pytest.approx(0.4)
    m = scaled_metrics(truth, truth, np.array([2.0]), q, levels)
    assert m["wql"] == pytest.approx(0.4 / 10)
    assert m["sql"] == pytest.approx(0.4 / 2)
    assert m["mase"] == 0.0


def _independent(truth, pred, hists, m, quantiles):
    """The formulas written out point by point, as fev/GluonTS state them."""
    mase, sql, excluded = [], [], 0
    num_q = den = sape = pts = ae = 0.0
    for i in range(truth.shape[0]):
        y = hists[i]
        mm = m if len(y) > m else 1
        diffs = [abs(y[t, d] - y[t - mm, d]) for t in range(mm, len(y)) for d in range(y.shape[1])]
        s = sum(diffs) / len(diffs)
        row_ae = row_ql = 0.0
        n_pts = 0
        for j in range(truth.shape[1]):
            for d in range(truth.shape[2]):
                yt, yp = truth[i, j, d], pred[i, j, d]
                row_ae += abs(yt - yp)
                sape += 2 * abs(yt - yp) / (abs(yt) + abs(yp))
                den += abs(yt)
                n_pts += 1
                ql = 0.0
                for k, q in enumerate(QUANTILES):
                    qh = quantiles[k, i, j, d]
                    ql += 2 * (q * (yt - qh) if yt > qh else (1 - q) * (qh - yt))
                row_ql += ql / len(QUANTILES)
        ae += row_ae
        pts += n_pts
        num_q += row_ql
        if s > 0:
            mase.append(row_ae / n_pts / s)
            sql.append(row_ql / n_pts / s)
        else:
            excluded += 1
    return {
        "mase": np.mean(mase),
        "sql": np.mean(sql),
        "smape": sape / pts,
        "wape": ae / den,
        "wql": num_q / den,
        "mase_excluded": excluded,
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scaled_metrics_match_an_independent_implementation(seed):
    rng = np.random.default_rng(seed)
    n, h, d, m = 7, 5, 2, 4
    truth = rng.normal(3, 2, size=(n, h, d))
    pred = truth + rng.normal(0, 1, size=truth.shape)
    samples = pred[:, None] + rng.normal(0, 1.5, size=(n, 30, h, d))
    hists = [rng.normal(0, 1, size=(int(rng.integers(2, 30)), d)).cumsum(0) for _ in range(n)]
    hists[3] = np.ones((10, d))  # a constant history: scale 0, excluded and counted
    q = sample_quantiles(samples)
    got = scaled_metrics(truth, pred, seasonal_scale(hists, m), q)
    want = _independent(truth, pred, hists, m, q)
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-12), key
    assert got["mase_excluded"] == 1


def test_undefined_is_null_and_json_safe():
    truth = np.zeros((2, 3, 1))
    m = scaled_metrics(truth, truth + 1.0, np.array([0.0, np.nan]), np.zeros((9, 2, 3, 1)))
    assert m["mase"] is None and m["sql"] is None and m["wape"] is None and m["wql"] is None
    assert m["mase_excluded"] == 2 and m["smape"] == pytest.approx(2.0)
    json.dumps(m, allow_nan=False)


def test_missing_truth_adds_nothing():
    truth = np.array([[[1.0], [np.nan]]])
    pred = np.array([[[2.0], [50.0]]])
    m = scaled_metrics(truth, pred, np.array([1.0]))
    assert m["mase"] == pytest.approx(1.0) and m["wape"] == pytest.approx(1.0)


def test_intervals_bracket_the_estimate_and_resample_rows():
    rng = np.random.default_rng(3)
    truth = rng.normal(5, 1, size=(40, 4, 1))
    pred = truth + rng.normal(0, 1, size=truth.shape)
    scale = rng.uniform(0.5, 2, size=40)
    q = sample_quantiles(pred[:, None] + rng.normal(0, 1, size=(40, 20, 4, 1)))
    point = scaled_metrics(truth, pred, scale, q)
    ci = scaled_intervals(truth, pred, scale, resample_indices(40, 500, 0), "model/", q)
    assert set(ci) == {f"model/{k}_ci" for k in ("mase", "smape", "wape", "wql", "sql")}
    for key in ("mase", "smape", "wape", "wql", "sql"):
        lo, hi = ci[f"model/{key}_ci"]
        assert lo < point[key] < hi, key
    # the identity resample is the estimate itself
    same = scaled_intervals(truth, pred, scale, np.arange(40)[None], quantiles=q)
    assert same["mase_ci"][0] == pytest.approx(point["mase"])


def test_bad_shapes_and_season_are_refused():
    with pytest.raises(ValueError, match="season_length"):
        seasonal_scale([np.ones((3, 1))], 0)
    with pytest.raises(ValueError, match="scale"):
        scaled_metrics(np.ones((2, 3, 1)), np.ones((2, 3, 1)), np.ones(3))
