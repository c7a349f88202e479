"""The preflight every entry point runs first: compose and check every job of the command line,
so a mistake is one line and exit 2 before Hydra makes a run dir or any job starts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from llmts.config import sweeps
from llmts.config.compose import llmts_hydra
from llmts.config.errors import composition_error, did_you_mean
from llmts.config.schema import check
from llmts.errors import LlmtsError


def preflight(
    args: list[str], config_name: str = "config", checker: Callable[[Any], None] = check
) -> None:
    """Compose and check (``checker``) the config of every job the command line asks for,
    before Hydra runs any: a typo, a bad choice or an out-of-range value — in a sweep, in any
    job — is one :class:`LlmtsError` naming it. A sweeper that enumerates its jobs (Hydra's basic
    sweeper) has each of them checked here; one that chooses them as it goes (optuna:
    ``interval``, ``tag``) has the shared config and its keys checked here, and each job is then
    checked by the run itself as it starts. A command line with any Hydra flag but ``-m``
    (help, config printing, another config tree) is left to Hydra, and to the run's own check."""
    from hydra import compose
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from hydra.types import RunMode
    from omegaconf.errors import OmegaConfBaseException

    flags = {a for a in args if a.startswith("-")}
    if flags - {"-m", "--multirun"}:
        return
    overrides = [a for a in args if a not in flags]
    try:
        with llmts_hydra():
            parsed = OverridesParser.create().parse_overrides(overrides)
            shared = [a for a, o in zip(overrides, parsed) if not o.is_sweep_override()]
            base = compose(config_name, overrides=shared, return_hydra_config=True)
            if flags or base.hydra.mode == RunMode.MULTIRUN:  # -m, or a sweep= config
                jobs = sweeps.jobs(overrides, base.hydra.sweeper)
                if jobs is None:  # the sweeper picks the jobs: their keys must exist
                    for key in sweeps.swept_overrides(overrides, base.hydra.sweeper):
                        _check_key(base, key)
                    checker(base)
                for job in jobs or ():
                    checker(compose(config_name, overrides=job))
            elif shared == overrides:  # one run: base is its config
                checker(base)
            else:  # a sweep without -m: composing it says so
                checker(compose(config_name, overrides=overrides))
    except (HydraException, OmegaConfBaseException) as exc:
        raise LlmtsError(composition_error(exc, config_name)) from None


def _check_key(cfg: Any, key: str) -> None:
    """``key`` (an override's key: ``optimizer.lr``, ``+extra``, ``model``) names a key of
    ``cfg`` or one of its groups; else one line with the nearest key."""
    from omegaconf import OmegaConf

    bare = key.lstrip("+~")
    if key.startswith(("+", "~")) or "/" in bare or bare in cfg.hydra.runtime.choices:
        return
    if bare.startswith("hydra.") or OmegaConf.select(cfg, bare, default=_ABSENT) is not _ABSENT:
        return
    raise LlmtsError(f"Key '{bare}' is not in the config{did_you_mean(bare, cfg)}")


_ABSENT = object()


def job_configs(
    overrides: list[str], config_name: str = "config", base: Any = None
) -> Iterator[tuple[list[str], Any]]:
    """(overrides, composed config) of each job of a sweep, as the sweeper the config names
    (Hydra's basic sweeper) enumerates them: the command line's sweeps times a ``sweep=``
    config's ``hydra.sweeper.params``. ``base``: the sweep's shared config with its ``hydra``
    node, if composed already. Call inside :func:`llmts_hydra`."""
    from hydra import compose

    if base is None:
        base = compose(config_name, overrides=sweeps.fixed(overrides), return_hydra_config=True)
    jobs = sweeps.jobs(overrides, base.hydra.sweeper)
    if jobs is None:
        raise LlmtsError(
            f"{base.hydra.sweeper._target_.rsplit('.', 1)[-1]} picks its jobs as it "
            "runs: they cannot be listed beforehand"
        )
    for job in jobs:
        yield job, compose(config_name, overrides=job)
