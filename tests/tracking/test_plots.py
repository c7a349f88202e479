"""Figures: whole-step ticks, nothing cut at the edges, skill shown where it informs."""

import numpy as np
import pytest

from llmts.tracking import plots


@pytest.fixture
def saved(monkeypatch):
    """The figures the plot functions save (drawn, then kept for inspection instead of a PNG)."""
    from matplotlib.figure import Figure

    figures = []

    def keep(fig, path, **kw):
        fig.canvas.draw()
        figures.append(fig)

    monkeypatch.setattr(Figure, "savefig", keep)
    return figures


def test_step_axes_tick_whole_steps_and_keep_every_point_inside(saved, tmp_path):
    """Integer step axes had ticks at 2.5 and 7.5; the report's skill plot cut its first point
    (its top was fixed at 1.1)."""
    x = np.arange(1, 5)
    # an exact first step (skill 1) on an axis spanning decades: a top fixed at 1.1 lay ~1 px above
    lines = [("a", x, np.array([1.0, 0.5, -10.0, -1e6])), ("b", x, np.linspace(0.9, -0.5, 4))]
    plots.plot_lines(tmp_path / "s.png", lines, "forecast step", "skill", "Skill", "symlog", "o")
    (ax,) = saved[0].axes
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
    lo, hi = ax.get_ylim()
    to_px = lambda y: ax.transData.transform((1, y))[1]  # noqa: E731
    for _, _, y in lines:  # a marker (3 pt, ~2 px at 100 dpi) wholly inside the axes
        assert to_px(lo) + 2 < to_px(y.min()) and to_px(y.max()) < to_px(hi) - 2


def test_a_near_exact_ode_fit_is_a_note_not_13_decades_of_axis(saved, tmp_path):
    """The run's skill.png put skill vs a near-exact ODE fit (−5.6e13) on one log axis with
    persistence: its own panel now says so, and persistence keeps an axis that shows it."""
    v = np.linspace(0.9, -2.0, 8)
    plots.plot_skill(
        tmp_path / "skill.png",
        {
            "persistence": (v, np.stack([v - 0.2, v + 0.05])),
            "ode_fit": (np.full(8, -5.578e13), None),
        },
    )
    persistence, ode = saved[0].axes
    assert persistence.get_ylim()[0] > -10 and len(persistence.get_lines()) >= 1
    assert ode.get_lines() == [] and "near-exact" in " ".join(t.get_text() for t in ode.texts)
    assert all(float(t).is_integer() for t in persistence.get_xticks())
