"""A checkpoint evaluated with the settings saved with its run (llmts.train.run_config)."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from llmts.errors import LlmtsError
from llmts.train.run_config import as_trained, trained_hint
from tests.helpers import compose


@pytest.fixture
def trained(tmp_path):
    """A run dir as ``llmts`` leaves it: .hydra/config.yaml beside checkpoints/step-4."""
    run = tmp_path / "run"
    (run / "checkpoints" / "step-4").mkdir(parents=True)
    (run / ".hydra").mkdir()
    saved = OmegaConf.to_container(
        compose("model=tiny", "lora=none", "data.num_series=30", "data.scale=per_variable"),
        enum_to_str=True,
    )
    saved["model"]["retired_key"] = 1  # a key of an older llmts: dropped
    OmegaConf.save(OmegaConf.create(saved), run / ".hydra" / "config.yaml")
    return run


def test_a_checkpoint_is_evaluated_with_its_runs_model_lora_and_data(trained):
    """Issue 22: `llmts train.max_steps=0 eval.checkpoint=RUN/checkpoints/step-N` used the hub
    model, and model=tiny without lora=none did not match the saved adapters."""
    cfg, run = as_trained(
        compose("train.max_steps=0"), trained / "checkpoints" / "step-4", ["train.max_steps=0"]
    )
    assert run == trained
    assert (cfg.model.name, cfg.lora.enabled, cfg.data.scale, cfg.data.num_series) == (
        "tiny-qwen2",
        False,
        "per_variable",
        30,
    )
    assert cfg.train.max_steps == 0 and cfg.decoding == compose().decoding  # not trained on
    assert "retired_key" not in cfg.model


def test_the_command_line_still_wins(trained):
    given = ["model.dtype=float32", "data.num_series=7"]
    cfg, _ = as_trained(compose(*given), trained / "checkpoints" / "step-4", given)
    assert (cfg.model.name, cfg.model.dtype, cfg.data.num_series, cfg.data.scale) == (
        "tiny-qwen2",
        "float32",
        7,
        "per_variable",
    )
    cfg, _ = as_trained(
        compose("lora=default"), trained / "checkpoints" / "step-4", ["lora=default"]
    )
    assert cfg.lora.enabled and cfg.model.name == "tiny-qwen2"  # a group option: as composed


def test_without_a_saved_config_nothing_changes(tmp_path, trained):
    cfg = compose("model=tiny")
    assert as_trained(cfg, tmp_path / "elsewhere" / "step-4") == (cfg, None)
    (trained / ".hydra" / "config.yaml").write_text("model: [not, a, group]\nlora: {r: x}\n")
    with pytest.raises(LlmtsError, match="config.yaml"):
        as_trained(cfg, trained / "checkpoints" / "step-4")


def test_a_hint_only_where_no_run_config_says_how_it_was_trained(tmp_path, trained):
    assert trained_hint(trained / "checkpoints" / "step-4", "give model=") == ""
    hint = trained_hint(tmp_path / "copied" / "step-4", "give model=")
    assert hint == " (no run config beside it says how it was trained: give model=)"
