"""Progress in a log file: a line every ``every`` updates with count, rate and ETA."""

import logging

from llmts.tracking.progress import Progress


def test_log_lines_when_not_a_terminal(caplog):
    caplog.set_level(logging.INFO, logger="llmts")
    bar = Progress("train", total=10, unit="steps", every=4)  # pytest's stderr is no TTY
    for step in range(10):
        bar.update(loss=1.0 / (step + 1))
    bar.close()
    lines = [r.getMessage() for r in caplog.records]
    assert [ln.split(" (")[0] for ln in lines] == ["train 4/10 steps", "train 8/10 steps",
                                                    "train 10/10 steps"]
    assert "ETA" in lines[0] and "steps/s" in lines[0] and "loss=0.25" in lines[0]
    assert lines[-1].startswith("train 10/10 steps (100.0%)")


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
    out = subprocess.run([sys.executable, "-m", "pytest", "-c", str(REPO / "pyproject.toml"),
                          "--rootdir", str(tmp_path), "-p", "no:cacheprovider", "-n", "2",
                          str(tmp_path / "test_one.py")],
                         capture_output=True, text=True, env=env, timeout=120).stdout
    assert "1 passed" in out
    assert out.count("bringing up nodes...") <= 1
    assert "2 workers [1 item]" in out
