"""Models: any decoder-only causal LM ``AutoModelForCausalLM`` loads, from the hub or a local
folder, or a Qwen2-architecture model built in code with seeded random weights; what each
supports of llmts's speed paths, found once at load (:class:`Capabilities`); its architecture
read from its config (:func:`model_config`); LoRA via peft on the layers that architecture has
(:func:`lora_targets`) and the study's trainable lm_head bias.

The bias: Qwen2.5-0.5B ties lm_head to the input embeddings, so the head has no weight of its own
to train. A zero-initialised ``bias`` Parameter is added to the existing ``lm_head`` Linear; its
weight stays the very same tensor as the embeddings (no 136M-parameter copy, unlike peft's
``modules_to_save``), and ``nn.Linear.forward`` adds the bias for free. An untied head keeps its
own (frozen) weight the same way.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from llmts.codec.tokenizer import hub_ref, require_obtainable
from llmts.config.schema import LoraConfig, ModelConfig
from llmts.errors import LlmtsError, first_line
from llmts.model.layout import known, layer_linears, meta_model, model_type

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


def model_config(cfg: ModelConfig, hub: bool = True):
    """The architecture of the model ``cfg`` names, as its transformers config, without its
    weights: for ``source=random`` the config built from the ``model`` keys; else the
    ``config.json`` of ``model.path``, or of the hub id ``model.name`` (the local hub cache
    first, then the hub). The schema's architecture keys describe its default model,
    Qwen2.5-0.5B-Instruct: that model's config is built from them where its file is not at hand
    (offline, not cached). One line (:class:`LlmtsError`) for a folder or id that holds no
    causal LM. ``hub=False``: None where the config would have to come from the hub. A random
    model with a ``model.path`` has that folder's architecture (random weights of its shape)."""
    if cfg.source == "random" and not cfg.path:
        return qwen2_config(cfg)
    return _pretrained_config(cfg.path, cfg.name, cfg.revision, cfg, hub)


CAUSAL_HEADS = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")  # config.architectures


def _pretrained_config(path, name, revision, cfg, hub: bool = True):
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    where = str(Path(path).expanduser()) if path else name
    try:
        try:
            config = AutoConfig.from_pretrained(where, revision=revision, local_files_only=True)
        except OSError:
            if path is None and name == ModelConfig.name and revision is None:
                return qwen2_config(cfg)  # the default model: its numbers are the schema's
            if not hub and path is None:
                return None
            require_obtainable(where, revision)  # seconds, not the hub client's retries
            config = AutoConfig.from_pretrained(where, revision=revision)
    except (OSError, ValueError, KeyError) as exc:
        raise LlmtsError(
            f"model: cannot read the config of '{hub_ref(where, revision)}' "
            f"({first_line(exc)}); offline? "
            "try model=tiny, or model.path=/local/folder"
        ) from None
    heads = getattr(config, "architectures", None) or ["ForCausalLM"]
    causal = any(a.endswith(CAUSAL_HEADS) for a in heads)
    if config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES or not causal:
        raise LlmtsError(
            f"model: '{where}' holds a {config.model_type} model ({', '.join(heads)}), not a "
            "causal LM "
            "(AutoModelForCausalLM cannot load it)"
        )
    return config


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
        model = random_model(cfg, seed, device).to(dtype)
        capabilities(model)
        return model
    where = cfg.path or cfg.name
    if cfg.path:  # a local folder: one line before loading if it holds no causal LM
        model_config(cfg)
    load = dict(dtype=dtype, revision=cfg.revision, trust_remote_code=False)
    impl = str(cfg.attn_implementation)
    try:
        try:
            model = AutoModelForCausalLM.from_pretrained(where, attn_implementation=impl, **load)
        except ValueError as exc:
            if "does not support an attention implementation" not in str(exc) or impl == "eager":
                raise
            # Some architectures (Gemma 2's soft-capped scores) have no SDPA path.
            log.info("model: %s has no %s attention; using eager attention", where, impl)
            model = AutoModelForCausalLM.from_pretrained(where, attn_implementation="eager", **load)
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
    capabilities(model)  # decided once, here: which of llmts's speed paths the model takes
    return model


@dataclass(frozen=True)
class Capabilities:
    """What a loaded causal LM supports of llmts's architecture-specific speed paths, found
    once at load (:func:`capabilities`); every other model takes the plain path.

    * ``prepared_masks``: its forward takes a dict {layer type: prepared mask} as
      ``attention_mask`` and then builds no mask itself (Qwen2/3, Gemma 2/3 in transformers 5);
      elsewhere a prepared 4-D mask is passed as the tensor itself.
    * ``layer_types``: each layer's attention kind (``full_attention``, ``sliding_attention``);
      ``sliding_window``: the window of the sliding layers, in tokens (None: none).
    * ``attention_backend``: its attention calls go through transformers' ``AttentionInterface``
      (so llmts's shared-prefix decode attention, :mod:`llmts.forecast.engine`, can stand in).
    """

    prepared_masks: bool
    layer_types: tuple[str, ...]
    sliding_window: int | None
    attention_backend: bool

    @property
    def full_attention_only(self) -> bool:
        return set(self.layer_types) == {"full_attention"}

    def masks(self, full, sliding=None):
        """The ``attention_mask`` argument for prepared masks ``full`` (and ``sliding`` for the
        sliding-window layers): a dict where the model takes one, else the tensor itself (a
        model without per-type masks has one kind of layer)."""
        if self.prepared_masks:
            return {kind: sliding if kind == "sliding_attention" else full for kind in self.kinds}
        return sliding if set(self.layer_types) == {"sliding_attention"} else full

    @property
    def kinds(self) -> list[str]:
        return sorted(set(self.layer_types))


def capabilities(model: nn.Module) -> Capabilities:
    """The :class:`Capabilities` of ``model`` (a peft model: of its base), found on the first
    call and kept on the model: later calls (each training or decoding step) only read it."""
    net = base_model(model)
    found = getattr(net, "llmts_capabilities", None)
    if found is None:
        found = _find_capabilities(net)
        net.llmts_capabilities = found
    return found


def _find_capabilities(net: PreTrainedModel) -> Capabilities:
    cfg = net.config
    n = int(cfg.num_hidden_layers)
    window = getattr(cfg, "sliding_window", None)
    types = getattr(cfg, "layer_types", None)
    if not types:  # no per-layer types: one kind, sliding where the config sets a window
        types = ["sliding_attention" if window else "full_attention"] * n
    return Capabilities(
        prepared_masks=_takes_prepared_masks(net, sorted(set(types))),
        layer_types=tuple(types[:n]),
        sliding_window=int(window) if window and "sliding_attention" in types else None,
        attention_backend=bool(getattr(net, "_supports_attention_backend", False)),
    )


@torch.no_grad()
def _takes_prepared_masks(net: PreTrainedModel, kinds: list[str]) -> bool:
    """Whether ``net``'s forward reads a dict {layer type: mask} as its prepared masks: a
    two-token forward given that dict must give the logits of the forward that builds its own
    masks. The dict holds what the model would build: None for SDPA and flash attention (their
    causal kernels), a causal additive mask for eager attention."""
    device = next(net.parameters()).device
    if device.type == "meta":
        return False
    ids = torch.zeros(1, 2, dtype=torch.long, device=device)
    causal = None
    if str(net.config._attn_implementation) == "eager":
        dtype = net.get_input_embeddings().weight.dtype
        allowed = torch.ones(2, 2, dtype=torch.bool, device=device).tril()[None, None]
        zero = torch.zeros((), dtype=dtype, device=device)
        causal = torch.where(allowed, zero, torch.finfo(dtype).min)
    training = net.training
    net.eval()
    try:
        own = net(input_ids=ids, use_cache=False).logits.float()
        given = net(input_ids=ids, attention_mask=dict.fromkeys(kinds, causal), use_cache=False)
        return bool(torch.allclose(own, given.logits.float(), atol=1e-3, rtol=1e-3))
    except (AttributeError, TypeError, ValueError, RuntimeError):
        return False
    finally:
        net.train(training)


def random_model(cfg: ModelConfig, seed: int, device=None) -> PreTrainedModel:
    """Seeded random weights (transformers' init: matrices ~ N(0, 0.02²), norms 1, biases 0) in
    the architecture :func:`model_config` gives: a Qwen2 from the ``model`` keys, or the shape
    of the model in ``model.path``. On the CPU (``device`` None or cpu) it is built as always,
    torch's default init pass included: that pass draws from the CPU generator, so skipping it
    would change every weight. On another device see :func:`build_on_device`."""
    device = torch.device(device or "cpu")
    if device.type != "cpu":
        return build_on_device(cfg, seed, device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM.from_config(model_config(cfg))


def build_on_device(cfg: ModelConfig, seed: int, device: torch.device) -> PreTrainedModel:
    """The model built on the meta device (no memory, no init), its storage then allocated on
    ``device`` and transformers' init run there once, from ``seed`` (no CPU pass and no copy:
    the 0.5B architecture took ~10 s of CPU init before). The weights come from ``device``'s
    generator, so they are seeded but not the CPU-built ones."""
    forked = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=forked, device_type=device.type):
        torch.manual_seed(seed)
        model = meta_model(model_config(cfg))
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

        targets = lora_targets(model, lora_cfg.target_modules)
        peft_cfg = PeftLoraConfig(
            r=lora_cfg.r,
            lora_alpha=lora_cfg.lora_alpha,
            lora_dropout=lora_cfg.lora_dropout,
            target_modules=targets,
            fan_in_fan_out=_transposed(model, targets),
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


def _transposed(model: nn.Module, targets: list[str] | str) -> bool:
    """peft's ``fan_in_fan_out``: the targets are GPT-2-style ``Conv1D`` layers (weight
    stored d_in × d_out)."""
    from transformers.pytorch_utils import Conv1D

    layers = linear_layers(model)
    chosen = layers.values() if targets == "all-linear" else [layers[t] for t in targets]
    return any(isinstance(m, Conv1D) for mods in chosen for m in mods)


STUDY_TARGETS = ["q_proj", "v_proj"]  # the study's LoRA targets, where a model has them


def linear_layers(model: nn.Module) -> dict[str, list[nn.Module]]:
    """The model's linear layers by module name (the last part of the qualified name, as
    peft matches ``target_modules``): ``nn.Linear`` and GPT-2's ``Conv1D``, lm_head left out."""
    from transformers.pytorch_utils import Conv1D

    head = base_model(model).get_output_embeddings()
    found: dict[str, list[nn.Module]] = {}
    for qualified, module in base_model(model).named_modules():
        if isinstance(module, (nn.Linear, Conv1D)) and module is not head and qualified:
            found.setdefault(qualified.rsplit(".", 1)[-1], []).append(module)
    return found


def lora_targets(model: nn.Module, wanted: list[str] | None) -> list[str] | str:
    """The ``target_modules`` for peft: ``wanted`` (checked by :func:`check_lora_targets`;
    ``all-linear`` passes as is) or, for None, :func:`default_lora_targets` of the model."""
    from transformers.pytorch_utils import Conv1D

    names = list(linear_layers(model))
    model_type = str(getattr(base_model(model).config, "model_type", "?"))
    if wanted:
        return check_lora_targets(wanted, names, model_type)
    attention = [
        qualified.rsplit(".", 1)[-1]
        for qualified, module in base_model(model).named_modules()
        if isinstance(module, (nn.Linear, Conv1D))
        and any(part.endswith(("attn", "attention")) for part in qualified.split(".")[:-1])
    ]
    return default_lora_targets(model_type, names, attention)


def check_model(model_cfg: ModelConfig, lora_cfg: LoraConfig) -> None:
    """Before any run starts, from the model's config (a local folder, the hub cache, a random
    model's numbers; a hub model not at hand is checked when its run plans its FLOPs): one line
    for a folder that holds no causal LM, or a ``lora.target_modules`` entry it lacks."""
    arch = model_config(model_cfg, hub=False)
    if arch is None or not lora_cfg.enabled or not lora_cfg.target_modules:
        return

    if known(arch):
        names = list(dict.fromkeys(name for name, *_ in layer_linears(arch)))
    else:
        names = list(linear_layers(meta_model(arch)))
    check_lora_targets(lora_cfg.target_modules, names, model_type(arch))


def check_lora_targets(wanted, names: list[str], model_type: str) -> list[str] | str:
    """``wanted`` as peft's ``target_modules`` (``["all-linear"]`` → ``"all-linear"``); one
    line listing the model's linear layers for a name it lacks."""
    wanted = [str(w) for w in wanted or []]
    if wanted == ["all-linear"]:
        return "all-linear"
    missing = [w for w in wanted if w not in names]
    if missing:
        raise LlmtsError(
            f"lora.target_modules: {', '.join(missing)} not in this {model_type} model; "
            f"its linear layers: {', '.join(names)}"
        )
    return wanted


def default_lora_targets(model_type: str, names: list[str], attention: list[str]) -> list[str]:
    """The LoRA targets for ``lora.target_modules=null``: the study's q_proj/v_proj where the
    model has both; else peft's default for ``model_type`` where the model has those; else
    every linear layer of its attention blocks (``attention``, in order). ``names``: all the
    model's linear layer names."""
    if set(STUDY_TARGETS) <= set(names):
        return list(STUDY_TARGETS)
    from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as PEFT_DEFAULTS

    known = PEFT_DEFAULTS.get(model_type)
    if known and set(known) <= set(names):
        return list(known)
    if not attention:
        raise LlmtsError(
            f"lora.target_modules: no default for this {model_type} model; name some of its "
            f"linear layers: {', '.join(names)}"
        )
    return list(dict.fromkeys(attention))


def base_model(model: nn.Module) -> nn.Module:
    """The ``PreTrainedModel`` that runs the forward: a peft model's base (its LoRA layers are
    injected in place, so calling the base skips only peft's wrapper)."""
    from peft import PeftModel

    return model.get_base_model() if isinstance(model, PeftModel) else model


def base_parameters(model: nn.Module) -> int:
    """The base model's parameter count (tied tensors once), without what llmts added to train
    it: under LoRA every trainable tensor (adapters, the head bias) is an addition."""
    trainable, total = count_parameters(model)
    from peft import PeftModel

    return total - trainable if isinstance(model, PeftModel) else total - _head_bias(model)


def _head_bias(model: nn.Module) -> int:
    head = model.get_output_embeddings()
    inner = head.head if isinstance(head, NumericHead) else head
    return inner.bias.numel() if isinstance(inner, BiasedHead) else 0


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts; tied tensors are counted once (``parameters()``
    yields a shared tensor once)."""
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)
