"""The decoder layouts llmts knows by ``config.model_type``: each layer's linear projections with
their widths, read from the model's own config (a ModelConfig's numbers or a transformers
config), and any architecture's modules on the meta device. The FLOPs accounting
(:mod:`llmts.perf.flops`) and the LoRA checks (:mod:`llmts.model.build`) read them here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Decoder layouts the analytic accounting knows, by ``config.model_type``: each layer's linears
# as (name, "attn" | "mlp", d_in, d_out) from d, the query width q = heads·d_head, the key/value
# width kv = h_kv·d_head and the MLP width d_ff. Any other model type is planned by
# FlopCounterMode on the meta device (:func:`counted_plan_forward`).
GATED = ("qwen2", "qwen3", "llama", "mistral", "gemma", "gemma2", "gemma3_text", "olmo2")


def _qkvo_gated(d: int, q: int, kv: int, ff: int) -> list[tuple[str, str, int, int]]:
    return [
        ("q_proj", "attn", d, q),
        ("k_proj", "attn", d, kv),
        ("v_proj", "attn", d, kv),
        ("o_proj", "attn", q, d),
        ("gate_proj", "mlp", d, ff),
        ("up_proj", "mlp", d, ff),
        ("down_proj", "mlp", ff, d),
    ]


LAYOUTS: dict[str, Callable[[int, int, int, int], list[tuple[str, str, int, int]]]] = {
    **dict.fromkeys(GATED, _qkvo_gated),
    "phi3": lambda d, q, kv, ff: [
        ("qkv_proj", "attn", d, q + 2 * kv),
        ("o_proj", "attn", q, d),
        ("gate_up_proj", "mlp", d, 2 * ff),
        ("down_proj", "mlp", ff, d),
    ],
    "gpt2": lambda d, q, kv, ff: [
        ("c_attn", "attn", d, q + 2 * kv),
        ("c_proj", "attn", q, d),
        ("c_fc", "mlp", d, ff),
        ("c_proj", "mlp", ff, d),
    ],
    "gpt_neox": lambda d, q, kv, ff: [
        ("query_key_value", "attn", d, q + 2 * kv),
        ("dense", "attn", q, d),
        ("dense_h_to_4h", "mlp", d, ff),
        ("dense_4h_to_h", "mlp", ff, d),
    ],
}


def model_type(arch: Any) -> str:
    """``arch.model_type``; a ModelConfig (the random Qwen2 built from its numbers): qwen2."""
    return str(getattr(arch, "model_type", None) or "qwen2")


def known(arch: Any) -> bool:
    """Whether the analytic accounting knows ``arch``'s layout."""
    return model_type(arch) in LAYOUTS


def dims(arch: Any) -> tuple[int, int, int, int, int, int, int]:
    """``(d, d_ff, N, V, kv_width, d_head, q_width)`` read from a ModelConfig or a transformers
    config: d_head = ``head_dim`` where the config sets it (Gemma, Qwen3), else d / heads;
    h_kv = heads without grouped-query attention; d_ff = 4d where the config leaves it unset
    (GPT-2's ``n_inner``)."""
    d = int(arch.hidden_size)
    heads = int(arch.num_attention_heads)
    d_head = int(getattr(arch, "head_dim", None) or d // heads)
    kv_heads = int(getattr(arch, "num_key_value_heads", None) or heads)
    d_ff = getattr(arch, "intermediate_size", None) or getattr(arch, "n_inner", None) or 4 * d
    return (
        d,
        int(d_ff),
        int(arch.num_hidden_layers),
        int(arch.vocab_size),
        kv_heads * d_head,
        d_head,
        heads * d_head,
    )


def layer_linears(arch: Any, gqa: bool = True) -> list[tuple[str, str, int, int]]:
    """Each decoder layer's linears (name, "attn" | "mlp", d_in, d_out) of a known layout;
    ``gqa=False``: key/value widths counted as the query width (the study's accounting)."""
    d, d_ff, _, _, kv, _, q = dims(arch)
    return LAYOUTS[model_type(arch)](d, q, kv if gqa else q, d_ff)


def linear_shapes(arch: Any) -> dict[str, tuple[int, int]]:
    """True ``(d_in, d_out)`` of each decoder linear by name: for Qwen2 q/o d→d, k/v
    d→h_kv·d_head, gate/up d→d_ff, down d_ff→d (q_proj is d→heads·d_head, d in Qwen2)."""
    return {name: (i, o) for name, _, i, o in layer_linears(arch)}


def meta_model(arch: Any):
    """``arch``'s causal LM on the meta device: its modules and shapes, no memory, no init."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(arch)
