"""Progress people can follow: a tqdm bar in a terminal; in a log file (SLURM, ``nohup``, CI —
stderr is not a TTY) an INFO line every ``every`` updates with the count, rate and ETA, so a
2000-step job under SLURM is never silent between its first and last line."""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger("llmts")


class Progress:
    """``update(n, **info)`` advances by ``n`` (and shows ``info``); ``close()`` at the end."""

    def __init__(self, desc: str, total: int, unit: str = "it", every: int = 1,
                 initial: int = 0, enabled: bool = True) -> None:
        from tqdm.auto import tqdm

        self.desc, self.total, self.unit, self.every = desc, total, unit, max(1, every)
        self.done, self.start_count, self.t0 = initial, initial, time.perf_counter()
        self.enabled = enabled
        self.bar = tqdm(total=total, initial=initial, desc=desc, unit=unit,
                        disable=not enabled or not sys.stderr.isatty())

    def update(self, n: int = 1, **info: object) -> None:
        before, self.done = self.done, self.done + n
        if not self.bar.disable:
            self.bar.update(n)
            if info:
                self.bar.set_postfix({k: _short(v) for k, v in info.items()}, refresh=False)
            return
        if self.enabled and (self.done // self.every > before // self.every
                             or self.done == self.total):
            log.info("%s", self.line(info))

    def line(self, info: dict) -> str:
        """``desc 120/2000 it (6.0%), 3.1 it/s, ETA 10m06s, loss=1.234``."""
        secs = time.perf_counter() - self.t0
        rate = (self.done - self.start_count) / secs if secs > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        extra = "".join(f", {k}={_short(v)}" for k, v in info.items())
        return (f"{self.desc} {self.done}/{self.total} {self.unit} "
                f"({100 * self.done / max(self.total, 1):.1f}%), {rate:.3g} {self.unit}/s, "
                f"ETA {_clock(eta)}{extra}")

    def close(self) -> None:
        self.bar.close()


def _short(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _clock(seconds: float) -> str:
    if seconds != seconds:  # NaN: no rate yet
        return "?"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
