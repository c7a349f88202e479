"""Where a result came from, written beside it: the command, the date, the commit of llmts, the
machine and the library versions. A result file a command writes starts with this header, so a
number copied into the documentation carries its origin."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from llmts.tracking.machine import device_name

LIBRARIES = ("torch", "transformers", "peft", "statsforecast")


def commit() -> str | None:
    """The llmts checkout's commit (short), ``+dirty`` with uncommitted changes; None outside
    a git checkout (an installed wheel)."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev.stdout.strip() + ("+dirty" if dirty else "")


def provenance() -> dict[str, str]:
    """The command line, UTC date and time, commit, machine and library versions of this
    process."""
    versions = []
    for name in LIBRARIES:
        try:
            versions.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            continue
    return {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit() or "unknown (not a git checkout)",
        "machine": device_name(),
        "libraries": ", ".join(versions),
    }


def header(title: str, extra: dict[str, str] | None = None) -> str:
    """A Markdown title and a two-column table of :func:`provenance` (plus ``extra`` rows)."""
    rows = {**provenance(), **(extra or {})}
    table = "\n".join(f"| {k} | {v} |" for k, v in rows.items())
    return f"# {title}\n\n| | |\n|---|---|\n{table}\n"
