"""Writing run artifacts: atomically (a reader never sees half a file) and as strict JSON."""

from __future__ import annotations

import json
import math
import numbers
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a unique temporary path beside ``path``; rename it onto ``path`` when the block
    succeeds, delete it when the block fails."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def strict(obj: Any) -> Any:
    """NaN/±inf → None, recursively, so the JSON is readable by any parser (no ``-Infinity``)."""
    if isinstance(obj, dict):
        return {k: strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict(v) for v in obj]
    if isinstance(obj, numbers.Integral) and not isinstance(obj, bool):
        return int(obj)  # numpy integers too
    if isinstance(obj, numbers.Real):
        return float(obj) if math.isfinite(obj) else None
    return obj


def write_json(path: Path, obj: Any) -> None:
    """Atomic, strict JSON."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(strict(obj), indent=2, allow_nan=False))
