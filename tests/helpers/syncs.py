"""Counting host syncs on a CPU: every op that makes the host wait for a device's result.

On CUDA these read device memory back (``.item()``, ``float()``, ``bool()``, ``tolist()``,
``.cpu()``) or size a tensor by its data (``nonzero``, boolean-mask indexing, ``masked_select``);
on a CPU they cost nothing, but the same calls are seen here: at the dispatcher (a
TorchDispatchMode sees every aten op, backward included) and, for reads that bypass it on a
CPU tensor, by wrapping the Tensor methods."""

from __future__ import annotations

import collections
import contextlib
import traceback

import torch
from torch.utils._python_dispatch import TorchDispatchMode

SYNC_OPS = {
    "_local_scalar_dense",
    "nonzero",
    "masked_select",
    "is_nonzero",
    "equal",
    "unique",
    "_unique2",
    "unique_consecutive",
    "unique_dim",
}
READS = ("tolist", "cpu", "numpy")


def _bool_index(args) -> bool:
    return any(
        isinstance(i, torch.Tensor) and i.dtype in (torch.bool, torch.uint8)
        for a in args
        if isinstance(a, (list, tuple))
        for i in a
    )


class SyncCounter(TorchDispatchMode):
    """``with SyncCounter() as c: ...``; ``c.count`` by op name, ``c.where`` the first stacks."""

    def __init__(self):
        super().__init__()
        self.count: collections.Counter = collections.Counter()
        self.where: list[str] = []

    def hit(self, name: str) -> None:
        self.count[name] += 1
        if len(self.where) < 3:
            self.where.append(name + "\n" + "".join(traceback.format_stack(limit=12)[:-2]))

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if name in SYNC_OPS or (name.startswith("index") and _bool_index(args)):
            self.hit(name)
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def count_syncs(monkeypatch):
    """A SyncCounter that also sees ``Tensor.tolist/cpu/numpy`` calls."""
    counter = SyncCounter()
    for name in READS:
        original = getattr(torch.Tensor, name)

        def wrapped(self, *a, _original=original, _name=name, **kw):
            counter.hit(_name)
            return _original(self, *a, **kw)

        monkeypatch.setattr(torch.Tensor, name, wrapped)
    with counter:
        yield counter
