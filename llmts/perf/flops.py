"""Training-compute accounting for Qwen2-style decoders with LoRA (the study's §3.3, §4.7, §4.8).

Units: every number is a count of floating-point operations (FLOPs, one multiply or one add each;
a multiply-accumulate is 2 FLOPs), *not* FLOP/s. ``B`` is the batch size in sequences, ``L`` the
sequence length in tokens, ``d`` the hidden size, ``d_ff`` the MLP width, ``V`` the vocabulary,
``N`` the number of layers, ``h_kv·d_head`` the true width of the k/v projections.

Two accountings of the same forward pass are offered and must not be confused:

* ``gqa=False`` -- the **study's accounting** (§3.3.5). GQA is simplified to MHA, i.e. k_proj
  and v_proj are counted as d→d. With α=4 this reproduces Table 3 (forward B=4, L=512) and the
  Qwen column of Table 13. Use it to compare with the study and for the training budget.
* ``gqa=True`` -- the **true Qwen2 shapes**: k_proj/v_proj are d→h_kv·d_head (896→128 for
  Qwen2.5-0.5B). This is what the model really computes; it is smaller than the study's number.
  Several public implementations mix the two (MHA shapes for the base model, yet quote GQA
  numbers, or vice versa); this module keeps them apart by name.

LoRA (§4.7) is always counted with the true shapes: Table 13's LoRA column only comes out with
v_proj as 896→128 (MHA shapes would give about 0.1 more in log10).

What ``torch.utils.flop_counter.FlopCounterMode`` counts (checked with torch 2.13): only matmul-like
aten ops (mm, addmm, bmm, baddbmm, convolutions) and the *fused* SDPA kernels used on CUDA
(flash / efficient / cudnn, counted as full L², no causal halving). Norms, SiLU, the gating
product, RoPE, softmax and bias adds are not counted. On CPU, real tensors take
``_scaled_dot_product_flash_attention_for_cpu``, which is **not** registered, so the 4BL²d
attention-score term is missing there; on the ``meta`` device SDPA decomposes to bmm and is
counted. Measured with ``meta`` tensors (no weights needed, a few seconds) for the full-size
Qwen2.5-0.5B at B=4, L=512: forward 2.1135e12 FLOPs, forward+backward 6.3404e12 (exactly 3×,
since every weight requires grad), equal to the GQA-true matmul terms of the analytic formula.
Dropping the attention-score bmm gives 2.0233e12 / 6.070e12, consistent with the study's
calflops figures (Table 4), which evidently did not see the SDPA call.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from typing import Any

from llmts.config.choices import LORA_TARGETS as ALL_LINEAR  # the decoder linears LoRA can wrap

log = logging.getLogger(__name__)


def _dims(arch: Any) -> tuple[int, int, int, int, int, int]:
    """``(d, d_ff, N, V, kv_width, d_head)`` read from a ModelConfig / Qwen2Config-like object."""
    d = int(arch.hidden_size)
    heads = int(arch.num_attention_heads)
    # Qwen2Config may carry an explicit head_dim; otherwise it is d / heads as in Qwen2.
    d_head = int(getattr(arch, "head_dim", None) or d // heads)
    kv_width = int(arch.num_key_value_heads) * d_head
    return (
        d,
        int(arch.intermediate_size),
        int(arch.num_hidden_layers),
        int(arch.vocab_size),
        kv_width,
        d_head,
    )


def linear_shapes(arch: Any) -> dict[str, tuple[int, int]]:
    """True ``(d_in, d_out)`` of each Qwen2 decoder linear: q/o d→d, k/v d→h_kv·d_head,
    gate/up d→d_ff, down d_ff→d. (q_proj is d→heads·d_head, which equals d in Qwen2.)"""
    d, d_ff, _, _, kv, _ = _dims(arch)
    return {
        "q_proj": (d, d),
        "k_proj": (d, kv),
        "v_proj": (d, kv),
        "o_proj": (d, d),
        "gate_proj": (d, d_ff),
        "up_proj": (d, d_ff),
        "down_proj": (d_ff, d),
    }


def forward_breakdown(
    arch: Any, batch: int, seq_len: int, *, gqa: bool = False, rms_alpha: float = 4.0
) -> dict[str, float]:
    """Forward FLOPs by component (whole model, all N layers), in FLOPs.

    * ``embedding`` = 0 (a table lookup)
    * ``norms`` = (2N + 1)·α·B·L·d (two RMSNorms per layer plus the final one)
    * ``attn_proj`` = N·[2·2BLd² (q, o) + 2·2BLd·w_kv (k, v)], w_kv = d (the study) or
      h_kv·d_head (``gqa=True``); with w_kv = d this is the study's 8BLd²
    * ``attn_scores`` = N·4BL²d (QKᵀ and AV, full L², no causal halving; unchanged by GQA
      because every query head still attends over L keys of width d_head)
    * ``mlp_proj`` = N·6BLd·d_ff (gate, up, down); ``mlp_act`` = N·14BL·d_ff (SiLU and gating)
    * ``positional`` = B·L·d (the study's RoPE term); ``lm_head`` = 2BLdV
    """
    d, d_ff, n, v, kv, _ = _dims(arch)
    bl = float(batch) * float(seq_len)  # floats: no integer overflow surprises, exact to 2^53
    w_kv = kv if gqa else d
    return {
        "embedding": 0.0,
        "norms": (2 * n + 1) * rms_alpha * bl * d,
        "attn_proj": n * (2 * 2 * bl * d * d + 2 * 2 * bl * d * w_kv),
        "attn_scores": n * 4 * bl * seq_len * d,
        "mlp_proj": n * 6 * bl * d * d_ff,
        "mlp_act": n * 14 * bl * d_ff,
        "positional": bl * d,
        "lm_head": 2 * bl * d * v,
    }


def forward_flops(
    arch: Any, batch: int, seq_len: int, *, gqa: bool = False, rms_alpha: float = 4.0
) -> float:
    """Analytic forward FLOPs (the study's §3.3.5):

    BLd + αBLd + 2BLdV + N·[2αBLd + 8BLd² + 4BL²d + 6BLd·d_ff + 14BL·d_ff]

    ``gqa=False`` is the study's accounting (k/v as d→d; α=4 gives Table 3). ``gqa=True``
    replaces the k/v part of 8BLd² by 4BLd·h_kv·d_head (true GQA widths). ``arch`` needs
    ``hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
    num_key_value_heads, vocab_size``.
    """
    return float(
        sum(forward_breakdown(arch, batch, seq_len, gqa=gqa, rms_alpha=rms_alpha).values())
    )


def train_step_flops(
    arch: Any, batch: int, seq_len: int, *, gqa: bool = False, rms_alpha: float = 4.0
) -> float:
    """FLOPs of one training step = 3 × forward (the study's §3.3.6: backward ≈ 2 × forward).

    This is the full-fine-tuning convention. With a frozen base (LoRA) the weight gradients of
    the base are skipped, so the real cost is nearer 2 × forward; the study keeps 3× (an upper
    bound), and so does this function.
    """
    return 3.0 * forward_flops(arch, batch, seq_len, gqa=gqa, rms_alpha=rms_alpha)


def lora_step_flops(
    arch: Any, batch: int, seq_len: int, r: int, target_modules: Iterable[str]
) -> float:
    """Extra FLOPs per training step from LoRA adapters (the study's §4.7):

    N · Σ_targets 6·B·L·r·(d_in + d_out)

    (2BLr(d_in+d_out) for x·Aᵀ then ·Bᵀ, times 3 for forward+backward), with the TRUE
    (d_in, d_out) from :func:`linear_shapes`. ``target_modules`` may be PEFT's ``"all-linear"``.
    """
    if isinstance(target_modules, str):
        target_modules = ALL_LINEAR if target_modules == "all-linear" else [target_modules]
    shapes = linear_shapes(arch)
    n = int(arch.num_hidden_layers)
    total = 0.0
    for name in dict.fromkeys(target_modules):  # a repeated name is still one adapter
        if name not in shapes:
            raise ValueError(f"unknown LoRA target {name!r}; known: {', '.join(ALL_LINEAR)}")
        d_in, d_out = shapes[name]
        total += 6.0 * batch * seq_len * r * (d_in + d_out)
    return n * total


def flops_plan(
    model_cfg: Any, lora_cfg: Any, batch_size: int, seq_len: int, steps: int
) -> dict[str, float]:
    """Budget of a training run, in FLOPs.

    Keys: ``forward, step, lora_step, steps, total_base (= steps·step), total_lora
    (= steps·lora_step, 0 when ``lora_cfg.enabled`` is False), total, log10_total`` in the
    study's accounting (Table 13), and the same keys prefixed ``gqa/`` with true k/v widths.
    ``batch_size`` is sequences per optimizer step (micro-batch × gradient accumulation):
    FLOPs are linear in B, so accumulation changes nothing else.
    """
    enabled = bool(getattr(lora_cfg, "enabled", False))
    lora_step = (
        lora_step_flops(model_cfg, batch_size, seq_len, int(lora_cfg.r), lora_cfg.target_modules)
        if enabled
        else 0.0
    )
    plan: dict[str, float] = {}
    for prefix, gqa in (("", False), ("gqa/", True)):
        fwd = forward_flops(model_cfg, batch_size, seq_len, gqa=gqa)
        step = 3.0 * fwd
        base, extra = steps * step, steps * lora_step
        total = base + extra
        plan.update(
            {
                f"{prefix}forward": fwd,
                f"{prefix}step": step,
                f"{prefix}lora_step": lora_step,
                f"{prefix}steps": steps,
                f"{prefix}total_base": base,
                f"{prefix}total_lora": extra,
                f"{prefix}total": total,
                f"{prefix}log10_total": math.log10(total) if total > 0 else float("-inf"),
            }
        )
    return plan


def counted_flops(fn: Callable[[], Any]) -> float | None:
    """FLOPs of one call of ``fn`` as ``FlopCounterMode`` counts them (matmuls only, and on CPU
    without the fused SDPA scores: see the module docstring). For a LoRA step that is its true
    cost: frozen weights get no weight-gradient matmuls. None where this torch cannot count the
    step: before 2.13 its SDPA formula rejects grouped-query shapes (fewer key/value heads than
    query heads), which transformers passes to SDPA on a GPU."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    try:
        with FlopCounterMode(display=False) as counter:
            fn()
    except AssertionError as exc:
        if not str(exc).startswith("sdpa_flop_count"):
            raise
        log.warning(
            "counted FLOPs omitted: torch %s cannot count this step (%s)", torch.__version__, exc
        )
        return None
    return float(counter.get_total_flops())


def format_plan(plan: dict[str, float]) -> str:
    """A small table: study accounting vs GQA-true, FLOPs in scientific notation and log10."""

    def cell(x: float) -> str:
        return f"{x:10.3e} ({math.log10(x):6.3f})" if x > 0 else f"{0:10.3e} ({'-':>6})"

    rows = ["forward", "step", "lora_step", "total_base", "total_lora", "total"]
    lines = [
        f"FLOPs over {int(plan['steps'])} steps",
        f"{'':<11} {'study accounting':>21}   {'GQA-true':>21}",
    ]
    for key in rows:
        lines.append(f"{key:<11} {cell(plan[key]):>21}   {cell(plan['gqa/' + key]):>21}")
    return "\n".join(lines)


def check_budget(plan: dict[str, float], budget: float | None) -> None:
    """Refuse a run whose planned FLOPs (study accounting) exceed ``budget``."""
    from llmts.errors import LlmtsError

    if budget is not None and plan["total"] > budget:
        raise LlmtsError(
            f"train.flop_budget: planned {plan['total']:.3e} FLOPs "
            f"(log10 {plan['log10_total']:.3f}) exceed the budget {budget:.3e}; "
            "lower train.max_steps or raise train.flop_budget"
        )


def global_batch(train_cfg: Any, world: int) -> int:
    """Windows per optimizer step: batch_size × grad_accum × processes."""
    return train_cfg.batch_size * train_cfg.grad_accum * world
