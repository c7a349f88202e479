"""Models: Qwen2.5 from the hub (or a local folder), or a Qwen2-architecture model built in code
with seeded random weights; LoRA via peft and the report's trainable lm_head bias.

The bias: Qwen2.5-0.5B ties lm_head to the input embeddings, so the head has no weight of its own
to train. A zero-initialised ``bias`` Parameter is added to the existing ``lm_head`` Linear; its
weight stays the very same tensor as the embeddings (no 136M-parameter copy, unlike peft's
``modules_to_save``), and ``nn.Linear.forward`` adds the bias for free.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from llmts.config import LoraConfig, ModelConfig
from llmts.errors import LlmtsError, first_line

if TYPE_CHECKING:
    from transformers import PreTrainedModel

log = logging.getLogger(__name__)
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
TRAINABLE_FILE = "trainable.safetensors"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def qwen2_config(cfg: ModelConfig):
    """A ``transformers.Qwen2Config`` from the ``model`` group's architecture numbers."""
    from transformers import Qwen2Config

    return Qwen2Config(
        vocab_size=cfg.vocab_size,
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_hidden_layers,
        num_attention_heads=cfg.num_attention_heads,
        num_key_value_heads=cfg.num_key_value_heads,
        max_position_embeddings=cfg.max_position_embeddings,
        rope_theta=cfg.rope_theta,
        tie_word_embeddings=cfg.tie_word_embeddings,
        attn_implementation=cfg.attn_implementation,
    )


def load_base_model(cfg: ModelConfig, seed: int, device=None) -> PreTrainedModel:
    """The base causal LM: ``from_pretrained`` for ``source=pretrained``, else random weights
    (built on ``device`` when it is not the CPU)."""
    from transformers import AutoModelForCausalLM

    dtype = DTYPES[cfg.dtype]
    if cfg.source == "random":
        return random_model(cfg, seed, device).to(dtype)
    where = cfg.path or cfg.name
    try:
        return AutoModelForCausalLM.from_pretrained(
            where, dtype=dtype, attn_implementation=cfg.attn_implementation,
            revision=cfg.revision, trust_remote_code=False,
        )
    except (OSError, ValueError) as exc:
        raise LlmtsError(f"model: cannot load '{where}' ({first_line(exc)}); offline? "
                         "try model=tiny, or model.path=/local/folder") from None


def random_model(cfg: ModelConfig, seed: int, device=None) -> PreTrainedModel:
    """A Qwen2 with seeded random weights (transformers' init: matrices ~ N(0, 0.02²), norms 1,
    biases 0). On the CPU (``device`` None or cpu) it is built as always, torch's default init
    pass included: that pass draws from the CPU generator, so skipping it would change every
    weight. On another device see :func:`build_on_device`."""
    from transformers import Qwen2ForCausalLM

    device = torch.device(device or "cpu")
    if device.type != "cpu":
        return build_on_device(cfg, seed, device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Qwen2ForCausalLM(qwen2_config(cfg))


def build_on_device(cfg: ModelConfig, seed: int, device: torch.device) -> PreTrainedModel:
    """The model built on the meta device (no memory, no init), its storage then allocated on
    ``device`` and transformers' init run there once, from ``seed`` (no CPU pass and no copy:
    the 0.5B architecture took ~10 s of CPU init before). The weights come from ``device``'s
    generator, so they are seeded but not the CPU-built ones."""
    from transformers import Qwen2ForCausalLM

    forked = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=forked, device_type=device.type):
        torch.manual_seed(seed)
        with torch.device("meta"):
            model = Qwen2ForCausalLM(qwen2_config(cfg))
        model.to_empty(device=device)
        model.init_weights()  # every weight and buffer (RoPE frequencies); re-ties lm_head
    return model


class BiasedHead(nn.Linear):
    """A Linear whose bias may be kept in another dtype than its weight: the trainable lm_head
    bias stays fp32 (optimizer precision) on a bf16 base, and is cast to the weight's dtype in
    the forward, so the model also runs without autocast."""

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias.to(self.weight.dtype)
        return nn.functional.linear(hidden, self.weight, bias)


def add_lm_head_bias(model: PreTrainedModel) -> nn.Parameter:
    """Give the (possibly tied) ``lm_head`` a trainable fp32 zero bias without untying its
    weight."""
    head = model.get_output_embeddings()
    head = getattr(head, "head", head)  # a NumericHead wraps the real Linear
    if head.bias is None:
        head.bias = nn.Parameter(torch.zeros(head.out_features, dtype=torch.float32,
                                             device=head.weight.device))
        if type(head) is nn.Linear:  # same object (tied weight, names), dtype-safe forward
            head.__class__ = BiasedHead
    return head.bias


class NumericHead(nn.Module):
    """``model.output_vocab=numeric``: lm_head restricted to the codec's tokens (+ EOS, pad).

    Logits are computed for those k rows only (k ≈ 16 instead of V = 151,936: the head was ~30%
    of Qwen2.5-0.5B's forward FLOPs) and returned in a full-V tensor holding −inf elsewhere, so
    ``generate`` and token IDs are unchanged; under constrained decoding the greedy forecasts are
    identical to the full head's. The training loss is the cross-entropy of a softmax over the k
    tokens, which is lower than the full-vocabulary loss (the mass the full model puts on
    non-numeric tokens is gone). The wrapped Linear keeps its (tied) weight and bias.
    """

    def __init__(self, head: nn.Linear, token_ids: list[int]):
        super().__init__()
        self.head = head
        self.out_features = head.out_features
        self.register_buffer("ids", torch.tensor(sorted(set(token_ids))), persistent=False)
        index = torch.full((head.out_features,), -100, dtype=torch.long)
        index[self.ids] = torch.arange(len(self.ids))
        self.register_buffer("index", index, persistent=False)

    def subset_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        weight = self.head.weight[self.ids]
        bias = None if self.head.bias is None else self.head.bias[self.ids].to(weight.dtype)
        return nn.functional.linear(hidden, weight, bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        sub = self.subset_logits(hidden)
        out = sub.new_full((*sub.shape[:-1], self.out_features), float("-inf"))
        out[..., self.ids] = sub
        return out


def restrict_output_vocab(model: PreTrainedModel, token_ids: list[int]) -> None:
    model.set_output_embeddings(NumericHead(model.get_output_embeddings(), token_ids))


def numeric_token_ids(tokenizer) -> list[int]:
    from llmts.decoding import grammar_token_ids

    return [*grammar_token_ids(tokenizer).values(), tokenizer.eos_token_id, tokenizer.pad_token_id]


def build_model(model_cfg: ModelConfig, lora_cfg: LoraConfig, seed: int,
                tokenizer=None, device=None) -> nn.Module:
    """Base model + (LoRA adapters on ``target_modules``, all base weights frozen | full
    fine-tuning) + optionally the trainable lm_head bias (+ the numeric-only head). A random
    base is built on ``device`` directly; move the result there (a pretrained one loads on CPU)."""
    model = load_base_model(model_cfg, seed, device)
    if model_cfg.output_vocab == "numeric":
        restrict_output_vocab(model, numeric_token_ids(tokenizer))
    if lora_cfg.enabled:
        from peft import LoraConfig as PeftLoraConfig
        from peft import get_peft_model

        peft_cfg = PeftLoraConfig(
            r=lora_cfg.r, lora_alpha=lora_cfg.lora_alpha, lora_dropout=lora_cfg.lora_dropout,
            target_modules=list(lora_cfg.target_modules), bias="none", task_type="CAUSAL_LM",
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 1)
            model = get_peft_model(model, peft_cfg)
    if lora_cfg.lm_head_bias:  # after peft, which would freeze it
        add_lm_head_bias(model)
    trainable, total = count_parameters(model)
    log.info("trainable parameters: %s of %s (%.4f%%)", f"{trainable:,}", f"{total:,}",
             100 * trainable / max(total, 1))
    return model


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts; tied tensors are counted once (``parameters()``
    yields a shared tensor once)."""
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every trainable tensor by name: LoRA A/B, the lm_head bias, or all weights (full FT)."""
    return {n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad}


def save_trainable(model: nn.Module, folder: Path) -> None:
    """``trainable.safetensors`` (what llmts reloads) and, for LoRA, ``adapter/`` in peft's format."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    save_file(trainable_state(model), str(folder / TRAINABLE_FILE))
    if hasattr(model, "peft_config"):
        model.save_pretrained(str(folder / "adapter"))


def load_trainable(model: nn.Module, folder: Path) -> None:
    """Load ``trainable.safetensors`` into ``model``; names and shapes must match exactly."""
    from safetensors.torch import load_file

    file = Path(folder) / TRAINABLE_FILE
    try:
        state = load_file(str(file))
    except FileNotFoundError:
        raise LlmtsError(f"checkpoint {folder}: no {TRAINABLE_FILE}") from None
    except Exception as exc:  # safetensors raises its own error types for damaged files
        raise LlmtsError(f"checkpoint {file}: unreadable ({type(exc).__name__}: {exc})") from None
    params = dict(model.named_parameters())
    expected = {n for n, p in params.items() if p.requires_grad}
    if set(state) != expected:
        missing, extra = sorted(expected - set(state))[:3], sorted(set(state) - expected)[:3]
        raise LlmtsError(f"checkpoint {file} does not match this model/lora config "
                         f"(missing {missing}, unexpected {extra})")
    with torch.no_grad():
        for name, tensor in state.items():
            if params[name].shape != tensor.shape:
                raise LlmtsError(f"checkpoint {file}: {name} has shape {tuple(tensor.shape)}, "
                                 f"model expects {tuple(params[name].shape)}")
            params[name].copy_(tensor)
