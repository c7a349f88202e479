"""The training loop: causal-LM loss on token windows, AdamW, Accelerate for devices/bf16/DDP,
validation, history, atomic checkpoints and bit-exact resume.

Data order is a pure function of (seed, micro-batch index): epoch e visits the windows in
``randperm(W, seed + e)``; rank r of R takes every R-th micro-batch. Resuming at step k therefore
needs no sampler state, and k + k steps equal 2k uninterrupted steps exactly (on CPU; compiled,
a resumed run evaluates before its first step, as a run from step 0 does, since the kernels
depend on which graph was compiled first).

A step never makes the host wait for the device: loss and gradient norm stay on the device and
are read in one transfer per window of ``train.log_every`` steps (also before validation and
checkpoints), where non-finite values are found and named by step.
"""

from __future__ import annotations

import atexit
import contextlib
import csv
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from llmts.codec.windows import Windows
from llmts.config.schema import OptimizerConfig, TrainConfig
from llmts.errors import LlmtsError
from llmts.tracking.files import atomic_path
from llmts.tracking.progress import Progress
from llmts.tracking.tracker import Tracker
from llmts.train import checkpoint as ckpt
from llmts.train.loss import compile_step, make_loss
from llmts.train.select import BestVal

log = logging.getLogger(__name__)
HISTORY_COLUMNS = ("step", "loss", "lr", "tokens_per_s", "flops", "val_loss")


def make_accelerator(precision: str):
    """Accelerate for devices, mixed precision and DDP; ``auto``: bf16 where the GPU has it."""
    from accelerate import Accelerator

    if precision == "auto":
        precision = "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"
    if precision == "fp16" and not torch.cuda.is_available():
        raise LlmtsError("train.precision=fp16 needs a CUDA GPU (on a CPU: no or bf16)")
    from accelerate.state import AcceleratorState

    # Accelerate keeps one mixed precision per process and refuses another: the next job of an
    # in-process sweep (train.precision=no,bf16) or the bench may ask for another. Its process
    # (distributed) state is kept.
    AcceleratorState._reset_state(reset_partial_state=False)
    accelerator = Accelerator(mixed_precision=str(precision), cpu=not torch.cuda.is_available())
    if accelerator.num_processes > 1:
        atexit.unregister(leave_process_group)  # registered once however many jobs
        atexit.register(leave_process_group)
    return accelerator


def leave_process_group() -> None:
    """Destroy torchrun's process group while the interpreter is still alive. Left to the
    interpreter's teardown, gloo's worker threads may outlive it and abort the process
    (SIGABRT, "terminate called without an active exception") after a run that succeeded."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def make_optimizer(params: list[nn.Parameter], cfg: OptimizerConfig) -> torch.optim.Optimizer:
    """AdamW, fused where torch has it for the device (one kernel for all tensors; its step
    counts live on the device, so a step reads nothing back), else torch's default."""
    kw = dict(lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, weight_decay=cfg.weight_decay)
    try:
        return torch.optim.AdamW(params, fused=True, **kw)
    except RuntimeError:  # fused AdamW is not implemented for this device or dtype
        return torch.optim.AdamW(params, **kw)


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


def batch_rows(micro: int, batch_size: int, num_windows: int, seed: int) -> list[int]:
    """Window indices of global micro-batch ``micro`` (epochs reshuffled with seed + epoch)."""
    first = micro * batch_size
    out: list[int] = []
    while len(out) < batch_size:
        epoch, pos = divmod(first + len(out), num_windows)
        perm = torch.randperm(num_windows, generator=torch.Generator().manual_seed(seed + epoch))
        out.extend(perm[pos : pos + batch_size - len(out)].tolist())
    return out


def device_batch(windows: Windows, rows: list[int], device) -> dict:
    """Windows ``rows`` on ``device``, with ``attention_mask`` None: windows are right-padded and
    attention is causal, so no real position sees the padding after it, and the padding's
    labels are −100 — the loss is the masked one. Without a mask SDPA stays on its causal fast
    path, transformers skips its all-ones check of the mask (a host read), and padded and full
    batches share one compiled graph. On CUDA the copy is pinned and non-blocking: the host
    does not wait for the queued steps to finish."""
    batch = windows.batch(rows)
    batch = {k: batch[k] for k in ("input_ids", "labels")}
    if torch.device(device).type == "cuda":
        batch = {k: v.pin_memory().to(device, non_blocking=True) for k, v in batch.items()}
    else:
        batch = {k: v.to(device) for k, v in batch.items()}
    return {**batch, "attention_mask": None}


@dataclass
class StepParts:
    """What a training step uses: the (prepared) loss module and optimizer, the LR schedule,
    the trainable parameters, the Accelerator, the clipping norm (None: no clipping) and
    whether the forward runs under the accelerator's autocast."""

    loss_model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    params: list[nn.Parameter]
    accelerator: object
    max_grad_norm: float | None
    autocast: bool = True
    cuda_graphs: bool = False  # train.compile=step on CUDA: mark each step for CUDA graph trees


def make_step_parts(
    model: nn.Module,
    opt_cfg: OptimizerConfig,
    max_steps: int,
    accelerator,
    *,
    chunked: bool,
    compiled: str,
    resume_from: Path | None = None,
    autocast: bool = True,
) -> tuple[StepParts, int, list[dict]]:
    """Loss module (``compiled``: none | regions | step, see llmts/train/loss.py), AdamW and
    schedule
    for ``model`` (restored from ``resume_from``), prepared by Accelerate; also (the step
    resumed at, the history so far). ``autocast=False``: the loss module is left unprepared and
    runs in the weights' dtype (the bench's naive path)."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, opt_cfg)
    scheduler = make_scheduler(optimizer, opt_cfg, max_steps)
    start, history = 0, []
    if resume_from is not None:
        start, history = ckpt.load_checkpoint(resume_from, model, optimizer, scheduler)
        log.info("resumed from %s at step %d", resume_from, start)
    loss_model = make_loss(model, chunked, compiled)
    # The scheduler stays unprepared: Accelerate would step it once per process.
    if autocast:
        loss_model, optimizer = accelerator.prepare(loss_model, optimizer)
    else:
        optimizer = accelerator.prepare(optimizer)
    whole = compiled == "step"
    if whole:  # after prepare: the graph holds Accelerate's autocast (and DDP's hooks)
        loss_model = compile_step(loss_model, accelerator.device.type)
    return (
        StepParts(
            loss_model,
            optimizer,
            scheduler,
            params,
            accelerator,
            opt_cfg.max_grad_norm,
            autocast,
            whole and accelerator.device.type == "cuda",
        ),
        start,
        history,
    )


def train_step(parts: StepParts, batches: list[dict]) -> torch.Tensor:
    """One optimizer step over ``batches`` (gradient accumulation: each backward gets loss / n):
    forward under autocast, backward (loss-scaled with fp16), total gradient norm with
    clipping, AdamW (an fp16 overflow step is skipped by the loss scaler), LR schedule.

    Returns [mean micro-batch loss, gradient norm] on the device, and reads nothing back: the
    host queues the next step while the device works."""
    acc, n = parts.accelerator, len(batches)
    if parts.cuda_graphs:  # the previous step's graph outputs may be overwritten from here on
        torch.compiler.cudagraph_mark_step_begin()
    parts.loss_model.train()
    total = None
    for batch in batches:
        with acc.autocast() if parts.autocast else contextlib.nullcontext():
            loss = parts.loss_model(**batch)
        acc.backward(loss / n)
        total = loss.detach().float() / n + (0 if total is None else total)
    # max_norm=inf leaves the gradients bit-for-bit as they are; the norm is inf/nan iff any
    # gradient entry is.
    grad_norm = acc.clip_grad_norm_(parts.params, parts.max_grad_norm or math.inf)
    parts.optimizer.step()
    parts.scheduler.step()
    parts.optimizer.zero_grad(set_to_none=True)
    return torch.stack([total, grad_norm.to(total.device, torch.float32)])


@dataclass
class TrainResult:
    steps: int  # the last step trained (below train.max_steps after early stopping)
    history: list[dict]
    final_val_loss: float | None
    selected_step: int | None = None  # the step whose weights the model now holds
    best_val_loss: float | None = None


@contextlib.contextmanager
def deterministic_algorithms(enabled: bool):
    """``torch.use_deterministic_algorithms(enabled, warn_only=True)`` inside the block, the
    previous mode restored after. Compiled code is lowered under the mode it first runs in:
    deterministic, inductor writes no atomic adds (on CPU it sums the embedding's gradient with
    them, in an order that varies between runs, so two runs of one seed drift apart). Warn-only:
    an op with no deterministic kernel (cuBLAS without ``CUBLAS_WORKSPACE_CONFIG=:4096:8``)
    warns instead of failing."""
    before = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(enabled, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn_only)


def train(
    model: nn.Module,
    windows: Windows,
    val_windows: Windows,
    cfg: TrainConfig,
    opt_cfg: OptimizerConfig,
    *,
    seed: int,
    run_dir: Path,
    tracker: Tracker,
    accelerator,
    flops_per_step: float,
) -> TrainResult:
    """Train ``model`` in place for ``cfg.max_steps`` optimizer steps (resuming if asked),
    under ``train.deterministic``. With ``train.select=best_val`` (and validation) a checkpoint
    is saved whenever the validation loss reaches a new low, and the model ends holding the
    weights of the lowest; ``train.early_stopping`` ends training after that many validations
    without one. A best_val selection is recorded in ``checkpoints/selected.json``."""
    with deterministic_algorithms(cfg.deterministic):
        parts, start, history = make_step_parts(
            model,
            opt_cfg,
            cfg.max_steps,
            accelerator,
            chunked=cfg.chunked_loss,
            compiled=cfg.compile,
            resume_from=ckpt.resolve(cfg.resume, run_dir),
        )
        main = accelerator.is_main_process
        if main:
            run_dir.mkdir(parents=True, exist_ok=True)
        world, rank = accelerator.num_processes, accelerator.process_index
        lengths = windows.lengths.tolist()  # real tokens per window, read once
        best = BestVal.from_history(history)
        select_best = cfg.select == "best_val" and cfg.eval_every > 0 and len(val_windows) > 0
        if cfg.select == "best_val" and not select_best:
            log.info("train.select=best_val: no validation in this run, the last step is kept")

        def validate(step: int) -> tuple[float, bool]:
            val = evaluate_loss(
                parts.loss_model, val_windows, cfg.batch_size, cfg.val_batches, accelerator
            )
            if main:
                log.info("validation at step %d: val_loss=%.4f", step, val)
            history.append({"step": step, "val_loss": val})
            tracker.log({"val/loss": val, "flops/train_total": step * flops_per_step}, step=step)
            return val, best.update(step, val)

        def save(step: int) -> None:
            if main:
                saved = ckpt.save_checkpoint(
                    run_dir, step, model, parts.optimizer, parts.scheduler, history
                )
                log.info("saved checkpoint %s", saved)

        if start == 0 and cfg.eval_every > 0:
            _, improved = validate(0)
            if select_best and improved:  # the base itself may stay the best
                save(0)
        elif cfg.eval_every > 0 and cfg.compile != "none":
            # compiled kernels depend on what was compiled first: as from step 0, evaluation
            evaluate_loss(
                parts.loss_model, val_windows, cfg.batch_size, cfg.val_batches, accelerator
            )
        # a tqdm bar in a terminal; else (SLURM, nohup) a log line every log_every steps with ETA
        bar = Progress(
            "train",
            cfg.max_steps,
            "steps",
            every=cfg.log_every,
            initial=start,
            enabled=main,
            after=0,
        )  # a line every train.log_every steps, as asked
        val, pending, t0, last = None, [], time.perf_counter(), start
        stop = best.patience_spent(cfg.early_stopping) and start > 0
        for step in range(start + 1, cfg.max_steps + 1):
            if stop:
                break
            micro = [
                ((step - 1) * cfg.grad_accum + m) * world + rank for m in range(cfg.grad_accum)
            ]
            rows = [batch_rows(i, cfg.batch_size, len(lengths), seed) for i in micro]
            batches = [device_batch(windows, r, accelerator.device) for r in rows]
            record = train_step(parts, batches)
            last = step
            pending.append(
                (
                    step,
                    parts.scheduler.get_last_lr()[0],
                    sum(lengths[i] for r in rows for i in r),
                    record,
                )
            )
            due = [cfg.log_every, cfg.save_every] + ([cfg.eval_every] if cfg.eval_every > 0 else [])
            if step < cfg.max_steps and all(step % every for every in due):
                continue
            window = read_window(pending, accelerator, t0, flops_per_step, run_dir)
            history.extend(window)
            newest = window[-1]
            bar.update(
                len(window),
                loss=newest["loss"],
                lr=newest["lr"],
                tokens_per_s=newest["tokens_per_s"],
            )
            tracker.log(
                {
                    "train/loss": newest["loss"],
                    "train/lr": newest["lr"],
                    "train/tokens_per_s": newest["tokens_per_s"],
                    "flops/train_total": newest["flops"],
                    "flops/log10_train_total": math.log10(max(newest["flops"], 1.0)),
                },
                step=step,
            )
            improved = False
            if cfg.eval_every > 0 and (step % cfg.eval_every == 0 or step == cfg.max_steps):
                val, improved = validate(step)
                stop = best.patience_spent(cfg.early_stopping)
                if stop and main:
                    log.info(
                        "early stopping at step %d: no lower validation loss in %d "
                        "validations (train.early_stopping)",
                        step,
                        cfg.early_stopping,
                    )
            if (
                step % cfg.save_every == 0
                or step == cfg.max_steps
                or stop
                or (select_best and improved)
            ):
                save(step)
            if main:
                write_history(run_dir / "train_history.csv", history)
            accelerator.wait_for_everyone()
            pending, t0 = [], time.perf_counter()
        bar.close()
        selected = last
        if select_best and best.step is not None and best.step != last:
            ckpt.load_trainable(model, ckpt.checkpoint_root(run_dir) / f"step-{best.step}")
            selected = best.step
        if main and select_best:
            log.info(
                "best validation loss %.4f at step %d of %d: evaluating step %d",
                best.loss,
                best.step,
                last,
                selected,
            )
            ckpt.write_selected(run_dir, selected, str(cfg.select))
        return TrainResult(
            last, history, val, selected, best.loss if best.step is not None else None
        )


def read_window(
    pending: list, accelerator, t0: float, flops_per_step: float, run_dir: Path
) -> list[dict]:
    """History rows of the steps in ``pending`` [(step, lr, tokens, [loss, grad norm] on the
    device)], fetched in one transfer. tokens/s = the window's tokens (all processes) ÷ its wall
    time (from the first step's start to this read, which waits for the device). The first
    non-finite loss stops the run, naming its step; so do non-finite gradients, except under an
    fp16 loss scaler, which skipped that step's update (and lowered its scale) by design."""
    values = accelerator.reduce(torch.stack([p[3] for p in pending]), reduction="mean").tolist()
    tokens = sum(p[2] for p in pending) * accelerator.num_processes
    tok_s = tokens / max(time.perf_counter() - t0, 1e-9)
    skipped = []
    for (step, _, _, _), (loss, norm) in zip(pending, values):
        if math.isfinite(loss) and (math.isfinite(norm) or accelerator.scaler is not None):
            skipped += [] if math.isfinite(norm) else [step]
            continue
        what = "loss" if not math.isfinite(loss) else "gradients"
        raise LlmtsError(
            f"training stopped at step {step}: non-finite {what} ({loss}); last "
            f"good checkpoint kept in {ckpt.checkpoint_root(run_dir)}"
        )
    if skipped:
        log.warning(
            "fp16 loss scaler skipped the update of step(s) %s (gradient overflow)",
            ", ".join(map(str, skipped)),
        )
    return [
        {
            "step": step,
            "loss": loss,
            "lr": lr,
            "tokens_per_s": tok_s,
            "flops": step * flops_per_step,
        }
        for (step, lr, _, _), (loss, _) in zip(pending, values)
    ]


@torch.no_grad()
def evaluate_loss(
    loss_model: nn.Module,
    windows: Windows,
    batch_size: int,
    max_batches: int | None,
    accelerator,
) -> float:
    """Mean per-window loss over the validation windows (sharded across processes)."""
    loss_model.eval()
    n = len(windows)
    starts = list(range(0, n, batch_size))[: max_batches or None]
    mine = starts[accelerator.process_index :: accelerator.num_processes]
    total = torch.zeros(2, device=accelerator.device)
    # lines only for a validation that takes seconds; each batch's loss stays on the device
    bar = Progress("validation", len(mine), "batches", enabled=accelerator.is_main_process)
    for i in mine:
        batch = device_batch(windows, list(range(i, min(i + batch_size, n))), accelerator.device)
        with accelerator.autocast():
            loss = loss_model(**batch)
        rows = len(batch["input_ids"])
        total += torch.stack([loss.float() * rows, torch.tensor(float(rows), device=total.device)])
        bar.update()
    bar.close()
    total = accelerator.reduce(total, reduction="sum")
    return float(total[0] / total[1].clamp(min=1))


def write_history(path: Path, history: list[dict]) -> None:
    """``train_history.csv``: training rows and validation rows (``val_loss`` set) by step."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=HISTORY_COLUMNS)
        writer.writeheader()
        for row in history:
            writer.writerow({k: row.get(k, "") for k in HISTORY_COLUMNS})
