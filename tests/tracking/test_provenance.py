"""A result file's header says where the result came from."""

from __future__ import annotations

from llmts.tracking.provenance import commit, header, provenance


def test_the_header_names_command_date_commit_machine_and_libraries():
    info = provenance()
    assert set(info) == {"command", "date", "commit", "machine", "libraries"}
    assert info["date"].endswith("UTC") and "torch " in info["libraries"]
    text = header("llmts run", {"wall time": "12 s"})
    assert text.startswith("# llmts run\n\n| | |\n|---|---|\n")
    for key in ("command", "date", "commit", "machine", "libraries", "wall time"):
        assert f"| {key} | " in text


def test_the_commit_is_this_checkouts():
    import subprocess

    from tests.helpers import REPO

    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    if not head:  # an installed copy outside git: nothing to compare
        assert commit() is None
        return
    assert commit().split("+")[0] == head
