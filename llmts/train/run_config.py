"""A checkpoint's run config: the ``model``, ``lora`` and ``data`` settings saved with the run a
checkpoint came from, restored over a composed config when the checkpoint is loaded elsewhere
(``eval.checkpoint``, ``llmts-forecast``, ``Forecaster.from_checkpoint``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmts.errors import LlmtsError, first_line

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
