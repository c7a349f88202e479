"""Pretraining: a Qwen2-architecture model with random weights, every weight trained on the
synthetic corpus (:mod:`llmts.data.synthetic`, no Lotka-Volterra) written in the codec's LLMTIME
text, through the same loop as ``llmts`` (:func:`llmts.train.loop.train`: checkpoints, exact
resume, progress with tokens/s and ETA). The result is a Hugging Face folder — ``config.json``,
``model.safetensors``, the tokenizer's files and a model card ``README.md`` — that
``AutoModelForCausalLM.from_pretrained`` loads as it loads Qwen.
"""

from __future__ import annotations

import logging
import os
import platform
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

log = logging.getLogger(__name__)
CARD = "README.md"


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else ``platform.processor()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """What ran it: the GPU's name, or the CPU's model and torch's thread count."""
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (CUDA)"
    return f"{cpu_name()}, {torch.get_num_threads()} torch threads"


def pretrain(cfg: Any, run_dir: Path, flops_per_step: float) -> dict:
    """Train ``cfg.model`` from random weights on the synthetic corpus for ``cfg.train.max_steps``
    steps and write the Hugging Face folder (``cfg.output``, else ``run_dir/model``). Returns
    the numbers the card states. ``flops_per_step``: the study's accounting of one step."""
    from llmts.codec.codec import Codec
    from llmts.codec.tokenizer import load_tokenizer
    from llmts.codec.windows import training_windows
    from llmts.config.schema import LoraConfig
    from llmts.data import synthetic
    from llmts.model.build import build_model, count_parameters
    from llmts.tracking.tracker import NullTracker
    from llmts.train.loop import batch_rows, evaluate_loss, make_accelerator, train
    from llmts.train.loss import CausalLMLoss

    c = cfg.corpus
    tokenizer = load_tokenizer(cfg.model)
    codec = Codec.build(cfg.data, tokenizer)
    windows = {}
    for part, n in (("train", c.num_series), ("val", c.val_series)):
        corpus = synthetic.generate(
            n,
            c.num_steps,
            cfg.seed,
            c.min_period,
            c.max_period,
            part=int(part == "val"),
            families=c.families,
        )
        windows[part] = training_windows(corpus.series, codec, cfg.data, cfg.seed)
        log.info(
            "corpus %s: %d series %s -> %d windows of %d tokens",
            part,
            len(corpus.series),
            corpus.counts(),
            *windows[part].input_ids.shape,
        )
    full = LoraConfig(enabled=False, lm_head_bias=False)
    model = build_model(cfg.model, full, cfg.seed)
    accelerator = make_accelerator(str(cfg.train.precision))
    t0 = time.perf_counter()
    result = train(
        model,
        windows["train"],
        windows["val"],
        cfg.train,
        cfg.optimizer,
        cfg.seed,
        run_dir,
        NullTracker(),
        accelerator,
        flops_per_step,
    )
    wall = time.perf_counter() - t0
    # The loop's validation reads train.val_batches batches: which windows those are moves it
    # more than a make of the recipe does, so the card also states the whole split's (the
    # loop's own when it read every window at the last step).
    whole_val = result.final_val_loss
    if cfg.train.val_batches or whole_val is None:
        whole_val = evaluate_loss(
            CausalLMLoss(model), windows["val"], cfg.train.batch_size, None, accelerator
        )
    lengths = windows["train"].lengths
    micro = cfg.train.max_steps * cfg.train.grad_accum * accelerator.num_processes
    tokens = sum(
        int(lengths[batch_rows(i, cfg.train.batch_size, len(lengths), cfg.seed)].sum())
        for i in range(micro)
    )
    losses = [r["loss"] for r in result.history if "loss" in r]
    facts = {
        "parameters": count_parameters(model)[1],
        "steps": result.steps,
        "tokens": tokens,
        "train_flops": result.steps * flops_per_step,
        "wall_s": wall,
        "machine": machine(),
        "seed": cfg.seed,
        "final_train_loss": losses[-1] if losses else None,
        "final_val_loss": result.final_val_loss,
        "whole_val_loss": whole_val,
        "val_curve": [(r["step"], r["val_loss"]) for r in result.history if "val_loss" in r],
        "val_windows": len(windows["val"]),
        "train_windows": len(lengths),
        "corpus_series": c.num_series,
    }
    out = Path(cfg.output).expanduser() if cfg.output else run_dir / "model"
    if accelerator.is_main_process:
        write_folder(out, model, tokenizer, model_card(cfg, facts))
        print(
            f"pretrained {facts['parameters']:,} parameters: {result.steps} steps, "
            f"{tokens:,} tokens, {facts['train_flops']:.3e} FLOPs in {wall / 60:.1f} min; "
            f"final loss {facts['final_train_loss']:.4f} "
            f"(val {loss_text(facts['final_val_loss'])}, whole split "
            f"{loss_text(facts['whole_val_loss'])}); wrote {out}"
        )
    return facts


def loss_text(loss: float | None) -> str:
    """A loss in nats per token as the card and the last line print it."""
    return "n/a" if loss is None else f"{loss:.4f}"


def curve_text(curve: list[tuple[int, float]], points: int = 9) -> str:
    """The training's validation losses (nats per token) at up to ``points`` evenly spaced
    evaluations, the first and the last among them: where a remake parts from this make."""
    if not curve:
        return "n/a"
    picks = sorted({round(i * (len(curve) - 1) / max(points - 1, 1)) for i in range(points)})
    return ", ".join(f"{curve[i][0]}: {curve[i][1]:.4f}" for i in picks)


def write_folder(out: Path, model: torch.nn.Module, tokenizer, card: str) -> None:
    """``save_pretrained`` of the model (safetensors) and the tokenizer, and the card, into a
    temporary folder renamed to ``out`` when complete (an interrupted write leaves no folder
    that looks loadable)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".tmp-{out.name}-"))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / CARD).write_text(card)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def model_card(cfg: Any, facts: dict) -> str:
    """The folder's README.md: what the model is, the corpus recipe, how it was trained (steps,
    tokens, FLOPs, wall time, machine, seed, final loss) and the command that remakes it."""
    from llmts.data import synthetic

    m, c, d, t, o = cfg.model, cfg.corpus, cfg.data, cfg.train, cfg.optimizer
    weights = ", ".join(f"{k} {w:g}" for k, w in c.families.items())
    recipe = (synthetic.__doc__ or "").split("\n\n", 1)[-1].strip()
    recipe = re.sub(r":\w+:`~?([\w.]+)`", r"`\1`", recipe).replace("``", "`")  # rST → Markdown
    settings = OmegaConf.to_yaml(
        OmegaConf.masked_copy(
            OmegaConf.create(OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)),
            ["model", "data", "optimizer", "train", "corpus", "seed"],
        )
    )
    return f"""---
library_name: transformers
pipeline_tag: text-generation
tags: [time-series, llmtime, llmts]
---

# {m.name}

A {facts["parameters"]:,}-parameter Qwen2-architecture causal LM ({m.num_hidden_layers} layers,
hidden {m.hidden_size}, MLP {m.intermediate_size}, {m.num_attention_heads} heads /
{m.num_key_value_heads} KV heads, tied embeddings, {m.vocab_size}-token byte-level tokenizer
with Qwen2's IDs for `0-9 , . ; -`), pretrained by `llmts-pretrain` from random weights on
synthetic series written as LLMTIME text (`0.33,0.36;0.26,0.27;`: α = the {d.percentile:g}th
percentile of |x| per series, {d.precision} decimals). It has never seen a Lotka-Volterra
series: it is the base that `llmts model=mini` adapts with LoRA.

## Corpus

{c.num_series} training series (validation: {c.val_series}, drawn independently) of
{c.num_steps} steps, periods {c.min_period:g}-{c.max_period:g} steps, family weights {weights};
windows of {d.context_length} tokens starting on time-step boundaries
({facts["train_windows"]} training windows).

{recipe}

## Training

| | |
|---|---|
| steps | {facts["steps"]} (batch {t.batch_size} x {t.grad_accum} accumulation) |
| tokens | {facts["tokens"]:,} |
| FLOPs (study accounting) | {facts["train_flops"]:.3e} |
| optimizer | AdamW lr {o.lr:g}, {o.schedule} schedule, {o.warmup_steps} warmup steps, \
weight decay {o.weight_decay:g} |
| wall time | {facts["wall_s"] / 60:.1f} min |
| machine | {facts["machine"]} |
| seed | {facts["seed"]} |
| final training loss | {facts["final_train_loss"]:.4f} (nats per token, last logged step) |
| final validation loss | {loss_text(facts["final_val_loss"])} \
({f"train.val_batches={t.val_batches}" if t.val_batches else "all windows"}, as in training) |
| validation loss, whole split | {loss_text(facts["whole_val_loss"])} \
({facts["val_windows"]} windows) |
| validation loss by step | {curve_text(facts["val_curve"])} |

Remake it (the same seed gives the same weights on the same machine and software; a remake
elsewhere parts from this one by rounding, and the validation losses by step show where):

```bash
llmts-pretrain seed={facts["seed"]} output=DIR
```

Settings:

```yaml
{settings.rstrip()}
```
"""
