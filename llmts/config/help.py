"""The ``--help`` pages: one line per key, ``key=default [choices]: help``, from the schema
dataclasses (the only place a key's help is written)."""

from __future__ import annotations

from dataclasses import MISSING as NO_DEFAULT
from dataclasses import fields, is_dataclass
from typing import Any

from llmts.config.choices import Choice
from llmts.config.schema import Config


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
