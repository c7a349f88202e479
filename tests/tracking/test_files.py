import json

import numpy as np
import pytest

from llmts.tracking.files import atomic_path, write_json


def test_write_json_is_strict_and_atomic(tmp_path):
    path = tmp_path / "m.json"
    write_json(
        path,
        {
            "a": float("-inf"),
            "b": [np.float32(1.5), float("nan")],
            "c": np.int64(3),
            "d": {"e": np.float64("inf")},
            "f": True,
        },
    )
    assert json.loads(path.read_text()) == {
        "a": None,
        "b": [1.5, None],
        "c": 3,
        "d": {"e": None},
        "f": True,
    }
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_failed_write_leaves_neither_file_nor_temp(tmp_path):
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "x.h5") as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_get_the_umask_mode(tmp_path, mask, mode):
    """Artifacts were written -rw------- (mkstemp) under any umask: colleagues on a shared
    cluster could not read results or share the data cache."""
    import os

    old = os.umask(mask)
    try:
        write_json(tmp_path / "m.json", {"a": 1})
        with atomic_path(tmp_path / "x.bin") as tmp:
            tmp.write_bytes(b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "m.json").stat().st_mode & 0o777 == mode
    assert (tmp_path / "x.bin").stat().st_mode & 0o777 == mode
