"""Config values checked before any heavy work: each mistake is one LlmtsError naming the key.
(Types and unknown keys are already caught by the schema at composition.)"""

from __future__ import annotations

from omegaconf import DictConfig

from llmts.errors import LlmtsError
from llmts.loss import COMPILE_MODES
from llmts.model import DTYPES, LORA_TARGETS

CHOICES = {
    "model.source": ("pretrained", "random"),
    "model.dtype": tuple(DTYPES),
    "model.attn_implementation": ("sdpa", "eager", "flash_attention_2"),
    "model.output_vocab": ("full", "numeric"),
    "optimizer.schedule": ("constant", "cosine", "linear"),
    "train.precision": ("auto", "no", "bf16", "fp16"),
    "train.kernels": ("none", "liger"),
    "eval.point": ("median", "mean"),
    "decoding.cache_implementation": ("static", "dynamic"),
    "logger.name": ("wandb", "none"),
    "logger.mode": ("auto", "online", "offline", "disabled"),
}


def _get(cfg: DictConfig, key: str):
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node


def check_config(cfg: DictConfig) -> None:
    for key, allowed in CHOICES.items():
        if _get(cfg, key) not in allowed:
            raise LlmtsError(f"{key}={_get(cfg, key)!r}: must be one of {', '.join(allowed)}")
    positive = {
        "optimizer.lr": cfg.optimizer.lr, "train.batch_size": cfg.train.batch_size,
        "train.grad_accum": cfg.train.grad_accum, "train.log_every": cfg.train.log_every,
        "train.save_every": cfg.train.save_every, "eval.horizon": cfg.eval.horizon,
        "eval.batch_size": cfg.eval.batch_size, "decoding.num_samples": cfg.decoding.num_samples,
        "data.precision": cfg.data.precision + 1,
    }
    for key in ("eval.context_steps", "decoding.max_int_digits"):  # None: derived in code
        if _get(cfg, key) is not None:
            positive[key] = _get(cfg, key)
    for key, value in positive.items():
        if not value > 0:
            raise LlmtsError(f"{key}={value}: must be > 0")
    opt = cfg.optimizer
    if len(opt.betas) != 2 or not all(0 <= b < 1 for b in opt.betas):
        raise LlmtsError(f"optimizer.betas={list(opt.betas)}: must be two values in [0, 1)")
    for key in ("weight_decay", "eps", "warmup_steps"):
        if opt[key] < 0:
            raise LlmtsError(f"optimizer.{key}={opt[key]}: must be >= 0")
    if opt.max_grad_norm is not None and opt.max_grad_norm < 0:
        raise LlmtsError(f"optimizer.max_grad_norm={opt.max_grad_norm}: must be >= 0 "
                         "(0 or null: no clipping)")
    if cfg.train.max_steps < 0:
        raise LlmtsError(f"train.max_steps={cfg.train.max_steps}: must be >= 0")
    if str(cfg.train.compile).lower() not in COMPILE_MODES:
        raise LlmtsError(f"train.compile={cfg.train.compile!r}: must be one of none, regions, step "
                         "(true/false: regions/none)")
    if cfg.lora.enabled:
        _check_lora(cfg)
    _check_data(cfg)
    if cfg.decoding.do_sample and not cfg.decoding.temperature > 0:
        raise LlmtsError(f"decoding.temperature={cfg.decoding.temperature}: must be > 0 when sampling")
    if not 0 < cfg.decoding.top_p <= 1:
        raise LlmtsError(f"decoding.top_p={cfg.decoding.top_p}: must be in (0, 1]")


def _check_lora(cfg: DictConfig) -> None:
    if cfg.lora.r < 1:
        raise LlmtsError(f"lora.r={cfg.lora.r}: must be >= 1")
    unknown = [m for m in cfg.lora.target_modules if m not in LORA_TARGETS]
    if unknown or not cfg.lora.target_modules:
        raise LlmtsError(f"lora.target_modules: unknown {unknown or '(empty)'}; "
                         f"choose from {', '.join(LORA_TARGETS)}")
    if not 0 <= cfg.lora.lora_dropout < 1:
        raise LlmtsError(f"lora.lora_dropout={cfg.lora.lora_dropout}: must be in [0, 1)")


def _check_data(cfg: DictConfig) -> None:
    d = cfg.data
    fracs = (d.train_frac, d.val_frac, d.test_frac)
    if any(f < 0 for f in fracs) or abs(sum(fracs) - 1) > 1e-6:
        raise LlmtsError(f"data.train_frac/val_frac/test_frac = {fracs}: must be >= 0 and sum to 1")
    if not 0 < d.percentile <= 100:
        raise LlmtsError(f"data.percentile={d.percentile}: must be in (0, 100]")
    # One time step of D=1 is at least "d.dd;" = precision + 3 tokens.
    if d.context_length < d.precision + 3:
        raise LlmtsError(f"data.context_length={d.context_length}: too small to hold one time step")
    if d.stride is not None and not 0 < d.stride <= d.context_length:
        raise LlmtsError(f"data.stride={d.stride}: must be in 1..data.context_length")
    if cfg.train.max_steps > 0 and d.context_length > cfg.model.max_position_embeddings:
        raise LlmtsError(f"data.context_length={d.context_length} exceeds "
                         f"model.max_position_embeddings={cfg.model.max_position_embeddings}")
