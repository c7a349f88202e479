"""Composition errors as people read them: one line from Hydra's and OmegaConf's chained
messages, with the hints Hydra knows and the nearest key to a misspelt one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from llmts.config.compose import llmts_hydra
from llmts.errors import first_line


def composition_error(exc: BaseException, config_name: str = "config") -> str:
    """One line from Hydra's/OmegaConf's chained, multi-line composition errors, keeping what
    Hydra knows: a group's available options, the ``-m`` hint for a sweep given without it, and
    the nearest schema key to a misspelt one ("did you mean")."""
    from hydra.errors import MissingConfigException

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
            hint = did_you_mean(str(cause.full_key), None, config_name)
        cause = cause.__cause__  # type: ignore[assignment]
    return ": ".join(parts) + hint


def did_you_mean(key: str, cfg: Any = None, config_name: str = "config") -> str:
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
