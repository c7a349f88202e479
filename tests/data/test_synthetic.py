"""The synthetic pretraining corpus: shapes, seeding, positivity, every family, no
Lotka-Volterra."""

import numpy as np
import pytest

from llmts.data.series import simulate_lotka_volterra
from llmts.data.synthetic import FAMILIES, generate
from llmts.errors import LlmtsError
from llmts.metrics.baselines import persistence, seasonal_naive


def lv_fit(x: np.ndarray) -> float:
    """How well (x, y) obeys Lotka-Volterra: d ln x/dt = a − b·y and d ln y/dt = d·x − g, so
    each log-derivative is linear in the other variable; the smaller of the two R² (≈ 1 for an
    LV trajectory, up to the finite-difference error)."""
    g = np.gradient(np.log(x), axis=0)
    fits = []
    for i, j in ((0, 1), (1, 0)):
        a = np.stack([np.ones(len(x)), x[:, j]], 1)
        coef, *_ = np.linalg.lstsq(a, g[:, i], rcond=None)
        fits.append(1 - (g[:, i] - a @ coef).var() / g[:, i].var())
    return min(fits)


def test_shapes_positive_and_every_family():
    corpus = generate(400, 120, seed=0)
    assert len(corpus.series) >= 390 and len(corpus.family) == len(corpus.series)
    assert {s.shape[0] for s in corpus.series} == {120}
    assert {s.shape[1] for s in corpus.series} == {1, 2, 3}
    assert all(
        s.dtype == np.float32 and np.isfinite(s).all() and (s > 0).all() for s in corpus.series
    )
    assert set(corpus.counts()) == set(FAMILIES)


def test_seeded():
    a, b, c = generate(60, 80, seed=3), generate(60, 80, seed=3), generate(60, 80, seed=4)
    assert a.family == b.family
    assert all(np.array_equal(x, y) for x, y in zip(a.series, b.series))
    assert not all(x.shape == y.shape and np.allclose(x, y) for x, y in zip(a.series, c.series))
    val = generate(60, 80, seed=3, part=1)  # the validation draw differs from training's
    assert not all(x.shape == y.shape and np.allclose(x, y) for x, y in zip(a.series, val.series))


def test_no_lotka_volterra():
    lv, _ = simulate_lotka_volterra(30, 100, 200.0, seed=0)
    assert min(lv_fit(s.astype(float)) for s in lv) > 0.98  # the check recognises LV
    pairs = [s.astype(float) for s in generate(1000, 160, seed=0).series if s.shape[1] == 2]
    assert len(pairs) > 300
    assert max(lv_fit(s) for s in pairs) < 0.98


def test_periodic_family_repeats_its_last_cycle():
    """The ``periodic`` family is there to teach reading the context: its next cycle is the last
    one again, so seasonal naive forecasts it far better than persistence does; about half of
    them repeat exactly."""
    corpus = generate(300, 120, seed=1)
    ratios, exact = [], 0
    for s, fam in zip(corpus.series, corpus.family):
        if fam != "periodic":
            continue
        gap = [np.abs(s[p:] - s[:-p]).max() / np.abs(s).max() for p in range(2, 60)]
        exact += min(gap) < 1e-5  # a whole-step period, no noise: the series repeats itself
        context, future = s[None, :100].astype(float), s[None, 100:].astype(float)
        seasonal = ((seasonal_naive(context, 20) - future) ** 2).mean()
        naive = ((persistence(context, 20) - future) ** 2).mean()
        ratios.append(seasonal / naive)
    assert len(ratios) > 50
    assert np.median(ratios) < 0.1
    assert 0.3 < exact / len(ratios) < 0.7


def test_families_weighted_by_name():
    corpus = generate(200, 60, seed=0, families={"periodic": 3.0, "ode": 1.0, "ar": 0.0})
    counts = corpus.counts()
    assert set(counts) == {"periodic", "ode"} and counts["periodic"] > 2 * counts["ode"]
    with pytest.raises(LlmtsError, match="corpus.families: unknown lv"):
        generate(10, 60, seed=0, families={"lv": 1.0})


def test_motif_family_repeats_exactly_and_only_the_context_predicts_it():
    """``motif`` is an induction task written as a series: each repeats exactly with a period of
    at most T / 8 steps (several cycles in a window), while persistence forecasts it poorly."""
    corpus = generate(200, 160, seed=2, families={"motif": 1.0})
    assert set(corpus.counts()) == {"motif"}
    for s in corpus.series:
        scale = np.abs(s).max()
        period = next(p for p in range(2, 161) if np.abs(s[p:] - s[:-p]).max() < 1e-5 * scale)
        assert period <= 20
        steps = np.abs(np.diff(s, axis=0)).mean() / (s.max(0) - s.min(0)).mean()
        assert steps > 0.1  # the next value is not the last one
