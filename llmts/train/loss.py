"""The training loss: mean next-token cross-entropy, optionally chunked so the (B, L, V) fp32
logits never exist, and optionally compiled region by region."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint as grad_checkpoint

from llmts.model.build import NumericHead, capabilities

CHUNK = 4096  # positions per chunk of the chunked loss (train.chunked_loss)


class CausalLMLoss(nn.Module):
    """Mean next-token cross-entropy over labelled positions (labels −100 are ignored).

    ``chunk_size`` > 0: logits are formed for ``chunk_size`` positions at a time and recomputed
    in backward (activation checkpointing), so the (B, L, V) fp32 logits are never materialised;
    0: the plain full-logits loss. Every position goes through the chunks (padding included, as
    ignored targets): selecting the labelled ones would give data-dependent shapes, which make
    the host wait for the device every step. ``attention_mask=None``: no padding, or right padding
    labelled −100 (causal attention keeps the real positions from seeing it).
    Wrapping the loss in a Module lets DDP see the whole computation as one forward."""

    def __init__(self, model: nn.Module, chunk_size: int = 0):
        super().__init__()
        self.model = model
        self.chunk_size = chunk_size
        self.causal = causal_only(model)  # found once: each step only passes it on

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None, labels: torch.Tensor
    ) -> torch.Tensor:
        target = labels[:, 1:].reshape(-1)
        # No KV cache in training: one would be filled and dropped every step, and its per-layer
        # state makes each compiled decoder layer (train.compile=regions) recompile.
        kw = dict(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
        if attention_mask is None:
            kw["attention_mask"] = self.causal
        if not self.chunk_size:
            logits = self.model(**kw).logits
            return F.cross_entropy(
                logits[:, :-1].reshape(-1, logits.shape[-1]).float(), target, ignore_index=-100
            )
        hidden = self.model.get_decoder()(**kw).last_hidden_state
        hidden = hidden[:, :-1].reshape(-1, hidden.shape[-1])
        count = (target != -100).sum().clamp(min=1)
        head = self.model.get_output_embeddings()
        logits_of = head
        if isinstance(head, NumericHead):  # numeric-only head: k logits, targets remapped
            logits_of = head.subset_logits
            target = torch.where(target == -100, target, head.index[target.clamp(min=0)])
        total = hidden.new_zeros((), dtype=torch.float32)
        for start in range(0, len(target), self.chunk_size):
            sl = slice(start, start + self.chunk_size)
            total = total + grad_checkpoint(
                _chunk_ce, logits_of, hidden[sl], target[sl], use_reentrant=False
            )
        return total / count


def causal_only(model: nn.Module) -> dict | None:
    """The prepared masks ``{"full_attention": None}`` ("causal, nothing masked") where the
    model takes prepared masks (:class:`llmts.model.build.Capabilities`) and its attention
    implementation reads None that way (SDPA's and flash attention's causal kernels;
    full-attention layers only), so transformers builds no mask: without a KV cache its mask
    builder checks the position IDs for packed sequences, which reads them back to the host every
    step. None elsewhere (the model builds its mask): eager attention needs the mask built, and
    models without prepared masks (Llama, GPT-2, …) take no dict."""
    caps = capabilities(model)
    impl = str(getattr(model.config, "_attn_implementation", None))
    causal_kernel = impl == "sdpa" or impl.startswith("flash_attention")
    fast = caps.prepared_masks and caps.full_attention_only and causal_kernel
    return {"full_attention": None} if fast else None


def make_loss(model: nn.Module, chunked: bool, compiled: str) -> nn.Module:
    """The training loss module; ``compiled`` "regions": each repeated block (decoder
    layer) and the other leaf modules ``torch.compile``-d separately (accelerate's regional
    compilation: one compile serves all layers, so the cold start stays short); "step" is
    applied after Accelerate's prepare (:func:`compile_step`). Parameters stay shared."""
    loss = CausalLMLoss(model, CHUNK if chunked else 0)
    if compiled != "regions":
        return loss
    from accelerate.utils import compile_regions

    return compile_regions(loss)


def compile_step(loss: nn.Module, device_type: str) -> nn.Module:
    """The whole loss forward as one graph (``fullgraph``: a graph break is an error), its
    backward with it through AOTAutograd; on CUDA ``mode="reduce-overhead"`` replays both as
    CUDA graphs: one launch instead of thousands of small kernels per step. Needs fixed
    shapes (B x L)."""
    return torch.compile(
        loss, fullgraph=True, mode="reduce-overhead" if device_type == "cuda" else None
    )


def _chunk_ce(logits_of, hidden: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits_of(hidden).float(), target, reduction="sum", ignore_index=-100)
