"""Progress in a log file: a line every ``every`` updates with count, rate and ETA."""

import logging

from llmts.tracking.progress import Progress


def test_log_lines_when_not_a_terminal(caplog):
    caplog.set_level(logging.INFO, logger="llmts")
    bar = Progress("train", total=10, unit="steps", every=4, after=0)  # pytest's stderr: no TTY
    for step in range(10):
        bar.update(loss=1.0 / (step + 1))
    bar.close()
    lines = [r.getMessage() for r in caplog.records]
    assert [ln.split(" (")[0] for ln in lines] == [
        "train 4/10 steps",
        "train 8/10 steps",
        "train 10/10 steps",
    ]
    assert "ETA" in lines[0] and "steps/s" in lines[0] and "loss=0.25" in lines[0]
    assert lines[-1].startswith("train 10/10 steps (100.0%)")


class Clock:
    """A perf_counter that moves only when told (no wall-clock in the tests)."""

    def __init__(self):
        self.now = 100.0

    def perf_counter(self):
        return self.now


def test_work_of_under_after_seconds_shows_no_progress(caplog, monkeypatch):
    """The ODE fit of 5 series (0.1 s) logged a line per 10 %; quick work now logs nothing."""
    from llmts.tracking import progress

    clock = Clock()
    monkeypatch.setattr(progress, "time", clock)
    caplog.set_level(logging.INFO, logger="llmts")
    bar = Progress("baseline ode_fit", total=5, unit="series", after=2.0)
    for _ in range(5):
        clock.now += 0.02
        bar.update()
    assert caplog.records == []


def test_long_work_logs_at_most_one_line_per_after_seconds(caplog, monkeypatch):
    from llmts.tracking import progress

    clock = Clock()
    monkeypatch.setattr(progress, "time", clock)
    caplog.set_level(logging.INFO, logger="llmts")
    bar = Progress("validation", total=10, unit="batches", after=2.0)
    for _ in range(10):
        clock.now += 1.0
        bar.update()
    lines = [r.getMessage().split(" (")[0] for r in caplog.records]
    assert lines == [
        "validation 2/10 batches",
        "validation 4/10 batches",
        "validation 6/10 batches",
        "validation 8/10 batches",
        "validation 10/10 batches",
    ]


def test_each_line_names_the_phase_it_is_in(caplog):
    """`forecast 100/100 rows` did not say it was the untrained model's forecast."""
    from llmts.tracking.progress import phase

    caplog.set_level(logging.INFO, logger="llmts")
    with phase("untrained"):
        Progress("forecast", total=2, unit="rows", after=0).update(2)
    with phase("trained"):
        Progress("forecast", total=2, unit="rows", after=0).update(2)
    Progress("forecast", total=2, unit="rows", after=0).update(2)
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        "untrained forecast 2/2 rows",
        "trained forecast 2/2 rows",
        "forecast 2/2 rows",
    ]


def test_disabled_progress_says_nothing(caplog):
    caplog.set_level(logging.INFO, logger="llmts")
    bar = Progress("forecast", total=3, enabled=False)
    bar.update(3)
    assert caplog.records == []


def test_pytest_status_lines_are_said_once(tmp_path):
    """The repo's pytest options (xdist workers) print each worker status line once: under an
    ``-q`` in addopts xdist printed ``bringing up nodes...`` twice and never the worker count."""
    import os
    import subprocess
    import sys

    from tests.helpers import REPO

    (tmp_path / "test_one.py").write_text("def test_one():\n    pass\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-c",
            str(REPO / "pyproject.toml"),
            "--rootdir",
            str(tmp_path),
            "-p",
            "no:cacheprovider",
            "-n",
            "2",
            str(tmp_path / "test_one.py"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    ).stdout
    assert "1 passed" in out
    assert out.count("bringing up nodes...") <= 1
    assert "2 workers [1 item]" in out
