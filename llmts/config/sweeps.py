"""What a sweep is: its jobs (each a list of ``key=value`` overrides) and the keys it varies.

One definition serves every place that needs it (the W&B run name of a sweep job, the
``llmts-flops -m`` table, the sweep report): a key is *swept* when its value differs between
jobs. Jobs are expanded as Hydra's basic sweeper expands them — the cartesian product of the
command line's sweeps (``lora.r=2,4,8``, ``range(…)``) and the ``hydra.sweeper.params`` of a
``sweep=`` config, the command line winning for a key given in both — using only Hydra's public
override parser.
"""

from __future__ import annotations

import itertools
from typing import Iterable, Mapping


def expand(overrides: Iterable[str], params: Mapping[str, str] | None = None) -> list[list[str]]:
    """Each job's overrides, in Hydra's order (the last key varies fastest)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    given = list(overrides)
    keys_given = {o.split("=", 1)[0].lstrip("+~") for o in given}
    args = [f"{k}={v}" for k, v in (params or {}).items() if k not in keys_given] + given
    choices = [[f"{o.get_key_element()}={v}" for v in (
        o.sweep_string_iterator() if o.is_sweep_override() else [o.get_value_element_as_str()])]
        for o in OverridesParser.create().parse_overrides(args)]
    return [list(job) for job in itertools.product(*choices)]


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
    keys = swept_keys(values(job) for job in expand(task, hc.sweeper.get("params")))
    return (label(hc.overrides.task, keys) or hc.job.override_dirname or name,
            group or Path(hc.sweep.dir).name, True)
