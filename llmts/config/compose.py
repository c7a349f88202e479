"""Composition: the schema registered with Hydra, each entry point's ``--help`` page, and the
preflight every entry point runs first — compose and check every job of the command line, so
a mistake is one line and exit 2 before Hydra makes a run dir or any job starts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import MISSING as NO_DEFAULT
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

from llmts.config.choices import Choice
from llmts.config.schema import CONF_DIR, GROUPS, Config, check
from llmts.errors import LlmtsError


def describe(schema: type = Config, prefix: str = "") -> list[str]:
    """One help line per key, ``key=default [choices]: help``, from the dataclasses."""
    import typing

    hints, lines = typing.get_type_hints(schema), []
    for f in fields(schema):
        if is_dataclass(hints[f.name]):  # a group, or a section such as llmts-pretrain's corpus
            lines += [""] + describe(hints[f.name], f"{prefix}{f.name}.")
            continue
        default = (
            f.default_factory()
            if f.default_factory is not NO_DEFAULT  # type: ignore[misc]
            else f.default
        )
        shown = [str(v) for v in default] if isinstance(default, list) else default
        tp = hints[f.name]
        choices = (
            f" [{'|'.join(m.value for m in tp)}]"
            if isinstance(tp, type) and issubclass(tp, Choice)
            else ""
        )
        lines.append(f"  {prefix}{f.name}={_plain(shown)}{choices}: {f.metadata.get('help', '')}")
    return lines


def _plain(value: Any) -> str:
    return "null" if value is None else str(value).replace("'", "")


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

    from llmts.config import sweeps

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
    raise LlmtsError(f"Key '{bare}' is not in the config{_did_you_mean(bare, cfg)}")


_ABSENT = object()


def job_configs(
    overrides: list[str], config_name: str = "config", base: Any = None
) -> Iterator[tuple[list[str], Any]]:
    """(overrides, composed config) of each job of a sweep, as the sweeper the config names
    (Hydra's basic sweeper) enumerates them: the command line's sweeps times a ``sweep=``
    config's ``hydra.sweeper.params``. ``base``: the sweep's shared config with its ``hydra``
    node, if composed already. Call inside :func:`llmts_hydra`."""
    from hydra import compose

    from llmts.config import sweeps

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


def composition_error(exc: BaseException, config_name: str = "config") -> str:
    """One line from Hydra's/OmegaConf's chained, multi-line composition errors, keeping what
    Hydra knows: a group's available options, the ``-m`` hint for a sweep given without it, and
    the nearest schema key to a misspelt one ("did you mean")."""
    from hydra.errors import MissingConfigException

    from llmts.errors import first_line

    parts: list[str] = []
    hint, cause = "", exc
    while cause is not None:
        line = first_line(cause).rstrip(".")
        if line and line not in parts:
            parts.append(line)
        text = str(cause)
        if isinstance(cause, MissingConfigException) and cause.options:
            group = (cause.missing_cfg_file or "").rsplit("/", 1)[0]
            hint = f" (available options in '{group}': {', '.join(cause.options)})"
        elif "add --multirun" in text:
            hint = (
                " (to sweep over it, add -m (--multirun); a list is key=[a,b], a string key='a,b')"
            )
        elif getattr(cause, "full_key", None) and " not in " in first_line(cause):
            hint = _did_you_mean(str(cause.full_key), None, config_name)
        cause = cause.__cause__  # type: ignore[assignment]
    return ": ".join(parts) + hint


def _did_you_mean(key: str, cfg: Any = None, config_name: str = "config") -> str:
    """``"; did you mean optimizer.lr?"`` — the schema's key nearest to ``key`` (difflib)."""
    import difflib

    if cfg is None:
        from hydra import compose

        with llmts_hydra():
            cfg = compose(config_name)
    near = difflib.get_close_matches(key, list(_keys(cfg)), n=1)
    return f"; did you mean {near[0]}?" if near else ""


def _keys(node: Any, prefix: str = "") -> Iterator[str]:
    """Every dotted leaf key of a composed config (its ``hydra`` node left out)."""
    from omegaconf import DictConfig

    for k, v in node.items_ex(resolve=False) if isinstance(node, DictConfig) else ():
        if k == "hydra":
            continue
        yield from _keys(v, f"{prefix}{k}.") if isinstance(v, DictConfig) else [f"{prefix}{k}"]


TRAINED = ("model", "lora", "data")  # what a checkpoint's weights and its codec depend on


def as_trained(
    cfg: Any, checkpoint: str | Path, overrides: list[str] | tuple[str, ...] = ()
) -> tuple[Any, Path | None]:
    """(``cfg`` with its ``model``/``lora``/``data`` as saved with the run ``checkpoint`` came
    from, that run's ``.hydra/config.yaml``), for ``RUN/checkpoints/step-N``; ``(cfg, None)``
    when no saved config is beside it. What ``overrides`` (the command line) sets of those
    groups still wins: a group option (``model=tiny``) keeps the composed group, a key
    (``model.dtype=float32``) its composed value. Keys a run no longer has are dropped."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf, open_dict

    saved = as_trained_config(Path(checkpoint).expanduser())
    if saved is None:
        return cfg, None
    from omegaconf.errors import OmegaConfBaseException

    from llmts.errors import first_line

    given = [o.key_or_group for o in OverridesParser.create().parse_overrides(list(overrides))]
    cfg = cfg.copy()
    try:
        raw = OmegaConf.to_container(OmegaConf.load(saved), resolve=False)
        for group in TRAINED:
            if group in given or not isinstance(raw.get(group), dict):
                continue
            node = cfg[group].copy()
            with open_dict(node):
                node.merge_with({k: v for k, v in raw[group].items() if k in node})
            for key in (k for k in given if k.startswith(f"{group}.")):
                OmegaConf.update(
                    node, key.split(".", 1)[1], OmegaConf.select(cfg, key), merge=False
                )
            cfg[group] = node
    except (OSError, ValueError, OmegaConfBaseException) as exc:
        raise LlmtsError(f"{saved}: {first_line(exc)}") from None
    return cfg, saved.parent.parent


def trained_hint(checkpoint: str | Path, how: str) -> str:
    """What to add to a checkpoint that does not fit the model built for it: where no run
    config is saved beside it, ``how`` to say what it was trained with, in the caller's syntax."""
    path = Path(checkpoint).expanduser()
    if as_trained_config(path) is not None:
        return ""
    return f" (no run config beside it says how it was trained: {how})"


def as_trained_config(checkpoint: Path) -> Path | None:
    """``RUN/.hydra/config.yaml`` of ``RUN/checkpoints/step-N``, when it is there."""
    saved = checkpoint.parent.parent / ".hydra" / "config.yaml"
    return saved if checkpoint.parent.name == "checkpoints" and saved.is_file() else None
