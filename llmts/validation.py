"""Config values checked before any heavy work: each mistake is one LlmtsError naming the key.
(Types and unknown keys are already caught by the schema at composition.)"""

from __future__ import annotations

from omegaconf import DictConfig

from llmts.errors import LlmtsError
from llmts.model import DTYPES, LORA_TARGETS

CHOICES = {
    "model.source": ("pretrained", "random"),
    "model.dtype": ("auto", *DTYPES),
    "model.attn_implementation": ("sdpa", "eager", "flash_attention_2"),
    "model.output_vocab": ("full", "numeric"),
    "optimizer.schedule": ("constant", "cosine", "linear"),
    "train.precision": ("auto", "no", "bf16", "fp16"),
    "eval.point": ("median", "mean"),
    "decoding.cache_implementation": ("static", "dynamic"),
    "decoding.engine": ("llmts", "hf"),
    "logger.name": ("wandb", "none"),
    "data.scale": ("joint", "per_variable"),
    "data.missing": ("error", "encode"),
    "logger.mode": ("auto", "online", "offline", "disabled"),
}


def _get(cfg: DictConfig, key: str):
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node


def check_choices(cfg: DictConfig) -> None:
    """Each CHOICES key of the groups ``cfg`` has must hold one of its allowed values."""
    for key, allowed in CHOICES.items():
        if key.split(".")[0] in cfg and _get(cfg, key) not in allowed:
            raise LlmtsError(f"{key}={_get(cfg, key)!r}: must be one of {', '.join(allowed)}")


def check_forecast_config(cfg: DictConfig) -> None:
    """``llmts-forecast``'s keys (the groups' values are checked again once the run's are in)."""
    check_choices(cfg)
    if bool(cfg.run) == bool(cfg.checkpoint):
        raise LlmtsError("give exactly one of run=RUN_DIR or checkpoint=CHECKPOINT_DIR")
    if not cfg.input:
        raise LlmtsError("input=FILE missing (.h5, .csv or .npy)")
    for key in ("horizon", "batch_size"):
        if not cfg[key] > 0:
            raise LlmtsError(f"{key}={cfg[key]}: must be > 0")
    if cfg.point not in ("median", "mean"):
        raise LlmtsError(f"point={cfg.point!r}: must be one of median, mean")
    if not cfg.quantiles or not all(0 < q < 1 for q in cfg.quantiles):
        raise LlmtsError(f"quantiles={list(cfg.quantiles)}: must be levels in (0, 1)")
    if cfg.num_samples is not None and cfg.num_samples < 1:
        raise LlmtsError(f"num_samples={cfg.num_samples}: must be >= 1")


def check_config(cfg: DictConfig) -> None:
    check_choices(cfg)
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
    if cfg.eval.bootstrap < 0:
        raise LlmtsError(f"eval.bootstrap={cfg.eval.bootstrap}: must be >= 0 (0: no intervals)")
    if cfg.train.max_steps < 0:
        raise LlmtsError(f"train.max_steps={cfg.train.max_steps}: must be >= 0")
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
    for key in ("mask_prob", "missing_frac"):
        if not 0 <= d[key] < 1:
            raise LlmtsError(f"data.{key}={d[key]}: must be in [0, 1)")
        if d[key] > 0 and d.missing != "encode":
            raise LlmtsError(f"data.{key}={d[key]} needs data.missing=encode (gaps written as NaN)")
    if d.digit_separator.strip(" ") or len(d.digit_separator) > 1:
        raise LlmtsError(f"data.digit_separator={d.digit_separator!r}: must be '' or ' '")
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
