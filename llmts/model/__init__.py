"""The model stage: Qwen2.5 through ``from_pretrained`` (or a Qwen2 built in code with seeded
weights), LoRA through peft, the study's trainable ``lm_head`` bias, the numeric-only output
head (:mod:`~llmts.model.build`) and optional Liger kernels (:mod:`~llmts.model.kernels`)."""

from llmts.model.build import base_model, build_model, count_parameters

__all__ = ["base_model", "build_model", "count_parameters"]
