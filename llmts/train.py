"""The training loop: causal-LM loss on token windows, AdamW, Accelerate for devices/bf16/DDP,
validation, history, atomic checkpoints and bit-exact resume.

Data order is a pure function of (seed, micro-batch index): epoch e visits the windows in
``randperm(W, seed + e)``; rank r of R takes every R-th micro-batch. Resuming at step k therefore
needs no sampler state, and k + k steps equal 2k uninterrupted steps exactly (on CPU).
"""

from __future__ import annotations

import csv
import logging
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint as grad_checkpoint

from llmts import checkpoint as ckpt
from llmts.config import OptimizerConfig, TrainConfig
from llmts.errors import LlmtsError
from llmts.files import atomic_path
from llmts.tracking import Tracker

log = logging.getLogger(__name__)
HISTORY_COLUMNS = ("step", "loss", "lr", "tokens_per_s", "flops", "val_loss")
CHUNK = 4096  # positions per chunk of the chunked loss (train.chunked_loss)


class CausalLMLoss(nn.Module):
    """Mean next-token cross-entropy over labelled positions (labels −100 are ignored).

    ``chunk_size`` > 0: logits are formed for ``chunk_size`` positions at a time and recomputed
    in backward (activation checkpointing), and only labelled positions reach lm_head, so the
    (B, L, V) fp32 logits are never materialised; 0: the plain full-logits loss.
    Wrapping the loss in a Module lets DDP see the whole computation as one forward."""

    def __init__(self, model: nn.Module, chunk_size: int = 0):
        super().__init__()
        self.model = model
        self.chunk_size = chunk_size

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                labels: torch.Tensor) -> torch.Tensor:
        target = labels[:, 1:].reshape(-1)
        if not self.chunk_size:
            logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits
            return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(), target,
                                   ignore_index=-100)
        hidden = self.model.get_decoder()(input_ids=input_ids,
                                          attention_mask=attention_mask).last_hidden_state
        keep = target != -100
        hidden, target = hidden[:, :-1].reshape(-1, hidden.shape[-1])[keep], target[keep]
        head = self.model.get_output_embeddings()
        logits_of = head
        if hasattr(head, "subset_logits"):  # numeric-only head: k logits, targets remapped
            logits_of, target = head.subset_logits, head.index[target]
        total = hidden.new_zeros((), dtype=torch.float32)
        for start in range(0, len(target), self.chunk_size):
            sl = slice(start, start + self.chunk_size)
            total = total + grad_checkpoint(_chunk_ce, logits_of, hidden[sl], target[sl],
                                            use_reentrant=False)
        return total / keep.sum().clamp(min=1)


def make_loss(model: nn.Module, chunked: bool, compiled: bool) -> nn.Module:
    """The training loss module; ``compiled``: each repeated block (decoder layer) and the other
    leaf modules ``torch.compile``-d separately (accelerate's regional compilation: one compile
    serves all layers, so the cold start stays short). Parameters stay shared with ``model``."""
    loss = CausalLMLoss(model, CHUNK if chunked else 0)
    if not compiled:
        return loss
    from accelerate.utils import compile_regions

    return compile_regions(loss)


def _chunk_ce(logits_of, hidden: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits_of(hidden).float(), target, reduction="sum")


def make_accelerator(precision: str):
    """Accelerate for devices, mixed precision and DDP; ``auto``: bf16 where the GPU has it."""
    from accelerate import Accelerator

    if precision == "auto":
        precision = "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"
    return Accelerator(mixed_precision=str(precision), cpu=not torch.cuda.is_available())


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: OptimizerConfig, max_steps: int):
    """LR multiplier: linear warmup over ``warmup_steps``, then constant | cosine | linear to 0."""
    def factor(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        frac = (step - cfg.warmup_steps) / max(1, max_steps - cfg.warmup_steps)
        if cfg.schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))
        if cfg.schedule == "linear":
            return max(0.0, 1 - frac)
        return 1.0
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def batch_indices(micro: int, batch_size: int, num_windows: int, seed: int) -> torch.Tensor:
    """Window indices of global micro-batch ``micro`` (epochs reshuffled with seed + epoch)."""
    first = micro * batch_size
    out = []
    while len(out) < batch_size:
        epoch, pos = divmod(first + len(out), num_windows)
        perm = torch.randperm(num_windows, generator=torch.Generator().manual_seed(seed + epoch))
        out.extend(perm[pos:pos + batch_size - len(out)].tolist())
    return torch.tensor(out)


@dataclass
class TrainResult:
    steps: int
    history: list[dict]
    final_val_loss: float | None


def train(model: nn.Module, windows: dict, val_windows: dict, cfg: TrainConfig,
          opt_cfg: OptimizerConfig, seed: int, run_dir: Path, tracker: Tracker,
          accelerator, flops_per_step: float) -> TrainResult:
    """Train ``model`` in place for ``cfg.max_steps`` optimizer steps (resuming if asked)."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=opt_cfg.lr, betas=tuple(opt_cfg.betas),
                                  eps=opt_cfg.eps, weight_decay=opt_cfg.weight_decay)
    scheduler = make_scheduler(optimizer, opt_cfg, cfg.max_steps)
    start, history = 0, []
    resume_from = ckpt.resolve(cfg.resume, run_dir)
    if resume_from is not None:
        start, history = ckpt.load_checkpoint(resume_from, model, optimizer, scheduler)
        log.info("resumed from %s at step %d", resume_from, start)
    # The scheduler stays unprepared: Accelerate would step it once per process.
    loss_model, optimizer = accelerator.prepare(
        make_loss(model, cfg.chunked_loss, cfg.compile), optimizer)
    main = accelerator.is_main_process
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
    world, rank = accelerator.num_processes, accelerator.process_index
    num_windows = len(windows["input_ids"])

    def validate(step: int) -> float:
        val = evaluate_loss(loss_model, val_windows, cfg.batch_size, cfg.val_batches, accelerator)
        history.append({"step": step, "val_loss": val})
        tracker.log({"val/loss": val, "flops/train_total": step * flops_per_step}, step=step)
        return val

    if start == 0 and cfg.eval_every > 0:
        validate(0)
    bar = _progress(start, cfg.max_steps, main)
    val = None
    for step in range(start + 1, cfg.max_steps + 1):
        t0 = time.perf_counter()
        loss_model.train()
        loss_sum, tokens = 0.0, 0
        for micro in range(cfg.grad_accum):
            index = ((step - 1) * cfg.grad_accum + micro) * world + rank
            rows = batch_indices(index, cfg.batch_size, num_windows, seed)
            tokens += int(windows["attention_mask"][rows].sum())  # on CPU: no device sync
            batch = {k: v[rows].to(accelerator.device) for k, v in windows.items()}
            with accelerator.autocast():
                loss = loss_model(**batch)
            accelerator.backward(loss / cfg.grad_accum)
            loss_sum += loss.detach().float() / cfg.grad_accum
        loss_value = float(accelerator.reduce(loss_sum, reduction="mean"))
        # The total gradient norm (inf/nan iff any entry is) comes with clipping; max_norm=inf
        # leaves the gradients bit-for-bit as they are.
        grad_norm = accelerator.clip_grad_norm_(params, opt_cfg.max_grad_norm or math.inf)
        if not math.isfinite(loss_value) or not math.isfinite(float(grad_norm)):
            what = "loss" if not math.isfinite(loss_value) else "gradients"
            raise LlmtsError(f"training stopped at step {step}: non-finite {what} "
                             f"({loss_value}); last good checkpoint kept in {ckpt.checkpoint_root(run_dir)}")
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        tok_s = tokens * world / max(time.perf_counter() - t0, 1e-9)
        row = {"step": step, "loss": loss_value, "lr": scheduler.get_last_lr()[0],
               "tokens_per_s": tok_s, "flops": step * flops_per_step}
        history.append(row)
        bar.update(1)
        bar.set_postfix(loss=f"{loss_value:.4f}")
        if step % cfg.log_every == 0 or step == cfg.max_steps:
            tracker.log({"train/loss": loss_value, "train/lr": row["lr"], "train/tokens_per_s": tok_s,
                         "flops/train_total": row["flops"],
                         "flops/log10_train_total": math.log10(max(row["flops"], 1.0))}, step=step)
        if cfg.eval_every > 0 and (step % cfg.eval_every == 0 or step == cfg.max_steps):
            val = validate(step)
        if main and (step % cfg.save_every == 0 or step == cfg.max_steps):
            ckpt.save_checkpoint(run_dir, step, model, optimizer, scheduler, history)
        if main and (step % cfg.log_every == 0 or step == cfg.max_steps):
            write_history(run_dir / "train_history.csv", history)
        accelerator.wait_for_everyone()
    bar.close()
    return TrainResult(cfg.max_steps, history, val)


@torch.no_grad()
def evaluate_loss(loss_model: nn.Module, windows: dict, batch_size: int, max_batches: int | None,
                  accelerator) -> float:
    """Mean per-window loss over the validation windows (sharded across processes)."""
    loss_model.eval()
    n = len(windows["input_ids"])
    starts = list(range(0, n, batch_size))[: max_batches or None]
    total = torch.zeros(2, device=accelerator.device)
    for i in starts[accelerator.process_index::accelerator.num_processes]:
        batch = {k: v[i:i + batch_size].to(accelerator.device) for k, v in windows.items()}
        with accelerator.autocast():
            loss = loss_model(**batch)
        total += torch.stack([loss.float() * len(batch["input_ids"]),
                              torch.tensor(float(len(batch["input_ids"])), device=total.device)])
    total = accelerator.reduce(total, reduction="sum")
    return float(total[0] / total[1].clamp(min=1))


def _progress(start: int, total: int, main: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=start, desc="train", disable=not main or not sys.stderr.isatty())


def write_history(path: Path, history: list[dict]) -> None:
    """``train_history.csv``: training rows and validation rows (``val_loss`` set) by step."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=HISTORY_COLUMNS)
        writer.writeheader()
        for row in history:
            writer.writerow({k: row.get(k, "") for k in HISTORY_COLUMNS})
