"""Experiment tracking behind a tiny interface: the loop calls ``log``/``summary``/``image``/
``table`` and never asks whether W&B is on. ``NullTracker`` does nothing (``logger=none``, and
every rank but 0); ``WandbTracker`` logs one W&B run per job.

Seeds: every run has the tag ``seed=N`` and the config key ``setting`` (its name without the seed
override), so the dashboard groups a sweep's seeds by ``setting`` (mean and spread across seeds).

W&B mode: ``online`` with an API key or a ``wandb login`` (netrc), ``offline`` otherwise, or as
``logger.mode`` says. Online init that cannot reach the server within ``logger.init_timeout``
seconds falls back to offline with one line saying so. Secrets never reach the run config.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any, Protocol

from llmts.config.schema import LoggerConfig
from llmts.errors import LlmtsError, first_line

log = logging.getLogger(__name__)


class Tracker(Protocol):
    def log(self, metrics: dict[str, float], step: int | None = None) -> None: ...
    def summary(self, metrics: dict[str, Any]) -> None: ...
    def image(self, key: str, path: Path) -> None: ...
    def table(self, key: str, columns: list[str], rows: list[list]) -> None: ...
    def finish(self, exit_code: int = 0) -> None: ...


class NullTracker:
    """Tracks nothing."""

    def log(self, metrics: dict[str, float], step: int | None = None) -> None:
        pass

    def summary(self, metrics: dict[str, Any]) -> None:
        pass

    def image(self, key: str, path: Path) -> None:
        pass

    def table(self, key: str, columns: list[str], rows: list[list]) -> None:
        pass

    def finish(self, exit_code: int = 0) -> None:
        pass


class WandbTracker:
    """One W&B run; ``finish`` must be called (the entry point does so in ``finally``)."""

    def __init__(
        self,
        cfg: LoggerConfig,
        run_dir: Path,
        config: dict,
        name: str,
        group: str | None,
        job_type: str,
    ):
        import wandb

        self._wandb = wandb
        mode = resolve_mode(cfg.mode)
        seed = [f"seed={config['seed']}"] if "seed" in config else []
        kwargs = dict(
            project=cfg.project,
            entity=cfg.entity,
            group=group,
            name=name,
            job_type=job_type,
            tags=list(cfg.tags) + seed,
            config={**config, "setting": setting_of(name)},
            dir=str(run_dir),
            reinit="finish_previous",
        )
        try:
            self.run = wandb.init(
                mode=mode,
                settings=wandb.Settings(init_timeout=cfg.init_timeout, silent=True),
                **kwargs,
            )
        except Exception as exc:  # unreachable server, bad key: the run itself must go on
            if mode != "online":
                raise LlmtsError(
                    f"W&B: cannot start an {mode} run ({first_line(exc, 160)}); "
                    "fix the W&B setting or run with logger=none"
                ) from None
            log.warning(
                "W&B online init failed (%s); logging offline instead", first_line(exc, 120)
            )
            mode = "offline"
            self.run = wandb.init(mode=mode, settings=wandb.Settings(silent=True), **kwargs)
        self.mode = mode
        # Both counters ride along in every row, so either can be the x-axis in the dashboard.
        self.run.define_metric("trainer/step")
        self.run.define_metric("flops/train_total")
        for metric in ("train/*", "val/*", "flops/log10_train_total"):
            self.run.define_metric(metric, step_metric="trainer/step")

    def log(self, metrics: dict[str, float], step: int | None = None) -> None:
        payload = dict(metrics)
        if step is not None:
            payload["trainer/step"] = step
        self.run.log(payload)

    def summary(self, metrics: dict[str, Any]) -> None:
        for key, value in metrics.items():
            self.run.summary[key] = value

    def image(self, key: str, path: Path) -> None:
        self.run.log({key: self._wandb.Image(str(path))})

    def table(self, key: str, columns: list[str], rows: list[list]) -> None:
        self.run.log({key: self._wandb.Table(columns=columns, data=rows)})

    def finish(self, exit_code: int = 0) -> None:
        directory = Path(self.run.dir).parent
        self.run.finish(exit_code=exit_code)
        if self.mode == "offline":
            # ``wandb sync`` needs an API key: without a login it fails with "No API key".
            log.info(
                "W&B run logged offline; upload it, after `wandb login`, with: wandb sync %s",
                directory,
            )


def setting_of(name: str) -> str:
    """A run name (``optimizer.lr=1e-4,seed=2``) without its ``seed=`` override: what the runs of
    one setting share across seeds (``optimizer.lr=1e-4``; ``default`` if nothing else is left)."""
    return re.sub(r"(?:^|,)seed=[^,]*", "", name).strip(",") or "default"


WANDB_MODES = ("online", "offline", "disabled", "dryrun", "run", "shared")  # what wandb accepts


def resolve_mode(mode: str) -> str:
    """``auto`` → online when an API key or a stored login exists, else offline."""
    if mode != "auto":
        return str(mode)
    if os.environ.get("WANDB_MODE") in WANDB_MODES[:3]:
        return os.environ["WANDB_MODE"]
    if os.environ.get("WANDB_API_KEY"):
        return "online"
    netrc = Path(os.environ.get("NETRC", "~/.netrc")).expanduser()
    return (
        "online"
        if netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore")
        else "offline"
    )


def check_environment(cfg: LoggerConfig) -> None:
    """W&B settings from the environment that would make ``wandb.init`` fail, as one line."""
    mode = os.environ.get("WANDB_MODE")
    if cfg.name == "wandb" and mode is not None and mode not in WANDB_MODES:
        raise LlmtsError(
            f"environment WANDB_MODE={mode!r}: must be one of "
            f"{', '.join(WANDB_MODES[:3])} (or unset); or run with logger=none"
        )


def make_tracker(
    cfg: LoggerConfig,
    run_dir: Path,
    config: dict,
    name: str,
    group: str | None,
    job_type: str,
    is_main: bool,
) -> Tracker:
    if cfg.name == "none" or not is_main:
        return NullTracker()
    return WandbTracker(cfg, run_dir, config, name, group, job_type)
