"""Shared fixtures: the tiny model's config, the tiny tokenizer, a private data cache (helpers
that compose configs and build files: :mod:`tests.helpers`)."""

from __future__ import annotations

import os

import pytest

from tests.helpers import compose

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Workers share the cores: one OpenMP thread each (and in their subprocesses), or spinning
    # threads of one worker stall the other's tiny-model ops. Set before torch is imported.
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Simulated datasets go to a per-session cache, W&B never goes online."""
    os.environ["LLMTS_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ["WANDB_SILENT"] = "true"
    yield


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from llmts.codec.tokenizer import build_tiny_tokenizer

    return build_tiny_tokenizer()


@pytest.fixture
def tiny_cfg():
    return compose("model=tiny", "logger=none")
