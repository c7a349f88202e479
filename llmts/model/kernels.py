"""``train.kernels``: optional fused kernels patched into a built model. ``liger``: Liger's
Triton RMSNorm and SwiGLU for Qwen2 (fewer, larger kernels per layer on a CUDA GPU), on that
model's modules only. Liger's RoPE is left out: it swaps transformers' module-level function for
the whole process, which would also change every model built later (the bench's naive path,
the next job of an in-process sweep). The
loss stays llmts's own chunked cross-entropy, so Liger's fused linear cross-entropy is not used.
liger-kernel is not a dependency of llmts: install it yourself where you want it."""

from __future__ import annotations

import torch
from torch import nn

from llmts.errors import LlmtsError
from llmts.model.build import base_model


def apply_kernels(model: nn.Module, name: str) -> None:
    """Patch ``model`` (a Qwen2, possibly inside peft) with the ``name`` kernels; "none": as is.
    Only ``model`` changes: what Liger assigns in transformers' Qwen2 module is put back."""
    if name == "none":
        return
    if name != "liger":
        raise LlmtsError(f"train.kernels={name!r}: must be one of none, liger")
    kind = getattr(base_model(model).config, "model_type", "?")
    if kind != "qwen2":  # the kernels below are Liger's Qwen2 patch
        raise LlmtsError(f"train.kernels=liger: Qwen2 models only, not {kind}; use none")
    try:
        from liger_kernel.transformers import apply_liger_kernel_to_qwen2
    except ImportError:
        raise LlmtsError(
            "train.kernels=liger: liger-kernel is not installed "
            "(pip install liger-kernel; its kernels need a CUDA GPU)"
        ) from None
    if not torch.cuda.is_available():
        raise LlmtsError("train.kernels=liger: Liger's Triton kernels need a CUDA GPU")
    from transformers.models.qwen2 import modeling_qwen2

    saved = dict(vars(modeling_qwen2))
    try:
        apply_liger_kernel_to_qwen2(
            rope=False,
            rms_norm=True,
            swiglu=True,
            cross_entropy=False,
            fused_linear_cross_entropy=False,
            model=base_model(model),
        )
    finally:  # Liger also swaps the module's classes: models built later stay transformers'
        for name, value in saved.items():
            setattr(modeling_qwen2, name, value)
