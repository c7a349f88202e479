"""Training-compute accounting for decoder-only causal LMs with LoRA (the study's §3.3, §4.7,
§4.8), from each model's own config: the study's formulas generalised to the layouts in
:data:`LAYOUTS` (query and key/value widths, gated or plain MLPs, fused projections); any other
layout is counted by FlopCounterMode on the meta device.

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

from llmts.model.layout import dims, known, layer_linears, meta_model, model_type

log = logging.getLogger(__name__)


def forward_breakdown(
    arch: Any, batch: int, seq_len: int, *, gqa: bool = False, rms_alpha: float = 4.0
) -> dict[str, float]:
    """Forward FLOPs by component (whole model, all N layers), in FLOPs.

    * ``embedding`` = 0 (a table lookup)
    * ``norms`` = (2N + 1)·α·B·L·d (two norms per layer plus the final one)
    * ``attn_proj`` = N·Σ 2BL·d_in·d_out over the attention linears; for Qwen2 2·2BLd·q
      (q, o) + 2·2BLd·w_kv (k, v), w_kv = q (the study) or h_kv·d_head (``gqa=True``);
      with q = w_kv = d this is the study's 8BLd²
    * ``attn_scores`` = N·4BL²·q (QKᵀ and AV, full L², no causal halving; unchanged by GQA
      because every query head still attends over L keys of width d_head)
    * ``mlp_proj`` = N·Σ 2BL·d_in·d_out over the MLP linears: 6BLd·d_ff gated (gate, up,
      down: SwiGLU/GeGLU), 4BLd·d_ff plain (GPT-2, GPT-NeoX)
    * ``mlp_act`` = N·14BL·d_ff (the study's activation and gating constant)
    * ``positional`` = B·L·d (the study's RoPE term); ``lm_head`` = 2BLdV (tied or not)
    """
    d, d_ff, n, v, _, _, q = dims(arch)
    bl = float(batch) * float(seq_len)  # floats: no integer overflow surprises, exact to 2^53
    linears = layer_linears(arch, gqa)
    proj = {kind: sum(2 * bl * i * o for _, k, i, o in linears if k == kind) for kind in GATES}
    return {
        "embedding": 0.0,
        "norms": (2 * n + 1) * rms_alpha * bl * d,
        "attn_proj": n * proj["attn"],
        "attn_scores": n * 4 * bl * seq_len * q,
        "mlp_proj": n * proj["mlp"],
        "mlp_act": n * 14 * bl * d_ff,
        "positional": bl * d,
        "lm_head": 2 * bl * d * v,
    }


GATES = ("attn", "mlp")


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
    arch: Any, batch: int, seq_len: int, r: int, target_modules: Iterable[str] | str | None
) -> float:
    """Extra FLOPs per training step from LoRA adapters (the study's §4.7):

    N · Σ_targets 6·B·L·r·(d_in + d_out)

    (2BLr(d_in+d_out) for x·Aᵀ then ·Bᵀ, times 3 for forward+backward), with the TRUE
    (d_in, d_out) of each layer linear of that name (:func:`layer_linears`; GPT-2's two
    ``c_proj`` both). ``target_modules`` may be PEFT's ``"all-linear"``; None: the
    architecture's default (:func:`llmts.model.build.default_lora_targets`)."""
    from llmts.model.build import default_lora_targets

    linears = layer_linears(arch)
    names = list(dict.fromkeys(name for name, *_ in linears))
    if target_modules is None:
        attention = [name for name, kind, *_ in linears if kind == "attn"]
        target_modules = default_lora_targets(model_type(arch), names, attention)
    if isinstance(target_modules, str):
        target_modules = names if target_modules == "all-linear" else [target_modules]
    total = 0.0
    for name in dict.fromkeys(map(str, target_modules)):  # a repeated name is one adapter
        if name not in names:
            raise ValueError(f"unknown LoRA target {name!r}; known: {', '.join(names)}")
        for other, _, d_in, d_out in linears:
            if other == name:
                total += 6.0 * batch * seq_len * r * (d_in + d_out)
    return int(arch.num_hidden_layers) * total


def architecture(model_cfg: Any) -> Any:
    """The architecture to plan: a ``model`` config section resolved to the model's own
    transformers config (:func:`llmts.model.build.model_config`: ``config.json``, no weights);
    anything else (a transformers config, a namespace of numbers) as it is."""
    if hasattr(model_cfg, "source"):
        from llmts.model.build import model_config

        return model_config(model_cfg)
    return model_cfg


def counted_forward(model: Any, batch: int, seq_len: int) -> float:
    """FlopCounterMode's count of one forward of ``model`` (on the meta device) over B×L
    tokens: its matmuls, the attention scores included (SDPA decomposes to bmm there)."""
    import torch

    ids = torch.zeros(batch, seq_len, dtype=torch.long, device="meta")
    # A prepared 4-D mask: transformers' own mask builder reads values (none on meta).
    mask = torch.ones(batch, 1, seq_len, seq_len, dtype=torch.bool, device="meta")
    with torch.no_grad():
        flops = counted_flops(lambda: model(input_ids=ids, attention_mask=mask, use_cache=False))
    if flops is None:
        from llmts.errors import LlmtsError

        raise LlmtsError(f"FLOPs: this torch cannot count a {model_type(model.config)} model")
    return flops


def counted_lora_step(model: Any, batch: int, seq_len: int, r: int, targets: Any) -> float:
    """:func:`lora_step_flops` over ``model``'s own linear modules (any architecture):
    Σ over the modules peft would adapt of 6·B·L·r·(d_in + d_out)."""
    from llmts.model.build import linear_layers, lora_targets

    names = lora_targets(model, targets)
    layers = linear_layers(model)
    chosen = layers if names == "all-linear" else {n: layers[n] for n in names}
    return sum(
        6.0 * batch * seq_len * r * sum(p.shape)
        for mods in chosen.values()
        for p in (m.weight for m in mods)
    )


def flops_plan(
    model_cfg: Any, lora_cfg: Any, batch_size: int, seq_len: int, steps: int
) -> dict[str, float]:
    """Budget of a training run, in FLOPs.

    Keys: ``forward, step, lora_step, steps, total_base (= steps·step), total_lora
    (= steps·lora_step, 0 when ``lora_cfg.enabled`` is False), total, log10_total`` in the
    study's accounting (Table 13), and the same keys prefixed ``gqa/`` with true k/v widths.
    ``batch_size`` is sequences per optimizer step (micro-batch × gradient accumulation):
    FLOPs are linear in B, so accumulation changes nothing else. The architecture is the
    model's own (:func:`architecture`); one whose layout the accounting does not know is
    counted by FlopCounterMode on the meta device, the same number in both columns.
    """
    arch = architecture(model_cfg)
    enabled = bool(getattr(lora_cfg, "enabled", False))
    targets = getattr(lora_cfg, "target_modules", None) if enabled else None
    if known(arch):
        if enabled:
            _check_targets(arch, targets)
        lora_step = (
            lora_step_flops(arch, batch_size, seq_len, int(lora_cfg.r), targets) if enabled else 0.0
        )
        forwards = {gqa: forward_flops(arch, batch_size, seq_len, gqa=gqa) for gqa in (False, True)}
    else:
        model = meta_model(arch)
        counted = counted_forward(model, batch_size, seq_len)
        forwards = {False: counted, True: counted}
        lora_step = (
            counted_lora_step(model, batch_size, seq_len, int(lora_cfg.r), targets)
            if enabled
            else 0.0
        )
    plan: dict[str, float] = {}
    for prefix, gqa in (("", False), ("gqa/", True)):
        fwd = forwards[gqa]
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


def _check_targets(arch: Any, targets: Any) -> None:
    """One line (as the model build says it) for a LoRA target the architecture lacks."""
    from llmts.model.build import check_lora_targets

    names = list(dict.fromkeys(name for name, *_ in layer_linears(arch)))
    check_lora_targets(targets, names, model_type(arch))


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
