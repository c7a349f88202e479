"""Measuring on any device: device-synchronised timing, peak memory, the device's name and its
dense bf16 peak (for MFU). Used by ``llmts-bench``."""

from __future__ import annotations

import contextlib
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

# Dense bf16 tensor-core peaks in FLOP/s, first match on the device name wins.
PEAK_BF16 = (("H100 PCIe", 756e12), ("H100", 989e12), ("H200", 989e12), ("A100", 312e12))


def reset_peak(device: torch.device) -> bool:
    """Start a new peak-memory window; False when only the process-wide peak is available."""
    if device.type == "cuda":
        return torch.cuda.reset_peak_memory_stats(device) or True
    with contextlib.suppress(OSError):
        return Path("/proc/self/clear_refs").write_text("5") > 0  # Linux: resets VmHWM (peak RSS)
    return False


def peak_mb(device: torch.device) -> float:
    """Peak memory in MiB (2**20 bytes): CUDA max allocated, else the process's peak RSS."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024


def timed(fn: Callable[[], object], warmup: int, repeats: int, device: torch.device) -> list[float]:
    """Seconds per call of ``fn`` for ``repeats`` calls after ``warmup`` untimed ones."""
    sync = torch.cuda.synchronize if device.type == "cuda" else lambda: None
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        out.append(time.perf_counter() - t0)
    return out


def peak_flops(name: str, dtype: str) -> tuple[float | None, str]:
    """(dense bf16 peak FLOP/s of the named device or None, a note saying which or why not);
    MFU = achieved FLOP/s ÷ this peak, so only bf16 compute is compared with it."""
    if dtype != "bfloat16":
        return None, f"MFU not computed: {dtype} compute has no dense bf16 peak to compare with"
    for key, peak in PEAK_BF16:
        if key.lower() in name.lower():
            return peak, f"MFU vs {key} dense bf16 peak {peak:.3g} FLOP/s"
    return None, f"MFU not computed: no known bf16 peak for device '{name}'"
