"""Shared fixtures: the tiny model's config, the tiny tokenizer, a private data cache, and a
helper that composes the real Hydra config with overrides."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
QWEN_TOKENIZER = REPO.parent / "shared" / "qwen2-tokenizer"

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


def compose(*overrides: str, config_name: str = "config"):
    """The config ``llmts`` (``config_name="bench"``/``"forecast"``: ``llmts-bench`` /
    ``llmts-forecast``) would run with these overrides (no run dir, no side effects)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from llmts.compose import register_configs

    register_configs()
    if config_name in ("bench", "forecast"):  # the entry points' own schemas
        from llmts import bench, forecast_cli

        (bench if config_name == "bench" else forecast_cli).register()
    with initialize_config_dir(version_base="1.3", config_dir=str(REPO / "conf")):
        return hydra_compose(config_name=config_name, overrides=list(overrides))


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from llmts.tokenization import build_tiny_tokenizer

    return build_tiny_tokenizer()


@pytest.fixture
def tiny_cfg():
    return compose("model=tiny", "logger=none")


def make_h5(path, traj=None, time=None, **extra):
    """An HDF5 dataset file: ``trajectories`` (default 5 x 80 x 2, positive), ``time`` (default
    0..T-1); ``False`` leaves a dataset out, ``extra`` adds more."""
    import h5py
    import numpy as np

    traj = np.abs(np.random.default_rng(0).normal(size=(5, 80, 2))) + 0.1 if traj is None else traj
    time = np.arange(80 if traj is False else traj.shape[1], dtype=float) if time is None else time
    with h5py.File(path, "w") as f:
        if traj is not False:
            f["trajectories"] = traj
        if time is not False:
            f["time"] = time
        for k, v in extra.items():
            f[k] = v
    return path


def digit_pair_tokenizer():
    """A byte-level BPE built in code that merges every pair of digits (``12`` is one token, as
    in tokenizers that group digits) and a space with each codec character (`` 1``, `` ;``), with
    GPT-2's pre-tokenizer (a space starts a new piece)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet(), key=ord)
    vocab = {ch: i for i, ch in enumerate(alphabet)}
    digits = "0123456789"
    merges = [(a, b) for a in digits for b in digits] + [("Ġ", c) for c in digits + ",.;-"]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    core = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    core.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", padding_side="left",
                                   clean_up_tokenization_spaces=False)
