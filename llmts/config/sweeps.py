"""What a sweep is: its jobs (each a list of ``key=value`` overrides) and the keys it varies.

One definition serves every place that needs it (the W&B run name of a sweep job, the
``llmts-flops -m`` table, the sweep report): a key is *swept* when its value differs between
jobs. The jobs are the ones the sweeper the config names enumerates — Hydra's basic sweeper,
through its own ``split_arguments``: the command line's sweeps (``lora.r=2,4,8``, ``range(…)``)
times a ``sweep=`` config's ``hydra.sweeper.params``. A sweeper that picks its jobs as it runs
(optuna) enumerates none: its swept keys are the ones its sweeps name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def _arguments(overrides: Iterable[str], sweeper: Any) -> list[str]:
    """The sweeper's ``params`` then the command line, as Hydra's sweepers read them."""
    params = sweeper.get("params") or {}
    return [f"{k}={v}" for k, v in params.items()] + list(overrides)


def jobs(overrides: Iterable[str], sweeper: Mapping) -> list[list[str]] | None:
    """Each job's overrides, in Hydra's order, as the sweeper config ``sweeper`` (a composed
    ``hydra.sweeper``) enumerates them; None when that sweeper picks its jobs as it runs (its
    class has no ``split_arguments``)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.utils import get_class

    split = getattr(get_class(sweeper["_target_"]), "split_arguments", None)
    if split is None:
        return None
    parsed = OverridesParser.create().parse_overrides(_arguments(overrides, sweeper))
    return [job for batch in split(parsed, None) for job in batch]


def swept_overrides(overrides: Iterable[str], sweeper: Mapping) -> list[str]:
    """The keys the sweeps of the command line and of the sweeper's ``params`` name (whatever
    their syntax: ``2,4``, ``range``, ``interval``, ``tag``)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(_arguments(overrides, sweeper))
    return list(dict.fromkeys(o.get_key_element() for o in parsed if o.is_sweep_override()))


def fixed(overrides: Iterable[str]) -> list[str]:
    """The overrides that are not sweeps (``lora.r=2,4`` is; ``lora.target_modules=[q,v]`` is
    not): what composes the sweep's shared config."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    given = list(overrides)
    parsed = OverridesParser.create().parse_overrides(given)
    return [text for text, o in zip(given, parsed) if not o.is_sweep_override()]


def values(job: Iterable[str]) -> dict[str, str]:
    """``key -> value`` of one job's overrides (``+``/``~`` prefixes dropped)."""
    return {k.lstrip("+~"): v for k, _, v in (o.partition("=") for o in job)}


def swept_keys(jobs: Iterable[Mapping[str, object]]) -> list[str]:
    """The keys whose value differs between jobs (numbers compared as numbers: ``1e-4`` is
    ``0.0001``), sorted; jobs without a key (or with None) do not count for it."""
    jobs = list(jobs)
    keys = sorted({k for j in jobs for k in j})
    return [k for k in keys if len({number(j.get(k)) for j in jobs} - {None}) > 1]


def number(value: object) -> object:
    """``value`` as a float where it reads as one (``1e-4`` is ``0.0001``), else as it is."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return value


def label(job: Iterable[str], keys: Iterable[str]) -> str:
    """The job's overrides of the swept ``keys``: ``lora.r=8,optimizer.lr=1e-4``."""
    wanted = set(keys)
    return ",".join(o for o in job if o.split("=", 1)[0].lstrip("+~") in wanted)


def job_identity(name: str, group: str | None) -> tuple[str, str | None, bool]:
    """(W&B run name, group, is this a multirun job) of the Hydra job running now; ``name`` and
    ``group`` are the run's configured ones (``cfg.name``, ``logger.group``). In a sweep the
    name is the job's values of the swept keys (``lora.r=8,optimizer.lr=1e-4``) and the group
    is the sweep dir's name; a single run is named by its overrides."""
    from pathlib import Path

    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN:
        return hc.job.override_dirname or name, group, False
    try:  # the whole sweep's command line, as Hydra recorded it
        task = list(OmegaConf.load(Path(hc.sweep.dir) / "multirun.yaml").hydra.overrides.task)
    except (OSError, ValueError, AttributeError):
        task = list(hc.overrides.task)
    listed = jobs(task, hc.sweeper)
    keys = (
        [k.lstrip("+~") for k in swept_overrides(task, hc.sweeper)]
        if listed is None
        else swept_keys(values(job) for job in listed)
    )
    return (
        label(hc.overrides.task, keys) or hc.job.override_dirname or name,
        group or Path(hc.sweep.dir).name,
        True,
    )
