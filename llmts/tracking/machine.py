"""What a measurement ran on, for the files that record it (bench.json, a model card)."""

from __future__ import annotations

import contextlib
import platform

import torch


def device_name(device: torch.device | str = "cpu") -> str:
    """The GPU's name, or the CPU model and the number of torch threads."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = platform.processor()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        name = next(
            (ln.split(":", 1)[1].strip() for ln in info if ln.startswith("model name")), name
        )
    return f"{name or 'cpu'} ({torch.get_num_threads()} threads)"
