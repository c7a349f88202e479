"""Models shipped inside the package, by name: ``${llmts.weights:NAME}`` in a config is the
installed folder ``llmts/model/weights/NAME`` (an OmegaConf resolver, registered on import of
:mod:`llmts.config`), so ``conf/model/mini.yaml`` loads its weights with ``from_pretrained``
from wherever llmts is installed, and a saved run config names the model, not a path."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "model" / "weights"
RESOLVER = "llmts.weights"


def shipped(name: str) -> str:
    """The installed folder of the shipped model ``name``."""
    return str(WEIGHTS_DIR / name)


def register_resolver() -> None:
    if not OmegaConf.has_resolver(RESOLVER):
        OmegaConf.register_new_resolver(RESOLVER, shipped)
