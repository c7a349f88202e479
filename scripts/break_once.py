"""Check that tests can fail: break the code once per entry of ``scripts/mutants.json`` (replace
``old`` by ``new`` in ``file``), run that entry's ``tests`` and expect them to fail.

    python scripts/break_once.py [NAME-SUBSTRING ...]

Works on a scratch copy (``git worktree`` of HEAD, so uncommitted changes are not seen and the
checkout is never touched) and prints one line per mutant: CAUGHT (the tests failed), SURVIVED
(they passed: the test cannot see that break) or SKIPPED (``old`` is no longer in the file
exactly once: update the entry) or BROKEN (the tests fail on the unbroken code too, so a failure
would prove nothing). Exit status 1 if any survived, was skipped or was broken: a skipped break
checks nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main(wanted: list[str]) -> int:
    mutants = json.loads((REPO / "scripts" / "mutants.json").read_text())
    mutants = [m for m in mutants if not wanted or any(w in m["name"] for w in wanted)]
    survived = 0
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp) / "tree"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "-q", str(scratch), "HEAD"], cwd=REPO, check=True
        )
        try:
            passing: dict[tuple, bool] = {}  # tests -> do they pass on the unbroken tree
            for m in mutants:
                key = tuple(m["tests"])
                if key not in passing:
                    passing[key] = pytest(scratch, m["tests"]).returncode == 0
                if not passing[key]:
                    print(f"BROKEN   {m['name']}: its tests fail without the break", flush=True)
                survived += not passing[key] or run_one(scratch, m) in ("SURVIVED", "SKIPPED")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(scratch)], cwd=REPO)
    return int(survived > 0)


def run_one(tree: Path, m: dict) -> str:
    path = tree / m["file"]
    text = path.read_text()
    if text.count(m["old"]) != 1:
        print(f"SKIPPED  {m['name']}: the code to break is no longer there once", flush=True)
        return "SKIPPED"
    path.write_text(text.replace(m["old"], m["new"]))
    start = time.monotonic()
    try:
        res = pytest(tree, m["tests"])
    finally:
        path.write_text(text)
    verdict = {0: "SURVIVED", 1: "CAUGHT"}.get(res.returncode, f"ERROR({res.returncode})")
    print(f"{verdict:8} {m['name']} ({time.monotonic() - start:.0f} s)", flush=True)
    return verdict


def pytest(tree: Path, tests: list[str]) -> subprocess.CompletedProcess:
    """The scratch tree comes first on sys.path: ``python -m pytest`` puts the cwd there."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "0", "-p", "no:cacheprovider", "-x", "-q", *tests],
        cwd=tree,
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
