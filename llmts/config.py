"""Config schemas. YAML under ``conf/`` supplies values; these dataclasses make a typo or a wrong
type fail at composition with Hydra's own message. Group keys mirror the library each group feeds:
``lora`` → ``peft.LoraConfig``, ``decoding`` → ``transformers.GenerationConfig``, ``optimizer`` →
``torch.optim.AdamW``, ``model`` → ``transformers.Qwen2Config`` (architecture numbers).

Nothing here touches Hydra's global state until :func:`register_configs` is called.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from omegaconf import MISSING


@dataclass
class ModelConfig:
    name: str = "Qwen/Qwen2.5-0.5B-Instruct"  # hub id (source=pretrained) or a label
    source: str = "pretrained"  # pretrained: from_pretrained | random: Qwen2 built in code
    path: Optional[str] = None  # local folder with weights (overrides name)
    tokenizer_path: Optional[str] = None  # local tokenizer folder; random models default to tiny
    revision: Optional[str] = None
    # Architecture (Qwen2Config names). Used to build random models and by the FLOPs planner,
    # which therefore needs no weights.
    vocab_size: int = 151936
    hidden_size: int = 896
    intermediate_size: int = 4864
    num_hidden_layers: int = 24
    num_attention_heads: int = 14
    num_key_value_heads: int = 2
    max_position_embeddings: int = 32768
    rope_theta: float = 1000000.0
    tie_word_embeddings: bool = True
    dtype: str = "float32"  # weights' dtype when loaded: float32 | bfloat16 | float16
    attn_implementation: str = "sdpa"  # sdpa | eager | flash_attention_2
    output_vocab: str = "full"  # full | numeric: keep only the codec's rows of lm_head (+ EOS)
    note: str = ""


@dataclass
class LoraConfig:
    enabled: bool = True  # false (lora=none): full fine-tuning of every weight
    r: int = 8
    lora_alpha: float = 16.0  # scaling = lora_alpha / r
    lora_dropout: float = 0.0
    target_modules: List[str] = field(default_factory=lambda: ["q_proj", "v_proj"])
    lm_head_bias: bool = True  # the report's trainable output bias (tied head stays shared)


@dataclass
class DataConfig:
    path: Optional[str] = None  # HDF5 with `trajectories` (N,T,D) and `time` (T,); None: simulate
    cache_dir: Optional[str] = None  # simulated data cache; None: $LLMTS_CACHE or ~/.cache/llmts
    num_series: int = 1000  # simulated Lotka-Volterra: series
    num_steps: int = 100  # simulated: time points per series
    t_max: float = 200.0  # simulated: time span
    variables: Optional[List[str]] = None  # names of the D variables; None: from file or var0..
    percentile: float = 95.0  # LLMTIME scale alpha = percentile_p(|x|)
    precision: int = 2  # decimals kept after scaling
    context_length: int = 512  # training window, tokens
    stride: Optional[int] = None  # window stride, tokens; None: context_length // 2
    train_frac: float = 0.72  # report: 900 train+val / 100 test, then 80/20 train/val
    val_frac: float = 0.18
    test_frac: float = 0.10


@dataclass
class DecodingConfig:
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    num_samples: int = 1  # forecasts per series (sampling); point forecast = eval.point over them
    constrained: bool = True  # logits follow the codec's grammar position by position
    max_int_digits: Optional[int] = None  # integer digits allowed when constrained; None: as
    # many as the largest scaled context value has (1 for most series scaled by their p95)
    cache_implementation: str = "static"  # static: preallocated KV cache | dynamic: grown per
    # token (torch.cat each step; measured 1.3x slower for 100 series on CPU, README Performance)


@dataclass
class OptimizerConfig:
    lr: float = 1e-4
    weight_decay: float = 1e-4
    betas: List[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    schedule: str = "constant"  # constant | cosine | linear (after warmup)
    warmup_steps: int = 0
    max_grad_norm: Optional[float] = 1.0


@dataclass
class TrainConfig:
    max_steps: int = 2000
    batch_size: int = 4
    grad_accum: int = 1
    eval_every: int = 1000  # validation loss every N steps (and at step 0)
    val_batches: Optional[int] = None  # cap validation batches; None: whole val split
    save_every: int = 1000
    log_every: int = 10
    resume: Optional[str] = None  # auto | PATH to checkpoints/step-N
    precision: str = "auto"  # auto (bf16 on GPU, fp32 on CPU) | no | bf16 | fp16
    flop_budget: Optional[float] = 1e17  # report accounting; None: no limit
    chunked_loss: bool = True  # cross-entropy without materialising full fp32 logits
    compile: str = "none"  # none | regions: torch.compile each decoder layer (accelerate's
    # compile_regions; true = regions) | step: the loss forward+backward as one graph,
    # fullgraph, mode=reduce-overhead on CUDA (CUDA graphs). none: on CPU a compile costs more
    # than it saves in a demo-sized run (README Performance)
    kernels: str = "none"  # none | liger: Liger's Triton RMSNorm/RoPE/SwiGLU (CUDA; optional)


@dataclass
class EvalConfig:
    context_steps: Optional[int] = 51  # None: as many whole steps as fit in data.context_length
    horizon: int = 20
    num_series: Optional[int] = None  # first K test series; None: all
    batch_size: int = 256  # rows (series x samples) decoded together
    point: str = "median"  # median | mean over samples
    baselines: bool = True
    untrained: bool = False  # also score the model before training (report Table 2's row)
    plot_series: int = 5
    checkpoint: Optional[str] = None  # evaluate this saved checkpoint


@dataclass
class LoggerConfig:
    name: str = "wandb"  # wandb | none
    project: str = "llmts"
    entity: Optional[str] = None
    group: Optional[str] = None  # None: the Hydra sweep dir name in multirun
    tags: List[str] = field(default_factory=list)
    mode: str = "auto"  # auto: online with an API key, else offline | online | offline
    init_timeout: float = 30.0


@dataclass
class Config:
    model: ModelConfig = MISSING
    lora: LoraConfig = MISSING
    data: DataConfig = MISSING
    decoding: DecodingConfig = MISSING
    optimizer: OptimizerConfig = MISSING
    train: TrainConfig = MISSING
    eval: EvalConfig = MISSING
    logger: LoggerConfig = MISSING
    seed: int = 42
    name: str = "llmts"


@dataclass
class BenchConfig:
    """``llmts-bench``: what to time (after ``warmup`` untimed repeats, median of ``repeats``)."""
    sections: List[str] = field(default_factory=lambda: ["train", "eval"])  # in this order
    paths: List[str] = field(default_factory=lambda: ["naive", "fast"])  # + compiled
    train_shapes: List[List[int]] = field(default_factory=lambda: [[4, 512], [32, 512]])  # B, L
    warmup: int = 1
    repeats: int = 3
    eval_series: int = 10
    eval_samples: int = 2  # sampled forecasts per series (batched sampling)
    sequential_series: int = 1  # series timed one at a time; series/s extrapolates from these
    horizon: int = 10
    context_steps: int = 51


@dataclass
class BenchRunConfig(Config):
    """``llmts-bench``'s primary config (``conf/bench.yaml``): a run's groups + ``bench``."""
    bench: BenchConfig = field(default_factory=BenchConfig)


def register_configs() -> None:
    """Register the schemas so that ``conf/config.yaml`` (defaults: ``llmts_schema``) and
    ``conf/bench.yaml`` (``llmts_bench_schema``) are typed."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    store.store(name="llmts_schema", node=Config)
    store.store(name="llmts_bench_schema", node=BenchRunConfig)
