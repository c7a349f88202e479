"""Read wandb offline run files (``run-*.wandb``) without the network or wandb's reader.

wandb >= 0.2x (wandb-core) writes offline runs only as ``<dir>/wandb/offline-run-*/run-*.wandb``.
The file is a 7-byte header (``:W&B``, magic 0xBEE1 little-endian, version byte) followed by
LevelDB-log framing: 32 KiB blocks counted from the start of the file, each record chunk has a
7-byte header (crc32 of type+data, 4 bytes; length, 2 bytes little-endian; type 1 byte:
FULL=1, FIRST=2, MIDDLE=3, LAST=4); a block tail shorter than 7 bytes is zero padding.
Each reassembled record is a serialized ``wandb.proto.wandb_internal_pb2.Record``.
"""

from __future__ import annotations

import json
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HEADER = 7
BLOCK = 32 * 1024
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def iter_records(path: str | Path) -> Iterator[bytes]:
    """Yield the raw payload of every record in a ``.wandb`` file (CRC-checked)."""
    data = Path(path).read_bytes()
    if len(data) < HEADER or data[:4] != b":W&B":
        raise ValueError(f"{path}: not a wandb run file")
    pos, parts = HEADER, []
    while pos + 7 <= len(data):
        left = BLOCK - pos % BLOCK
        if left < 7:  # zero padding at the end of a block
            pos += left
            continue
        crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if kind == 0 and length == 0:  # zero padding / preallocated tail
            pos += left
            continue
        chunk = data[pos + 7 : pos + 7 + length]
        if len(chunk) < length or zlib.crc32(bytes([kind]) + chunk) != crc:
            break  # truncated or corrupt tail (e.g. a run that is still writing)
        pos += 7 + length
        if kind == FULL:
            yield chunk
        elif kind == FIRST:
            parts = [chunk]
        elif kind == MIDDLE:
            parts.append(chunk)
        elif kind == LAST:
            yield b"".join(parts + [chunk])
            parts = []


def _items(items) -> dict[str, Any]:
    """Decode repeated ``{key | nested_key, value_json}`` items into ``key -> value``."""
    out = {}
    for it in items:
        key = it.key or "/".join(it.nested_key)
        out[key] = json.loads(it.value_json) if it.value_json else None
    return out


def read_run(path: str | Path, timeout: float = 10.0) -> dict[str, Any]:
    """Decode one ``run-*.wandb`` file into ``{run, config, history, summary}``.

    ``run.finish()`` can return before wandb-core has flushed the file (seen: a file cut at a
    32 KiB block boundary), so this re-reads for up to ``timeout`` s until the run's final
    ``exit`` record is there; ``run["exit_code"]`` is None if it never came.
    ``run``: name/display_name, id, group, job_type, project, entity, tags, exit_code.
    ``config``: key -> value as logged (records store values unwrapped; ``_wandb`` dropped).
    ``history``: one dict per logged step (includes ``_step``).
    ``summary``: final summary; later summary records and the run's own summary override earlier.
    """
    deadline = time.monotonic() + timeout
    while True:
        out = _decode(path)
        if out["run"].get("exit_code") is not None or time.monotonic() >= deadline:
            return out
        time.sleep(0.1)


def _decode(path: str | Path) -> dict[str, Any]:
    from wandb.proto import wandb_internal_pb2 as pb

    run: dict[str, Any] = {"exit_code": None}
    config: dict[str, Any] = {}
    history: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}

    def add_config(cfg) -> None:
        for k, v in _items(cfg.update).items():
            if k != "_wandb":
                config[k] = v
        for it in cfg.remove:
            config.pop(it.key, None)

    for raw in iter_records(path):
        rec = pb.Record()
        rec.ParseFromString(raw)
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            r = rec.run
            run |= {
                "id": r.run_id,
                "name": r.display_name,
                "display_name": r.display_name,
                "group": r.run_group,
                "job_type": r.job_type,
                "project": r.project,
                "entity": r.entity,
                "tags": list(r.tags),
            }
            add_config(r.config)
            summary.update(_items(r.summary.update))
        elif kind == "config":
            add_config(rec.config)
        elif kind == "history":
            history.append(_items(rec.history.item))
        elif kind == "exit":
            run["exit_code"] = rec.exit.exit_code
        elif kind == "summary":
            summary.update(_items(rec.summary.update))
            for it in rec.summary.remove:
                summary.pop(it.key, None)
    return {"run": run, "config": config, "history": history, "summary": summary}


def find_runs(root: str | Path) -> list[Path]:
    """All ``run-*.wandb`` files under ``root`` (recursively), sorted, ``latest-run`` links
    skipped."""
    return sorted(
        p for p in Path(root).rglob("run-*.wandb") if "latest-run" not in p.parts and p.is_file()
    )
