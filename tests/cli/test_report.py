"""``llmts-report``: the entry point over its typed config, on the synthetic sweeps of
tests/report/test_sweep.py (the report itself is tested there)."""

from __future__ import annotations

import pytest

from llmts.cli.report import run
from tests.helpers import compose, llmts
from tests.report.test_sweep import _scored, sweep  # noqa: F401 - the fixture


def report(*overrides: str) -> int:
    return run(compose(*overrides, config_name="report"))


def test_run(sweep, tmp_path, capsys):  # noqa: F811
    assert report(f"dir={sweep}") == 0
    out = capsys.readouterr().out
    assert "lr=1e-4" in out and str(sweep / "report.md") in out
    assert (sweep / "report.md").is_file()
    assert report(f"dirs=[{sweep / '0'},{sweep / '1'}]", f"out={tmp_path / 'two'}") == 0
    assert (tmp_path / "two" / "report.md").is_file()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert report(f"dir={empty}") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("llmts-report: error:") and "empty" in err[0]
    assert report(f"dir={tmp_path / 'missing'}") == 2


def test_bootstrap_off_writes_no_differences(tmp_path):
    root = tmp_path / "m"
    _scored(root, "0", "1e-5", 1, 0.0, noise_seed=1)
    _scored(root, "1", "1e-4", 1, 0.5, noise_seed=1)
    assert report(f"dir={root}", "bootstrap=0", f"out={tmp_path / 'o'}") == 0
    assert "Difference to the best" not in (tmp_path / "o" / "report.md").read_text()


@pytest.mark.slow
def test_console_script_is_one_line_and_makes_no_run_dir(sweep, tmp_path):  # noqa: F811
    """The installed llmts-report: a Hydra entry like the others, writing only the report."""
    res = llmts(f"dir={sweep}", cwd=tmp_path, tool="llmts-report")
    assert res.returncode == 0 and "report:" in res.stdout, res.stderr
    assert list(tmp_path.iterdir()) == [tmp_path / "multirun"]  # no outputs/, no log file
    res = llmts("bootstrap=-1", f"dir={sweep}", cwd=tmp_path, tool="llmts-report")
    assert res.returncode == 2
    assert res.stderr == "llmts-report: error: bootstrap=-1: must be >= 0 (0: no intervals)\n"
    res = llmts(cwd=tmp_path, tool="llmts-report")
    assert res.returncode == 2 and "dir=SWEEP_DIR missing" in res.stderr
