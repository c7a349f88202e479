"""Progress people can follow: a tqdm bar in a terminal; in a log file (SLURM, ``nohup``, CI —
stderr is not a TTY) an INFO line every ``every`` updates with the count, rate and ETA, so a
2000-step job under SLURM is never silent between its first and last line.

Only work that takes seconds shows progress: no bar or line before ``after`` seconds, then at
most one line per ``after`` seconds (and the closing one). Each bar names its phase: the
``desc`` is prefixed with the :func:`phase` the caller is in (``untrained forecast 100/100``).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

log = logging.getLogger("llmts")
_PHASE: ContextVar[str | None] = ContextVar("llmts_progress_phase", default=None)


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Every :class:`Progress` made inside the block says ``name`` (untrained, trained, …) before
    its own ``desc``: shared code (the forecast loop) need not know whose forecast it makes."""
    token = _PHASE.set(name)
    try:
        yield
    finally:
        _PHASE.reset(token)


class Progress:
    """``update(n, **info)`` advances by ``n`` (and shows ``info``); ``close()`` at the end.
    ``after``: seconds of work before anything shows, and the least time between log lines
    (0: a line every ``every`` updates, as training's ``train.log_every`` asks)."""

    def __init__(
        self,
        desc: str,
        total: int,
        unit: str = "it",
        every: int = 1,
        initial: int = 0,
        enabled: bool = True,
        after: float = 5.0,
    ) -> None:
        from tqdm.auto import tqdm

        if (name := _PHASE.get()) is not None:
            desc = f"{name} {desc}"
        self.desc, self.total, self.unit, self.every = desc, total, unit, max(1, every)
        self.done, self.start_count, self.t0 = initial, initial, time.perf_counter()
        self.enabled, self.after, self.last, self.lines = enabled, after, self.t0, 0
        self.bar = tqdm(
            total=total,
            initial=initial,
            desc=desc,
            unit=unit,
            delay=after,
            disable=not enabled or not sys.stderr.isatty(),
        )

    def update(self, n: int = 1, **info: object) -> None:
        before, self.done = self.done, self.done + n
        if not self.bar.disable:
            self.bar.update(n)
            if info:
                self.bar.set_postfix({k: _short(v) for k, v in info.items()}, refresh=False)
            return
        if not self.enabled:
            return
        now = time.perf_counter()
        if self.done == self.total:  # the closing line, unless the whole took under ``after``
            due = self.lines > 0 or now - self.t0 >= self.after
        else:
            due = self.done // self.every > before // self.every and now - self.last >= self.after
        if due:
            log.info("%s", self.line(info))
            self.last, self.lines = now, self.lines + 1

    def line(self, info: dict) -> str:
        """``desc 120/2000 it (6.0%), 3.1 it/s, ETA 10m06s, loss=1.234``."""
        secs = time.perf_counter() - self.t0
        rate = (self.done - self.start_count) / secs if secs > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        extra = "".join(f", {k}={_short(v)}" for k, v in info.items())
        return (
            f"{self.desc} {self.done}/{self.total} {self.unit} "
            f"({100 * self.done / max(self.total, 1):.1f}%), {rate:.3g} {self.unit}/s, "
            f"ETA {_clock(eta)}{extra}"
        )

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
