"""Shared fixtures: the tiny model's config, the tiny tokenizer, a private data cache, and a
helper that composes the real Hydra config with overrides."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
QWEN_TOKENIZER = REPO.parent / "shared" / "qwen2-tokenizer"


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Simulated datasets go to a per-session cache, W&B never goes online."""
    os.environ["LLMTS_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ["WANDB_SILENT"] = "true"
    yield


def compose(*overrides: str):
    """The config ``llmts`` would run with these overrides (no run dir, no side effects)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from llmts.config import register_configs

    register_configs()
    with initialize_config_dir(version_base="1.3", config_dir=str(REPO / "conf")):
        return hydra_compose(config_name="config", overrides=list(overrides))


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from llmts.tokenization import build_tiny_tokenizer

    return build_tiny_tokenizer()


@pytest.fixture
def tiny_cfg():
    return compose("model=tiny", "logger=none")
