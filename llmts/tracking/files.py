"""Writing run artifacts: atomically (a reader never sees half a file) and as strict JSON."""

from __future__ import annotations

import json
import math
import numbers
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def umask() -> int:
    """The process's umask: read from ``/proc`` where it is (setting it to read it back, as
    ``os.umask`` must, would briefly change it for every thread)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def umask_mode(directory: bool = False) -> int:
    """The mode ``open``/``mkdir`` would give a new file (0o666) or folder (0o777) under the
    umask: ``tempfile``'s 0600/0700 would make results and caches owner-only."""
    return (0o777 if directory else 0o666) & ~umask()


def share_tree(folder: Path) -> None:
    """Give ``folder`` and everything in it the umask's modes (libraries such as safetensors
    write 0600 files of their own)."""
    os.chmod(folder, umask_mode(directory=True))
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            os.chmod(os.path.join(root, name), umask_mode(directory=True))
        for name in files:
            os.chmod(os.path.join(root, name), umask_mode())


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a unique temporary path beside ``path``; rename it onto ``path`` when the block
    succeeds (with the mode the umask gives a new file), delete it when the block fails."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, umask_mode())
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
