"""Test helpers: the real Hydra config composed with overrides, HDF5 files, tokenizers built
in code."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
QWEN_TOKENIZER = REPO.parent / "shared" / "qwen2-tokenizer"


def llmts(*args: str, cwd=REPO, env=None, tool: str = "llmts", timeout: int = 600):
    """Run the console script ``tool`` (``llmts``, ``llmts-flops``, …) in a subprocess, W&B
    offline, as its installed entry point does."""
    (ep,) = entry_points(group="console_scripts", name=tool)
    cmd = [sys.executable, "-c", f"from {ep.module} import {ep.attr}; {ep.attr}()", *args]
    return subprocess.run(
        cmd,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "WANDB_MODE": "offline", **(env or {})},
    )


def compose(*overrides: str, config_name: str = "config"):
    """The config ``llmts`` (``config_name="bench"``/``"benchmark"``/``"forecast"``/``"flops"``/
    ``"report"``/``"pretrain"``: that entry point) would run with these overrides (no run dir,
    no side effects)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from llmts.config.compose import register_configs

    register_configs()
    # the entry points' own schemas
    if config_name in ("bench", "benchmark", "forecast", "flops", "report", "pretrain"):
        from importlib import import_module

        import_module(f"llmts.config.{config_name}").register()
    with initialize_config_dir(version_base="1.3", config_dir=str(REPO / "conf")):
        return hydra_compose(config_name=config_name, overrides=list(overrides))


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
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )
