"""Side concerns any stage may use, importing no stage: experiment tracking behind a tiny
no-op-able interface (:mod:`~llmts.tracking.tracker`, W&B), progress lines
(:mod:`~llmts.tracking.progress`), figures (:mod:`~llmts.tracking.plots`) and atomic,
strict-JSON artifacts (:mod:`~llmts.tracking.files`)."""

from llmts.tracking.files import atomic_path, write_json
from llmts.tracking.progress import Progress
from llmts.tracking.tracker import NullTracker, Tracker, make_tracker

__all__ = ["NullTracker", "Progress", "Tracker", "atomic_path", "make_tracker", "write_json"]
