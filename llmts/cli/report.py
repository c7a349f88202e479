"""``llmts-report dir=SWEEP_DIR``: the sweep report (:mod:`llmts.report.sweep`) of a Hydra
multirun dir, or of job run dirs (``dirs=[A,B]``), over :class:`llmts.config.report.ReportConfig`.
A sweep run by ``llmts -m`` writes it itself (``SweepReportCallback``); this rewrites it, e.g.
with other intervals (``bootstrap=0``)."""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from llmts.config.preflight import preflight
from llmts.config.report import ReportConfig, register
from llmts.config.schema import CONF_DIR
from llmts.errors import LlmtsError, exit_on_error

APP = "llmts-report"
HELP = """\
llmts-report: the sweep report (tables with 95 % intervals, CSVs, plots) of a Hydra multirun
dir; `llmts -m` writes it itself.

  llmts-report dir=outputs/multirun/DATE
  llmts-report dirs=[RUN_A,RUN_B] out=compare bootstrap=0"""


def run(cfg: DictConfig) -> int:
    """Write the report; 0, or 2 after one line on stderr when a dir cannot be reported."""
    from llmts.report.sweep import collect, format_table, write_report

    ReportConfig.check(cfg)
    dirs = ([cfg.dir] if cfg.dir else []) + list(cfg.dirs)
    try:
        jobs = collect(dirs)
        path = write_report(jobs, cfg.out or (dirs[0] if len(dirs) == 1 else "."), cfg.bootstrap)
    except (LlmtsError, OSError) as e:
        print(f"{APP}: error: {e}", file=sys.stderr)
        return 2
    print(f"{format_table(jobs)}\nreport: {path}")
    return 0


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="report")
def main(cfg: DictConfig) -> None:
    if code := exit_on_error(APP, run, cfg):
        sys.exit(code)


def entry() -> None:
    register(HELP)
    exit_on_error(APP, preflight, sys.argv[1:], "report", ReportConfig.check)
    main()
