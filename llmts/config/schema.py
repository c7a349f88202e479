"""Config schemas: the one source of truth for every key, its type, its allowed values, its
default, its range and its help. YAML under ``conf/`` holds only what differs from these
defaults. Group keys mirror the library each group feeds: ``lora`` → ``peft.LoraConfig``,
``decoding`` → ``transformers.GenerationConfig``, ``optimizer`` → ``torch.optim.AdamW``,
``model`` → ``transformers.Qwen2Config`` (architecture numbers).

Choices are Enum types, so Hydra rejects ``optimizer.schedule=cosin`` at composition naming the
choices; ranges are checked by each group's ``check`` (called by :func:`check` in every entry
point before any heavy work: :func:`llmts.config.preflight.preflight`). Registering these with
Hydra lives in :mod:`llmts.config.compose`, ``--help`` in :mod:`llmts.config.help`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmts.config.choices import (
    BASELINES,
    DEFAULT_BASELINES,
    AttnImplementation,
    CacheImplementation,
    Compile,
    Dtype,
    Engine,
    Kernels,
    LoggerMode,
    LoggerName,
    Missing,
    Objective,
    OutputVocab,
    Point,
    Precision,
    Scale,
    Schedule,
    Select,
    Source,
    SplitBy,
    option,
    require,
)

CONF_DIR = str(Path(__file__).resolve().parents[2] / "conf")


@dataclass
class ModelConfig:
    name: str = option("Qwen/Qwen2.5-0.5B-Instruct", "hub id (source=pretrained) or a label")
    source: Source = option(
        Source.pretrained,
        "pretrained: from_pretrained (any causal LM); random: Qwen2 "
        "architecture built in code with seeded random weights",
    )
    path: str | None = option(None, "local folder with weights (overrides name)")
    tokenizer_path: str | None = option(None, "local tokenizer folder; random models: the tiny one")
    revision: str | None = option(None, "hub revision of weights and tokenizer")
    # The architecture keys build source=random models (a Qwen2Config); their defaults are
    # Qwen2.5-0.5B's. A pretrained model's architecture is its own config.json's.
    vocab_size: int = option(151936, "source=random: architecture (Qwen2Config)")
    hidden_size: int = option(896, "source=random: architecture")
    intermediate_size: int = option(4864, "source=random: architecture")
    num_hidden_layers: int = option(24, "source=random: architecture")
    num_attention_heads: int = option(14, "source=random: architecture")
    num_key_value_heads: int = option(2, "source=random: architecture")
    max_position_embeddings: int = option(32768, "source=random: architecture")
    rope_theta: float = option(1000000.0, "source=random: architecture")
    tie_word_embeddings: bool = option(True, "source=random: architecture")
    dtype: Dtype = option(
        Dtype.auto,
        "weights' dtype; auto: a LoRA base in bf16 on a bf16 GPU "
        "(LoRA A/B and head bias fp32), else fp32. Forecasts run in it",
    )
    attn_implementation: AttnImplementation = option(AttnImplementation.sdpa, "attention kernels")
    output_vocab: OutputVocab = option(
        OutputVocab.full, "numeric: lm_head keeps only the codec's tokens (+ EOS, pad)"
    )
    note: str = option("", "free text shown in logs")

    @staticmethod
    def check(c: Any) -> None:
        for key in (
            "vocab_size",
            "hidden_size",
            "intermediate_size",
            "num_hidden_layers",
            "num_attention_heads",
            "num_key_value_heads",
            "max_position_embeddings",
        ):
            require(c[key] > 0, f"model.{key}", c[key], "must be > 0")
        require(
            c.num_attention_heads % c.num_key_value_heads == 0,
            "model.num_key_value_heads",
            c.num_key_value_heads,
            "must divide model.num_attention_heads",
        )


@dataclass
class LoraConfig:
    enabled: bool = option(True, "false (lora=none): full fine-tuning of every weight")
    r: int = option(8, "LoRA rank")
    lora_alpha: float = option(16.0, "scaling = lora_alpha / r")
    lora_dropout: float = option(0.0, "dropout on the LoRA input, in [0, 1)")
    target_modules: list[str] | None = option(
        None,
        "linear layers that get adapters, by name (peft's matching; all-linear: every one); "
        "null: q_proj, v_proj where the model has them, else its attention projections",
    )
    lm_head_bias: bool = option(True, "the study's trainable output bias (tied head stays shared)")

    @staticmethod
    def check(c: Any) -> None:
        if not c.enabled:
            return
        require(c.r >= 1, "lora.r", c.r, "must be >= 1")
        require(
            c.target_modules is None or len(c.target_modules) > 0,
            "lora.target_modules",
            [],
            "must name at least one (null: the architecture's default)",
        )
        require(0 <= c.lora_dropout < 1, "lora.lora_dropout", c.lora_dropout, "must be in [0, 1)")


@dataclass
class DataConfig:
    path: str | None = option(
        None, "HDF5 with `trajectories` (N,T,D) and `time` (T,); null: simulated Lotka-Volterra"
    )
    cache_dir: str | None = option(None, "data cache; null: $LLMTS_CACHE or ~/.cache/llmts")
    num_series: int = option(1000, "simulated: series")
    num_steps: int = option(100, "simulated: time points per series")
    t_max: float = option(200.0, "simulated: time span")
    variables: list[str] | None = option(None, "names of the D variables; null: from the file")
    time_column: str | None = option(
        None,
        "table column of times or dates; null: time, timestamp, ds, date or datetime, else "
        "a column of dates",
    )
    id_column: str | None = option(
        None, "long tables: the column naming each series; null: id, unique_id or item_id"
    )
    percentile: float = option(95.0, "LLMTIME scale alpha = this percentile of |x|, in (0, 100]")
    precision: int = option(2, "decimals kept after scaling")
    context_length: int = option(512, "training window, tokens")
    stride: int | None = option(None, "window stride, tokens; null: context_length // 2")
    split: SplitBy = option(
        SplitBy.series,
        "series: whole series to train/val/test (the study); "
        "time: every series cut in time, a rolling-origin backtest on its end",
    )
    train_frac: float = option(
        0.72,
        "share of the series (split=series; the study: 900 "
        "train+val / 100 test, then 80/20) or of each series' steps (time)",
    )
    val_frac: float = option(0.18, "validation share")
    test_frac: float = option(0.10, "test share")
    scale: Scale = option(
        Scale.joint,
        "joint: one α per series (the study); per_variable: α_d "
        "per variable (variables of different magnitude); affine: LLMTIME's "
        "shifted scaler per variable, every written value >= 0 (negative data)",
    )
    affine_beta: float = option(
        0.3, "scale=affine: offset = min - beta * (max - min) of the context, per variable; >= 0"
    )
    missing: Missing = option(
        Missing.error,
        "error: a NaN in the data stops the run; encode: gaps "
        "written as NaN, kept out of α, baselines and metrics",
    )
    mask_prob: float = option(
        0.0,
        "missing=encode: each training value knocked out with this "
        "probability (teaches the model gaps)",
    )
    missing_frac: float = option(0.0, "simulated data: share of values knocked out at random")
    digit_separator: str = option(
        "auto",
        "written before every codec character: '' or ' ' (LLMTIME's spaced digits); "
        "auto: '' where every digit is its own token, ' ' where the tokenizer merges digits",
    )

    @staticmethod
    def check(c: Any) -> None:
        fracs = (c.train_frac, c.val_frac, c.test_frac)
        require(
            all(f >= 0 for f in fracs) and abs(sum(fracs) - 1) <= 1e-6,
            "data.train_frac/val_frac/test_frac",
            fracs,
            "must be >= 0 and sum to 1",
        )
        require(0 < c.percentile <= 100, "data.percentile", c.percentile, "must be in (0, 100]")
        require(c.affine_beta >= 0, "data.affine_beta", c.affine_beta, "must be >= 0")
        require(c.precision >= 0, "data.precision", c.precision, "must be >= 0")
        require(c.context_length > 0, "data.context_length", c.context_length, "must be > 0")
        if c.stride is not None:
            require(
                0 < c.stride <= c.context_length,
                "data.stride",
                c.stride,
                "must be in 1..data.context_length",
            )
        for key in ("num_series", "num_steps"):
            require(c[key] > 0, f"data.{key}", c[key], "must be > 0")
        for key in ("mask_prob", "missing_frac"):
            require(0 <= c[key] < 1, f"data.{key}", c[key], "must be in [0, 1)")
            require(
                c[key] == 0 or gaps_allowed(c),
                f"data.{key}",
                c[key],
                "needs data.missing=encode (gaps written as NaN)",
            )
        require(
            c.digit_separator in ("auto", "", " "),
            "data.digit_separator",
            c.digit_separator,
            "must be auto, '' or ' '",
        )


def gaps_allowed(data: Any) -> bool:
    """The missing-value policy of a data config (``DataConfig`` or its composed node), said
    once: gaps (NaN) are read, written as ``NaN`` and kept out of α, baselines and metrics
    (``data.missing=encode``), else a NaN stops the run."""
    return data.missing == "encode"


@dataclass
class DecodingConfig:
    do_sample: bool = option(False, "sample (true) or greedy (false)")
    temperature: float = option(1.0, "sampling temperature, > 0")
    top_k: int = option(0, "keep the k most likely tokens; 0: all")
    top_p: float = option(1.0, "nucleus: keep the smallest set above this probability, in (0, 1]")
    num_samples: int = option(1, "forecasts per series when sampling; point forecast = eval.point")
    constrained: bool = option(True, "tokens follow the codec's grammar position by position")
    max_int_digits: int | None = option(
        None, "integer digits allowed; null: as many as the largest scaled context value has"
    )
    engine: Engine = option(
        Engine.llmts,
        "llmts: llmts's fixed-shape decode loop; hf: transformers' "
        "generate (unconstrained decoding always uses generate)",
    )
    cuda_graphs: bool = option(True, "engine=llmts on CUDA: capture the decode step once")
    cache_implementation: CacheImplementation = option(
        CacheImplementation.static, "engine=hf: preallocated or growing KV cache"
    )

    @staticmethod
    def check(c: Any) -> None:
        require(c.num_samples > 0, "decoding.num_samples", c.num_samples, "must be > 0")
        require(
            not c.do_sample or c.temperature > 0,
            "decoding.temperature",
            c.temperature,
            "must be > 0 when sampling",
        )
        require(0 < c.top_p <= 1, "decoding.top_p", c.top_p, "must be in (0, 1]")
        require(c.top_k >= 0, "decoding.top_k", c.top_k, "must be >= 0 (0: off)")
        if c.max_int_digits is not None:
            require(
                c.max_int_digits > 0,
                "decoding.max_int_digits",
                c.max_int_digits,
                "must be > 0 (or null)",
            )


@dataclass
class OptimizerConfig:
    lr: float = option(1e-4, "AdamW learning rate (peak, after warmup)")
    weight_decay: float = option(1e-4, "AdamW weight decay")
    betas: list[float] = option([0.9, 0.999], "AdamW betas")
    eps: float = option(1e-8, "AdamW eps")
    schedule: Schedule = option(Schedule.constant, "after warmup: constant, cosine or linear to 0")
    warmup_steps: int = option(0, "linear warmup steps")
    max_grad_norm: float | None = option(1.0, "gradient clipping; 0 or null: none")

    @staticmethod
    def check(c: Any) -> None:
        require(c.lr > 0, "optimizer.lr", c.lr, "must be > 0")
        require(
            len(c.betas) == 2 and all(0 <= b < 1 for b in c.betas),
            "optimizer.betas",
            list(c.betas),
            "must be two values in [0, 1)",
        )
        for key in ("weight_decay", "eps", "warmup_steps"):
            require(c[key] >= 0, f"optimizer.{key}", c[key], "must be >= 0")
        if c.max_grad_norm is not None:
            require(
                c.max_grad_norm >= 0,
                "optimizer.max_grad_norm",
                c.max_grad_norm,
                "must be >= 0 (0 or null: no clipping)",
            )


@dataclass
class TrainConfig:
    max_steps: int = option(2000, "optimizer steps; 0: evaluate only")
    batch_size: int = option(4, "windows per micro-batch and process")
    grad_accum: int = option(1, "micro-batches per optimizer step")
    eval_every: int = option(1000, "validation loss every N steps (and at step 0); 0: never")
    val_batches: int | None = option(None, "cap on validation batches; null: the whole split")
    save_every: int = option(1000, "checkpoint every N steps (and at the end)")
    select: Select = option(
        Select.best_val,
        "the weights evaluated and served: best_val, the checkpoint of the lowest validation "
        "loss (saved when it is reached); last, the final step (the study). A run that never "
        "validates (eval_every=0) uses its last step",
    )
    early_stopping: int | None = option(
        None, "stop after this many validations without a lower loss; null: off"
    )
    log_every: int = option(10, "log (and read loss back from the device) every N steps")
    resume: str | None = option(
        None, "auto (newest checkpoint of this run dir) or a checkpoints/step-N path"
    )
    precision: Precision = option(
        Precision.auto, "autocast: auto (bf16 on a GPU that has it, else fp32), no, bf16 or fp16"
    )
    flop_budget: float | None = option(
        1e17, "training FLOPs allowed (study accounting); null: no limit"
    )
    chunked_loss: bool = option(True, "cross-entropy without materialising full fp32 logits")
    compile: Compile = option(
        Compile.none,
        "none | regions: torch.compile each decoder layer "
        "(accelerate's compile_regions) | step: the loss forward+backward "
        "as one graph (CUDA graphs on CUDA)",
    )
    kernels: Kernels = option(
        Kernels.none,
        "liger: Liger's Triton RMSNorm/RoPE/SwiGLU (CUDA, optional; needs liger-kernel installed)",
    )
    deterministic: bool = option(
        True,
        "torch.use_deterministic_algorithms while training (warn_only): the same seed gives the "
        "same weights on one machine, compiled too (compiled CPU kernels otherwise sum the "
        "embedding's gradient with atomic adds, in an order that varies between runs)",
    )

    @staticmethod
    def check(c: Any) -> None:
        require(c.max_steps >= 0, "train.max_steps", c.max_steps, "must be >= 0")
        for key in ("batch_size", "grad_accum", "log_every", "save_every"):
            require(c[key] > 0, f"train.{key}", c[key], "must be > 0")
        require(c.eval_every >= 0, "train.eval_every", c.eval_every, "must be >= 0 (0: never)")
        if c.val_batches is not None:
            require(c.val_batches > 0, "train.val_batches", c.val_batches, "must be > 0")
        if c.early_stopping is not None:
            require(c.early_stopping > 0, "train.early_stopping", c.early_stopping, "must be > 0")
            require(
                c.eval_every > 0,
                "train.early_stopping",
                c.early_stopping,
                "needs validation (train.eval_every > 0)",
            )
        if c.flop_budget is not None:
            require(c.flop_budget > 0, "train.flop_budget", c.flop_budget, "must be > 0")


@dataclass
class EvalConfig:
    context_steps: int | None = option(51, "steps in; null: as many as fit in data.context_length")
    horizon: int = option(20, "steps out")
    origins: int | None = option(
        None,
        "data.split=time: forecast origins per series in its test part; null: every one that fits",
    )
    origin_stride: int | None = option(
        None,
        "data.split=time: steps between origins; null: eval.horizon (windows that do not overlap)",
    )
    season_length: int | None = option(
        None,
        "steps per season (MASE's scale, seasonal baselines); null: from the dates' frequency "
        "(12 monthly, 4 quarterly, 7 daily, 24 hourly, ...; 1 unknown)",
    )
    num_series: int | None = option(None, "first K test series; null: all")
    batch_size: int = option(256, "rows (series x samples) decoded together")
    point: Point = option(Point.median, "point forecast over samples")
    baselines: Any = option(
        list(DEFAULT_BASELINES),
        f"baselines scored beside the model, a list of {'|'.join(BASELINES)}; "
        "true: this default list, false: none",
    )
    baseline_jobs: int = option(-1, "processes fitting statsforecast's baselines; -1: every core")
    shuffle_context: bool = option(
        False, "ablation: each context's steps permuted (seeded) before the model reads them"
    )
    untrained: bool = option(
        False, "also score the model before training (the study's Table 2 row)"
    )
    plot_series: int = option(5, "series plotted")
    checkpoint: str | None = option(None, "evaluate this saved checkpoint")
    bootstrap: int = option(1000, "resamples of the test series for every 95% interval; 0: none")
    bootstrap_seed: int = option(0, "seeds the resampling (independent of seed)")

    @staticmethod
    def check(c: Any) -> None:
        for key in ("horizon", "batch_size"):
            require(c[key] > 0, f"eval.{key}", c[key], "must be > 0")
        for key in ("context_steps", "num_series", "origins", "origin_stride", "season_length"):
            if c[key] is not None:
                require(c[key] > 0, f"eval.{key}", c[key], "must be > 0 (or null)")
        require(c.plot_series >= 0, "eval.plot_series", c.plot_series, "must be >= 0")
        require(c.bootstrap >= 0, "eval.bootstrap", c.bootstrap, "must be >= 0 (0: no intervals)")
        names = baseline_names(c)
        unknown = [n for n in names if n not in BASELINES]
        require(not unknown, "eval.baselines", unknown, f"unknown: choose from {BASELINES}")
        require(
            c.baseline_jobs >= 1 or c.baseline_jobs == -1,
            "eval.baseline_jobs",
            c.baseline_jobs,
            "must be >= 1 or -1 (every core)",
        )


def baseline_names(c: Any) -> list[str]:
    """``eval.baselines`` as a list of names (true: the default list, false/null: none)."""
    if c.baselines is True:
        return list(DEFAULT_BASELINES)
    if not c.baselines:
        return []
    if isinstance(c.baselines, str):
        return [c.baselines]
    return [str(n) for n in c.baselines]


@dataclass
class LoggerConfig:
    name: LoggerName = option(LoggerName.wandb, "wandb or none")
    project: str = option("llmts", "W&B project")
    entity: str | None = option(None, "W&B entity")
    group: str | None = option(None, "W&B group; null: the sweep dir's name in a multirun")
    tags: list[str] = option([], "W&B tags")
    mode: LoggerMode = option(LoggerMode.auto, "auto: online with an API key, else offline")
    init_timeout: float = option(30.0, "seconds wandb.init may take")

    @staticmethod
    def check(c: Any) -> None:
        require(c.init_timeout > 0, "logger.init_timeout", c.init_timeout, "must be > 0")


GROUPS = {
    "model": ModelConfig,
    "lora": LoraConfig,
    "data": DataConfig,
    "decoding": DecodingConfig,
    "optimizer": OptimizerConfig,
    "train": TrainConfig,
    "eval": EvalConfig,
    "logger": LoggerConfig,
}


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    data: DataConfig = field(default_factory=DataConfig)
    decoding: DecodingConfig = field(default_factory=DecodingConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    seed: int = option(42, "seeds data split, weights, batches and sampling")
    name: str = option("llmts", "run name when nothing else names it")
    objective: Objective = option(
        Objective.val_loss,
        "what the run returns to a sweeper (optuna): "
        "val_loss (final validation loss) or a test metric; its direction "
        "is known (r2 is maximised, the rest minimised)",
    )


def check(cfg: Any) -> None:
    """Every range and cross-key rule of a composed ``Config``: an :class:`LlmtsError` naming the
    first bad key. Each entry point calls this before any heavy work."""
    for name, group in GROUPS.items():
        group.check(cfg[name])
    require(
        not (
            cfg.decoding.engine == "llmts"
            and cfg.decoding.constrained
            and cfg.model.attn_implementation == "flash_attention_2"
        ),
        "model.attn_implementation",
        "flash_attention_2",
        "decoding.engine=llmts needs sdpa or eager attention; set decoding.engine=hf",
    )
    if cfg.train.max_steps > 0:
        require(
            cfg.data.context_length <= cfg.model.max_position_embeddings,
            "data.context_length",
            cfg.data.context_length,
            f"exceeds model.max_position_embeddings={cfg.model.max_position_embeddings}",
        )
