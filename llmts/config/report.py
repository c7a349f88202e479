"""``llmts-report``'s schema: which sweep (or job) dirs to report and where."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llmts.config.choices import option, require
from llmts.config.compose import register_configs


@dataclass
class ReportConfig:
    """``llmts-report dir=outputs/multirun/DATE``: the sweep report of a Hydra multirun dir (or
    of job run dirs, ``dirs=[A,B]``)."""

    dir: str | None = option(None, "a multirun dir or a job's run dir")
    dirs: list[str] = option([], "more dirs, reported together")
    out: str | None = option(
        None, "output dir; null: dir when one dir is given, else the current dir"
    )
    bootstrap: int | None = option(
        None,
        "resamples of the test series for the intervals; null: the jobs' eval.bootstrap; 0: none",
    )

    @staticmethod
    def check(c: Any) -> None:
        require(bool(c.dir) or bool(c.dirs), "dir", c.dir, "dir=SWEEP_DIR missing (or dirs=[A,B])")
        if c.bootstrap is not None:
            require(c.bootstrap >= 0, "bootstrap", c.bootstrap, "must be >= 0 (0: no intervals)")


def register(header: str = "") -> None:
    """``report``, llmts-report's primary config: this schema, no run dir, no log file."""
    from hydra.core.config_store import ConfigStore

    register_configs("llmts-report", ReportConfig, "report_schema", header=header)
    ConfigStore.instance().store(
        name="report",
        node={
            "defaults": [
                "report_schema",
                {"override hydra/job_logging": "disabled"},
                {"override hydra/help": "llmts"},
                "_self_",
            ],
            "hydra": {"output_subdir": None, "run": {"dir": "."}, "job": {"chdir": False}},
        },
    )
