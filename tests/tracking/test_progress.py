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
