"""Checkpoints (llmts/train/checkpoint.py): the trainable weights saved and loaded (also in
peft's format), the newest complete one found, damaged ones refused in one line, never unpickled
with code. Killing and resuming a real run: tests/e2e/test_hardening.py."""

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from llmts.model.build import build_model
from llmts.train.checkpoint import load_trainable, save_trainable
from tests.helpers import compose
from tests.helpers.checkpoints import (
    DAMAGE,
    Evil,
    damaged_copy,
    fresh_training_state,
    save_pristine_checkpoint,
)

X = torch.tensor([[15, 13, 18, 18, 11, 15, 13, 18, 21, 26, 15, 13, 17, 21, 11]])


def tiny(*overrides):
    cfg = compose("model=tiny", *overrides)
    return cfg, build_model(cfg.model, cfg.lora, cfg.seed)


def perturb(model):
    with torch.no_grad():  # LoRA B starts at zero: move every trainable tensor so saves matter
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.05)


@pytest.mark.slow
def test_save_reload_in_fresh_process_gives_identical_logits(tmp_path):
    _, model = tiny()
    perturb(model)
    save_trainable(model, tmp_path)
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()
    with torch.no_grad():
        expected = model(X).logits
    code = f"""
import sys, torch
sys.path.insert(0, {str(Path(__file__).parents[2])!r})
from tests.helpers import compose
from llmts.train.checkpoint import load_trainable
from llmts.model.build import build_model
cfg = compose("model=tiny")
m = build_model(cfg.model, cfg.lora, cfg.seed)
load_trainable(m, {str(tmp_path)!r})
with torch.no_grad():
    torch.save(m(torch.tensor({X.tolist()})).logits, {str(tmp_path / "logits.pt")!r})
"""
    subprocess.run([sys.executable, "-c", code], check=True)
    got = torch.load(tmp_path / "logits.pt", weights_only=True)
    assert torch.equal(got, expected)


# peft's own loader reads transformers' deprecated alias (as get_peft_model does, filtered there)
@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")
def test_peft_adapter_round_trip_and_merge(tmp_path):
    from peft import PeftModel

    from llmts.model.build import add_lm_head_bias, load_base_model

    cfg, model = tiny()
    perturb(model)
    save_trainable(model, tmp_path)
    with torch.no_grad():
        expected = model(X).logits
    base = load_base_model(cfg.model, cfg.seed)
    add_lm_head_bias(base)
    reloaded = PeftModel.from_pretrained(base, str(tmp_path / "adapter"))
    load_trainable_bias = {
        k: v for k, v in model.state_dict().items() if k.endswith("lm_head.bias")
    }
    reloaded.load_state_dict(load_trainable_bias, strict=False)
    with torch.no_grad():
        assert torch.allclose(reloaded(X).logits, expected, atol=1e-6)
        merged = reloaded.merge_and_unload()
        assert not any("lora_" in n for n, _ in merged.named_parameters())
        assert torch.allclose(merged(X).logits, expected, atol=1e-4)


def test_load_rejects_mismatched_checkpoint(tmp_path):
    from llmts.errors import LlmtsError

    _, model = tiny()
    save_trainable(model, tmp_path)
    _, other = tiny("lora.r=2")
    with pytest.raises(LlmtsError, match="shape"):
        load_trainable(other, tmp_path)
    (tmp_path / "trainable.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(LlmtsError, match="unreadable"):
        load_trainable(model, tmp_path)


# --------------------------------------------------------------------------------------------
# 2. Killed during a checkpoint write: the partial folder is ignored, reported, never loaded
#    (through the CLI in the test above; here the rule itself)


def _fake_checkpoint(folder: Path, step: int, state: bool = True) -> Path:
    folder.mkdir(parents=True)
    (folder / "trainable.safetensors").write_bytes(b"x")
    if state:
        (folder / "state.json").write_text(json.dumps({"step": step, "history": []}))
    return folder


def test_find_latest_skips_and_reports_an_interrupted_tmp_folder(tmp_path, caplog):
    from llmts.train.checkpoint import find_latest

    root = tmp_path / "checkpoints"
    _fake_checkpoint(root / "step-5", 5)
    _fake_checkpoint(root / "step-10", 10)
    _fake_checkpoint(root / ".tmp-step-15-abc", 15)
    with caplog.at_level(logging.WARNING):
        assert find_latest(tmp_path) == root / "step-10"
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any(".tmp-step-15-abc" in w for w in warnings), warnings


def test_find_latest_skips_and_reports_a_step_folder_without_state(tmp_path, caplog):
    """``step-N`` lacking state.json is incomplete: skipped (it is) and reported (it is not)."""
    from llmts.train.checkpoint import find_latest

    root = tmp_path / "checkpoints"
    _fake_checkpoint(root / "step-10", 10)
    _fake_checkpoint(root / "step-20", 20, state=False)
    with caplog.at_level(logging.WARNING):
        assert find_latest(tmp_path) == root / "step-10"
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("step-20" in w for w in warnings), (
        f"step-20 (no state.json) skipped silently: {warnings}"
    )


# --------------------------------------------------------------------------------------------
# 3. Damaged checkpoints passed explicitly: one line naming the file, never a traceback


@pytest.fixture(scope="module")
def pristine_checkpoint(tmp_path_factory):
    return save_pristine_checkpoint(tmp_path_factory.mktemp("pristine"))


@pytest.mark.slow
@pytest.mark.parametrize("case", DAMAGE)
def test_damaged_checkpoint_is_one_clear_error(pristine_checkpoint, tmp_path, case):
    from llmts.errors import LlmtsError
    from llmts.train.checkpoint import load_checkpoint

    cfg, pristine = pristine_checkpoint
    folder, file = damaged_copy(pristine, tmp_path, case)
    model, optimizer, scheduler = fresh_training_state(cfg)
    with pytest.raises(LlmtsError) as err:
        load_checkpoint(folder, model, optimizer, scheduler)
    msg = str(err.value)
    assert "\n" not in msg and str(folder) in msg and file in msg, msg


@pytest.mark.slow
def test_malicious_pickle_in_a_checkpoint_never_runs(pristine_checkpoint, tmp_path):
    import torch

    from llmts.errors import LlmtsError
    from llmts.train.checkpoint import load_checkpoint

    cfg, pristine = pristine_checkpoint
    folder = tmp_path / "step-5"
    shutil.copytree(pristine, folder)
    marker = tmp_path / "pwned"
    torch.save(Evil(marker), folder / "optimizer.pt")
    model, optimizer, scheduler = fresh_training_state(cfg)
    with pytest.raises(LlmtsError, match="optimizer.pt"):
        load_checkpoint(folder, model, optimizer, scheduler)
    assert not marker.exists()


def test_resume_auto_without_a_checkpoint_says_so_in_one_line(tmp_path, caplog):
    """train.resume=auto in a fresh run dir (no hydra.run.dir) silently started from scratch."""
    from llmts.train.checkpoint import resolve

    with caplog.at_level(logging.INFO, logger="llmts"):
        assert resolve("auto", tmp_path) is None
    (line,) = [r.getMessage() for r in caplog.records]
    assert "resume=auto found no checkpoint in" in line and str(tmp_path) in line
    assert "hydra.run.dir=RUN" in line
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="llmts"):
        assert resolve(None, tmp_path) is None  # no resume asked: nothing to say
    assert caplog.records == []
