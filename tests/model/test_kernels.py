"""train.kernels: optional, never required. Liger is not installed here (nor a GPU): the switch
fails in one line without it, and with a stand-in module it patches the built Qwen2 with
RMSNorm/RoPE/SwiGLU only (llmts keeps its own chunked loss)."""

import sys
import types

import pytest
import torch

from llmts.errors import LlmtsError
from llmts.model.build import build_model
from llmts.model.kernels import apply_kernels
from tests.helpers import compose


@pytest.fixture(scope="module")
def model():
    cfg = compose("model=tiny")
    return build_model(cfg.model, cfg.lora, 0)


def test_none_leaves_the_model_as_it_is(model):
    before = {n: type(m) for n, m in model.named_modules()}
    apply_kernels(model, "none")
    assert {n: type(m) for n, m in model.named_modules()} == before


def test_liger_without_the_package_is_one_clear_line(model, monkeypatch):
    monkeypatch.setitem(sys.modules, "liger_kernel", None)  # import fails as if not installed
    with pytest.raises(LlmtsError, match="liger-kernel is not installed"):
        apply_kernels(model, "liger")
    with pytest.raises(LlmtsError, match="must be one of none, liger"):
        apply_kernels(model, "fast")


def test_liger_on_another_architecture_is_one_clear_line(tmp_path):
    from tests.helpers.families import save_family_model

    folder = save_family_model("llama", tmp_path / "llama")
    cfg = compose("model.source=pretrained", f"model.path={folder}")
    with pytest.raises(LlmtsError, match="Qwen2 models only, not llama"):
        apply_kernels(build_model(cfg.model, cfg.lora, 0), "liger")


def test_liger_patches_the_base_model_without_its_loss(model, monkeypatch):
    """Only this model: Liger's module-level swaps (classes, the RoPE function) would reach
    every Qwen2 built later in the process (the stand-in swaps a class as Liger does)."""
    from transformers.models.qwen2 import modeling_qwen2

    calls = []
    norm = modeling_qwen2.Qwen2RMSNorm

    def liger(**kw):
        calls.append(kw)
        modeling_qwen2.Qwen2RMSNorm = type("LigerRMSNorm", (torch.nn.Module,), {})

    fake = types.ModuleType("liger_kernel.transformers")
    fake.apply_liger_kernel_to_qwen2 = liger
    monkeypatch.setitem(sys.modules, "liger_kernel", types.ModuleType("liger_kernel"))
    monkeypatch.setitem(sys.modules, "liger_kernel.transformers", fake)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(LlmtsError, match="need a CUDA GPU"):
        apply_kernels(model, "liger")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    apply_kernels(model, "liger")
    assert len(calls) == 1 and calls[0]["model"] is model.get_base_model()
    assert calls[0]["rms_norm"] and calls[0]["swiglu"] and not calls[0]["rope"]
    assert not calls[0]["fused_linear_cross_entropy"] and not calls[0]["cross_entropy"]
    assert modeling_qwen2.Qwen2RMSNorm is norm  # models built from here on are untouched


def test_config_rejects_unknown_kernels_and_compile_modes():
    from hydra.errors import ConfigCompositionException

    from llmts.config.schema import check

    with pytest.raises(ConfigCompositionException, match="triton"):
        compose("model=tiny", "train.kernels=triton")
    with pytest.raises(ConfigCompositionException, match="graph"):
        compose("model=tiny", "train.compile=graph")
    for ok in ("none", "regions", "step"):
        check(compose("model=tiny", f"train.compile={ok}"))
