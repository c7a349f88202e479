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
    return [k for k in keys if len({_number(j.get(k)) for j in jobs} - {None}) > 1]


def _number(value: object) -> object:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return value


def label(job: Iterable[str], keys: Iterable[str]) -> str:
    """The job's overrides of the swept ``keys``: ``lora.r=8,optimizer.lr=1e-4``."""
    wanted = set(keys)
    return ",".join(o for o in job if o.split("=", 1)[0].lstrip("+~") in wanted)
