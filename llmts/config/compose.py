"""Composition: the schemas registered with Hydra (each group's dataclass as its default
option, the app's ``--help`` page) and Hydra initialised on llmts's config dir. The preflight
every entry point runs first is :mod:`llmts.config.preflight`; its one-line messages,
:mod:`llmts.config.errors`; the help lines, :mod:`llmts.config.help`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any

from llmts.config.help import describe
from llmts.config.schema import CONF_DIR, GROUPS, Config


def default_options(config_name: str = "config") -> dict[str, str]:
    """group -> its default option, as ``conf/<config_name>.yaml``'s defaults list names it (the
    one place that names them); each is stored as that group's dataclass (no YAML restates the
    defaults)."""
    from omegaconf import OmegaConf

    listed = OmegaConf.load(Path(CONF_DIR) / f"{config_name}.yaml").defaults
    return {
        k: v
        for entry in listed
        if OmegaConf.is_dict(entry)
        for k, v in entry.items()
        if k in GROUPS
    }


def primary_defaults(
    schema_name: str,
    replace: dict[str, Any] | None = None,
    groups: tuple[str, ...] | None = None,
    extra: tuple[Any, ...] = (),
) -> list[Any]:
    """``conf/config.yaml``'s defaults list over another schema, for an entry point that
    composes (part of) a run's config plus its own keys — the one place that names the default
    options: the entries of ``replace`` replaced (by key), only ``groups`` kept (None: every
    one), ``extra`` added before the overrides."""
    from omegaconf import OmegaConf

    listed = OmegaConf.to_container(OmegaConf.load(Path(CONF_DIR) / "config.yaml").defaults)
    replace = replace or {}
    out: list[Any] = [schema_name]
    for entry in listed[1:]:  # the first is llmts's schema
        key = next(iter(entry)) if isinstance(entry, dict) else None
        if (
            key is not None
            and not key.startswith("override ")
            and groups is not None
            and key not in groups
        ):
            continue
        if key is not None and key.startswith("override ") and extra:
            out += list(extra)
            extra = ()
        out.append({key: replace[key]} if key in replace else entry)
    return out


def register_configs(
    app: str = "llmts",
    schema: type = Config,
    schema_name: str = "llmts_schema",
    groups: dict[str, str] | None = None,
    header: str = "",
) -> None:
    """Register ``schema`` (the first default of the app's primary config), each group's
    dataclass as that group's default option, and ``app``'s ``--help`` page: ``header`` (the
    entry point's own lines; empty: its name), then the config groups the app reads:
    ``schema``'s, plus ``groups`` (group -> its stored default option, e.g.
    ``{"bench": "default"}``), plus ``experiment`` and ``sweep`` for a run's, then every key."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    store.store(name=schema_name, node=schema)
    named = default_options()
    for name, option in named.items():
        store.store(group=name, name=option, node=GROUPS[name])
    read = {f.name: named[f.name] for f in fields(schema) if f.name in named}
    read.update(groups or {})
    if issubclass(schema, Config) and not groups:  # llmts, llmts-flops: also the run's presets
        read.update(experiment="", sweep="")
    listing = "".join(
        f"{g}: "
        + ", ".join(
            sorted(
                {o for o in [option] if o} | {p.stem for p in (Path(CONF_DIR) / g).glob("*.yaml")}
            )
        )
        + "\n"
        for g, option in read.items()
    )
    keys = "\n".join(describe(schema)).replace("$", "$$")  # $ starts a variable in the template
    store.store(
        group="hydra/help",
        name="llmts",
        node={
            "app_name": app,
            "header": header or app,
            "footer": "Override any key as key=value; -m runs a sweep. Hydra: --cfg job, --info.",
            "template": "${hydra.help.header}\n\n"
            + (f"== Config groups (group=option) ==\n{listing}\n" if listing else "")
            + f"== Keys (key=default [choices]: help) ==\n{keys.lstrip(chr(10))}\n\n"
            "${hydra.help.footer}\n",
        },
    )


@contextmanager
def llmts_hydra() -> Iterator[None]:
    """Hydra initialised on llmts's config dir for ``hydra.compose`` calls, also from inside
    another Hydra app (a user's ``@hydra.main``): that app's global Hydra is put back after."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    outer = GlobalHydra.instance().hydra if GlobalHydra.instance().is_initialized() else None
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(version_base="1.3", config_dir=CONF_DIR):
            yield
    finally:
        if outer is not None:
            GlobalHydra.instance().initialize(outer)
