"""Models: Qwen2.5 from the hub (or a local folder), or a Qwen2-architecture model built in code
with seeded random weights; LoRA via peft and the study's trainable lm_head bias.

The bias: Qwen2.5-0.5B ties lm_head to the input embeddings, so the head has no weight of its own
to train. A zero-initialised ``bias`` Parameter is added to the existing ``lm_head`` Linear; its
weight stays the very same tensor as the embeddings (no 136M-parameter copy, unlike peft's
``modules_to_save``), and ``nn.Linear.forward`` adds the bias for free.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from llmts.config.schema import LoraConfig, ModelConfig
from llmts.errors import LlmtsError, first_line

if TYPE_CHECKING:
    from transformers import PreTrainedModel

    from llmts.codec.codec import Codec

log = logging.getLogger(__name__)


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
        attn_implementation=str(cfg.attn_implementation),
    )


def resolve_dtype(name: str, lora: bool) -> torch.dtype:
    """``model.dtype`` as a torch dtype; ``auto``: bf16 for a frozen (LoRA) base on a GPU with
    bf16, fp32 otherwise (full fine-tuning keeps fp32 master weights; CPUs compute fp32)."""
    if name != "auto":
        return getattr(torch, str(name))  # model.dtype's choices are torch dtype names
    gpu_bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return torch.bfloat16 if lora and gpu_bf16 else torch.float32


def load_base_model(
    cfg: ModelConfig, seed: int, lora: bool = False, device=None
) -> PreTrainedModel:
    """The base causal LM: ``from_pretrained`` for ``source=pretrained``, else random weights
    (built on ``device`` when it is not the CPU); in ``model.dtype`` (``auto`` resolved for a
    LoRA base when ``lora``)."""
    from safetensors import SafetensorError
    from transformers import AutoModelForCausalLM

    dtype = resolve_dtype(cfg.dtype, lora)
    if cfg.source == "random":
        return random_model(cfg, seed, device).to(dtype)
    where = cfg.path or cfg.name
    try:
        return AutoModelForCausalLM.from_pretrained(
            where,
            dtype=dtype,
            attn_implementation=str(cfg.attn_implementation),
            revision=cfg.revision,
            trust_remote_code=False,
        )
    except SafetensorError as exc:  # a damaged or truncated weights file
        files = sorted(Path(where).expanduser().glob("*.safetensors")) or [Path(where)]
        raise LlmtsError(
            f"model: cannot read the weights {', '.join(map(str, files))} "
            f"({first_line(exc)}): the file is damaged; restore or re-download "
            "it"
        ) from None
    except (OSError, ValueError) as exc:
        raise LlmtsError(
            f"model: cannot load '{where}' ({first_line(exc)}); offline? "
            "try model=tiny, or model.path=/local/folder"
        ) from None


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
    """The lm_head with the study's trainable bias: it shares the (tied) weight Parameter of the
    Linear it replaces, and keeps the bias in fp32 (optimizer precision) even on a bf16 base,
    casting it to the weight's dtype in the forward, so the model also runs without autocast."""

    @classmethod
    def sharing(cls, linear: nn.Linear) -> BiasedHead:
        """A BiasedHead on ``linear``'s very weight tensor (no copy) with a zero fp32 bias."""
        head = cls(linear.in_features, linear.out_features, bias=False, device="meta")
        head.weight = linear.weight
        head.bias = nn.Parameter(
            torch.zeros(linear.out_features, dtype=torch.float32, device=linear.weight.device)
        )
        return head

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(hidden, self.weight, self.bias.to(self.weight.dtype))


def add_lm_head_bias(model: PreTrainedModel) -> nn.Parameter:
    """Give the (possibly tied) ``lm_head`` a trainable fp32 zero bias without untying its
    weight: the head becomes a :class:`BiasedHead` (inside a :class:`NumericHead`, if any)."""
    head = model.get_output_embeddings()
    inner = head.head if isinstance(head, NumericHead) else head
    if isinstance(inner, BiasedHead):
        return inner.bias
    if inner.bias is not None:
        raise LlmtsError("model: lora.lm_head_bias needs an lm_head without a bias of its own")
    biased = BiasedHead.sharing(inner)
    if isinstance(head, NumericHead):
        head.head = biased
    else:
        model.set_output_embeddings(biased)
    return biased.bias


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
        return column_logits(self.head, hidden, self.ids)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        sub = self.subset_logits(hidden)
        out = sub.new_full((*sub.shape[:-1], self.out_features), float("-inf"))
        out[..., self.ids] = sub
        return out


def column_logits(head: nn.Module, hidden: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
    """Logits of the output head's rows ``columns`` only, ``hidden @ W[columns]ᵀ + b[columns]``
    (the full vocabulary's logits are never formed); ``head``: the model's output Linear or a
    :class:`NumericHead` around it."""
    linear = head.head if isinstance(head, NumericHead) else head
    weight = linear.weight[columns]
    bias = None if linear.bias is None else linear.bias[columns].to(weight.dtype)
    return nn.functional.linear(hidden.to(weight.dtype), weight, bias)


def restrict_output_vocab(model: PreTrainedModel, token_ids: list[int]) -> None:
    model.set_output_embeddings(NumericHead(model.get_output_embeddings(), token_ids))


def numeric_token_ids(codec: Codec) -> list[int]:
    """The codec's token IDs (digits, separators, sign, the missing field's) + EOS and pad."""
    tok = codec.tokenizer
    return [*codec.token_ids(), tok.eos_token_id, tok.pad_token_id]


def build_model(
    model_cfg: ModelConfig, lora_cfg: LoraConfig, seed: int, codec: Codec | None = None, device=None
) -> nn.Module:
    """Base model + (LoRA adapters on ``target_modules``, all base weights frozen | full
    fine-tuning) + optionally the trainable lm_head bias (+ with ``model.output_vocab=numeric``
    the numeric-only head over ``codec``'s tokens). A random base is built on ``device``
    directly; move the result there (a pretrained one loads on CPU)."""
    model = load_base_model(model_cfg, seed, lora_cfg.enabled, device)
    if model_cfg.output_vocab == "numeric":
        if codec is None:
            raise ValueError("build_model: model.output_vocab=numeric needs the run's codec")
        restrict_output_vocab(model, numeric_token_ids(codec))
    if lora_cfg.enabled:
        from peft import LoraConfig as PeftLoraConfig
        from peft import get_peft_model

        peft_cfg = PeftLoraConfig(
            r=lora_cfg.r,
            lora_alpha=lora_cfg.lora_alpha,
            lora_dropout=lora_cfg.lora_dropout,
            target_modules=list(lora_cfg.target_modules),
            bias="none",
            task_type="CAUSAL_LM",
        )
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            # peft reads transformers' deprecated ``is_gradient_checkpointing`` alias while
            # wrapping (not our call to change); silence that one FutureWarning here only.
            warnings.filterwarnings(
                "ignore",
                message="`is_gradient_checkpointing` is deprecated",
                category=FutureWarning,
            )
            torch.manual_seed(seed + 1)
            model = get_peft_model(model, peft_cfg)
    if lora_cfg.lm_head_bias:  # after peft, which would freeze it
        add_lm_head_bias(model)
    trainable, total = count_parameters(model)
    log.info(
        "trainable parameters: %s of %s (%.4f%%)",
        f"{trainable:,}",
        f"{total:,}",
        100 * trainable / max(total, 1),
    )
    return model


def base_model(model: nn.Module) -> nn.Module:
    """The ``PreTrainedModel`` that runs the forward: a peft model's base (its LoRA layers are
    injected in place, so calling the base skips only peft's wrapper)."""
    from peft import PeftModel

    return model.get_base_model() if isinstance(model, PeftModel) else model


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts; tied tensors are counted once (``parameters()``
    yields a shared tensor once)."""
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)
