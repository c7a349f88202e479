"""Composition: the schema registered with Hydra, each entry point's ``--help`` page, and the
preflight every entry point runs first — compose and check every job of the command line, so
a mistake is one line and exit 2 before Hydra makes a run dir or any job starts."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import MISSING as NO_DEFAULT
from dataclasses import fields
from typing import Any, Callable, Iterator

from llmts.config.choices import Choice
from llmts.config.schema import CONF_DIR, GROUPS, Config, check
from llmts.errors import LlmtsError


def describe(schema: type = Config, prefix: str = "") -> list[str]:
    """One help line per key, ``key=default [choices]: help``, from the dataclasses."""
    import typing

    hints, lines = typing.get_type_hints(schema), []
    for f in fields(schema):
        if f.name in GROUPS and hints[f.name] is GROUPS[f.name]:
            lines += [""] + describe(GROUPS[f.name], f"{f.name}.")
            continue
        default = (f.default_factory() if f.default_factory is not NO_DEFAULT  # type: ignore[misc]
                   else f.default)
        shown = [str(v) for v in default] if isinstance(default, list) else default
        tp = hints[f.name]
        choices = (f" [{'|'.join(m.value for m in tp)}]"
                   if isinstance(tp, type) and issubclass(tp, Choice) else "")
        lines.append(f"  {prefix}{f.name}={_plain(shown)}{choices}: {f.metadata.get('help', '')}")
    return lines


def _plain(value: Any) -> str:
    return "null" if value is None else str(value).replace("'", "")


# Each group's default option is its dataclass (no YAML restates the defaults).
DEFAULT_OPTION = {"model": "qwen2.5-0.5b-instruct", "lora": "default", "data": "lotka_volterra",
                  "decoding": "greedy", "optimizer": "adamw", "train": "default",
                  "eval": "default", "logger": "wandb"}
HELP = {
    "llmts": ("llmts: fine-tune a small LLM (Qwen2.5 + LoRA) on numeric time series written as "
              "text (LLMTIME),\nforecast the test split, score it beside physical baselines and "
              "log everything to W&B.\n\n  llmts experiment=demo                 # minutes on a "
              "CPU, no download\n  llmts model=tiny train.max_steps=100 decoding=sampling\n"
              "  llmts -m sweep=lr                     # the study's grids (also ./multirun.sh)"),
    "llmts-forecast": ("llmts-forecast: forecast your own series (a file) with a trained run or "
                       "checkpoint.\n\n  llmts-forecast run=outputs/runs/DATE input=series.csv "
                       "horizon=20 output=forecast.csv\n  llmts-forecast checkpoint=RUN/checkpoints/"
                       "step-300 model=tiny lora=none input=series.h5 decoding=sampling"),
    "llmts-bench": ("llmts-bench: what llmts's speed choices buy, measured on this machine "
                    "(training steps by B x L, decoding engines); writes bench.json.\n\n"
                    "  llmts-bench model=tiny                        # minutes on a CPU\n"
                    "  llmts-bench model=qwen2.5-0.5b-arch bench=gpu  # the study's sizes"),
    "llmts-flops": ("llmts-flops: the training-FLOPs plan of a run or a sweep, before spending "
                    "any (loads no weights).\n\n  llmts-flops lora.r=8 train.max_steps=2000\n"
                    "  llmts-flops -m sweep=lr               # every job, the total, the budget"),
}


def register_configs(app: str = "llmts", schema: type = Config,
                     schema_name: str = "llmts_schema") -> None:
    """Register ``schema`` (the first default of the app's primary config), each group's
    dataclass as that group's default option, and ``app``'s ``--help`` page."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    store.store(name=schema_name, node=schema)
    for name, group in GROUPS.items():
        store.store(group=name, name=DEFAULT_OPTION[name], node=group)
    keys = "\n".join(describe(schema)).replace("$", "$$")  # $ starts a variable in the template
    store.store(group="hydra/help", name="llmts", node={
        "app_name": app, "header": HELP.get(app, app),
        "footer": "Override any key as key=value; -m runs a sweep. Hydra: --cfg job, --info.",
        "template": "${hydra.help.header}\n\n== Config groups (group=option) ==\n"
                    f"$APP_CONFIG_GROUPS\n== Keys (key=default [choices]: help) =={keys}\n\n"
                    "${hydra.help.footer}\n"})


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


# Hydra flags after which nothing runs (help, config printing) or that take a value.
_NO_RUN = ("-h", "--help", "--hydra-help", "-c", "--cfg", "-i", "--info", "--shell-completion",
           "-sc")
# Flags that point Hydra at another config tree than llmts's: the run itself still checks it.
_OTHER_CONFIG = ("-cp", "--config-path", "-cn", "--config-name", "-cd", "--config-dir")
_VALUED = ("-c", "--cfg", "-p", "--package", "-cp", "--config-path", "-cn", "--config-name",
           "-cd", "--config-dir", "-i", "--info", "-sc", "--shell-completion")


def preflight(args: list[str], config_name: str = "config",
              checker: Callable[[Any], None] = check) -> None:
    """Compose and check (``checker``) the config of every job the command line asks for,
    before Hydra runs any: a typo, a bad choice or an out-of-range value — in a sweep, in any
    job — is one :class:`LlmtsError` naming it. Help and config-printing flags are left to
    Hydra, and so is a command line naming its own config tree (``-cp``/``-cd``/``-cn``)."""
    flags = _NO_RUN + _OTHER_CONFIG
    if any(a.split("=", 1)[0] in flags or a.startswith(("--cfg=", "--info=")) for a in args):
        return
    from hydra import compose
    from hydra.errors import HydraException
    from hydra.types import RunMode
    from omegaconf.errors import OmegaConfBaseException

    from llmts.config import sweeps

    overrides = [a for i, a in enumerate(args)
                 if not a.startswith("-") and (i == 0 or args[i - 1] not in _VALUED)]
    multirun = "-m" in args or "--multirun" in args
    try:
        with llmts_hydra():
            shared = sweeps.fixed(overrides)
            base = compose(config_name, overrides=shared, return_hydra_config=True)
            if multirun or base.hydra.mode == RunMode.MULTIRUN:  # -m, or a sweep= config
                for _, cfg in job_configs(overrides, config_name, base):
                    checker(cfg)
            elif shared == overrides:  # one run: base is its config
                checker(base)
            else:  # a sweep without -m: composing it says so
                checker(compose(config_name, overrides=overrides))
    except (HydraException, OmegaConfBaseException) as exc:
        raise LlmtsError(composition_error(exc)) from None


def job_configs(overrides: list[str], config_name: str = "config",
                base: Any = None) -> Iterator[tuple[list[str], Any]]:
    """(overrides, composed config) of each job of a sweep: the command line's sweeps times a
    ``sweep=`` config's ``hydra.sweeper.params``, as Hydra's basic sweeper expands them.
    ``base``: the sweep's shared config with its ``hydra`` node, if composed already. Call
    inside :func:`llmts_hydra`."""
    from hydra import compose

    from llmts.config import sweeps

    if base is None:
        base = compose(config_name, overrides=sweeps.fixed(overrides), return_hydra_config=True)
    for job in sweeps.expand(overrides, base.hydra.sweeper.get("params")):
        yield job, compose(config_name, overrides=job)


def composition_error(exc: BaseException) -> str:
    """One line from Hydra's/OmegaConf's chained, multi-line composition errors."""
    from llmts.errors import first_line

    parts: list[str] = []
    while exc is not None:
        line = first_line(exc).rstrip(".")
        if line and line not in parts:
            parts.append(line)
        exc = exc.__cause__  # type: ignore[assignment]
    return ": ".join(parts)
