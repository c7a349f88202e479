"""The pretraining recipe: a Qwen2-architecture model with random weights, every weight trained
on the synthetic corpus (:mod:`llmts.data.synthetic`, no Lotka-Volterra) written in the codec's
LLMTIME text, through the same loop as ``llmts`` (:func:`llmts.train.loop.train`: checkpoints,
exact resume, progress with tokens/s and ETA). The result is a Hugging Face folder —
``config.json``, ``model.safetensors``, the tokenizer's files and a model card ``README.md`` —
that ``AutoModelForCausalLM.from_pretrained`` loads as it loads Qwen.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from llmts.codec.codec import Codec
from llmts.codec.tokenizer import load_tokenizer
from llmts.codec.windows import training_windows
from llmts.config.schema import LoraConfig
from llmts.data import synthetic
from llmts.model.build import build_model, count_parameters
from llmts.model.card import loss_text, model_card
from llmts.model.save import write_folder
from llmts.perf import flops
from llmts.tracking.machine import device_name
from llmts.tracking.tracker import NullTracker
from llmts.train.loop import batch_rows, evaluate_loss, make_accelerator, train
from llmts.train.loss import CausalLMLoss

log = logging.getLogger(__name__)


def pretrain(cfg: Any, run_dir: Path) -> dict:
    """Plan the FLOPs (checked against ``train.flop_budget``), train ``cfg.model`` from random
    weights on the synthetic corpus for ``cfg.train.max_steps`` steps and write the Hugging Face
    folder (``cfg.output``, else ``run_dir/model``). Returns the numbers the card states."""
    plan = flops.flops_plan(
        cfg.model,
        LoraConfig(enabled=False),
        flops.global_batch(cfg.train, 1),
        cfg.data.context_length,
        cfg.train.max_steps,
    )
    flops.check_budget(plan, cfg.train.flop_budget)
    flops_per_step = plan["step"]
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
    model = build_model(cfg.model, LoraConfig(enabled=False, lm_head_bias=False), cfg.seed)
    accelerator = make_accelerator(str(cfg.train.precision))
    t0 = time.perf_counter()
    result = train(
        model,
        windows["train"],
        windows["val"],
        cfg.train,
        cfg.optimizer,
        seed=cfg.seed,
        run_dir=run_dir,
        tracker=NullTracker(),
        accelerator=accelerator,
        flops_per_step=flops_per_step,
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
        "machine": device_name(accelerator.device),
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
        recipe = (synthetic.__doc__ or "").split("\n\n", 1)[-1].strip()
        write_folder(out, model, tokenizer, model_card(cfg, facts, recipe))
        print(
            f"pretrained {facts['parameters']:,} parameters: {result.steps} steps, "
            f"{tokens:,} tokens, {facts['train_flops']:.3e} FLOPs in {wall / 60:.1f} min; "
            f"final loss {facts['final_train_loss']:.4f} "
            f"(val {loss_text(facts['final_val_loss'])}, whole split "
            f"{loss_text(facts['whole_val_loss'])}); wrote {out}"
        )
    return facts
