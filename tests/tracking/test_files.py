import json

import numpy as np
import pytest

from llmts.tracking.files import atomic_path, write_json


def test_write_json_is_strict_and_atomic(tmp_path):
    path = tmp_path / "m.json"
    write_json(path, {"a": float("-inf"), "b": [np.float32(1.5), float("nan")], "c": np.int64(3),
                      "d": {"e": np.float64("inf")}, "f": True})
    assert json.loads(path.read_text()) == {"a": None, "b": [1.5, None], "c": 3, "d": {"e": None},
                                            "f": True}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_failed_write_leaves_neither_file_nor_temp(tmp_path):
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "x.h5") as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert list(tmp_path.iterdir()) == []
