"""The fine-tuning recipe, top to bottom: data → codec → model (+ LoRA) → train → forecast →
metrics, with tracking beside. ``llmts`` (:mod:`llmts.cli.main`) composes the config and calls
:func:`finetune`; ``llmts-benchmark`` calls it once per task and variant."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from llmts.codec import sanity
from llmts.codec import tokenizer as tokenization
from llmts.codec.codec import Codec, has_negatives
from llmts.codec.llmtime import check_context_length
from llmts.codec.windows import training_windows
from llmts.config.schema import check
from llmts.data import series as data
from llmts.data.split import make_split
from llmts.errors import LlmtsError
from llmts.metrics.evaluate import (
    base_label,
    evaluation_rows,
    score,
    score_untrained,
    season_length,
)
from llmts.model import build as model
from llmts.model import kernels
from llmts.model.build import check_model
from llmts.perf import flops
from llmts.report import run as report
from llmts.tracking import tracker as tracking
from llmts.tracking.files import atomic_path, write_json
from llmts.tracking.provenance import header
from llmts.train import checkpoint
from llmts.train.loop import make_accelerator, train
from llmts.train.run_config import trained_hint

log = logging.getLogger("llmts")


def check_job(cfg: DictConfig) -> None:
    """What ``llmts`` checks of every job before any starts: the schema's ranges and rules, the
    codec's bounds on them, the model's config (a causal LM, the LoRA targets it has)."""
    check(cfg)
    check_context_length(cfg.data)
    check_model(cfg.model, cfg.lora)


def finetune(
    cfg: DictConfig, run_dir: Path, job_name: str = "llmts", group: str | None = None
) -> dict:
    """Train (``train.max_steps`` > 0) and evaluate; writes artifacts into ``run_dir`` and
    returns the metrics. ``job_name``/``group``: the W&B run's name and group. The printed
    table goes to ``results.md`` too, under the run's provenance (command, date, commit,
    machine)."""
    start = time.perf_counter()
    check_job(cfg)
    tracking.check_environment(cfg.logger)
    tokenizer = tokenization.load_tokenizer(cfg.model)
    dataset = data.load_dataset(cfg.data, cfg.seed)
    split = make_split(dataset.lengths, cfg.data, cfg.seed)
    season = season_length(cfg.eval, dataset)
    log.info("data: %s", dataset.describe(season))
    # every forecast the run will make fits its series
    rows = evaluation_rows(dataset, split, cfg.eval, cfg.data)
    codec = Codec.build(cfg.data, tokenizer, signed=has_negatives(dataset.series))
    warn(sanity.coarse_grid(codec, rows.context))
    accelerator = make_accelerator(cfg.train.precision)
    batch = flops.global_batch(cfg.train, accelerator.num_processes)
    plan = flops.flops_plan(
        cfg.model, cfg.lora, batch, cfg.data.context_length, cfg.train.max_steps
    )
    flops.check_budget(plan, cfg.train.flop_budget)
    main = accelerator.is_main_process
    if main:
        write_json(run_dir / "flops.json", plan)
        if cfg.train.max_steps > 0:  # evaluation only: nothing to plan
            log.info("planned training FLOPs (study accounting):\n%s", flops.format_plan(plan))
        split.save(run_dir / "split.json")
        write_json(run_dir / "data.json", {**dataset.summary(), "season_length": season})
    windows = {}
    if cfg.train.max_steps > 0:
        windows = {
            part: training_windows(
                split.parts(dataset.series, dataset.lengths, part), codec, cfg.data, seed
            )
            for part, seed in (("train", cfg.seed), ("val", cfg.seed + 1))
        }
        warn(sanity.few_windows(len(windows["train"]), cfg.data.context_length))
    net = model.build_model(cfg.model, cfg.lora, cfg.seed, codec, accelerator.device)
    parameters = model.base_parameters(net)
    trained = cfg.train.max_steps > 0 or cfg.eval.checkpoint
    warn(
        sanity.forecast_positions(
            codec,
            rows.context,
            cfg.eval.horizon,
            cfg.data.context_length if trained else None,
            getattr(getattr(net, "config", None), "max_position_embeddings", None),
        )
    )
    if cfg.eval.checkpoint:
        path = Path(cfg.eval.checkpoint).expanduser()
        try:
            checkpoint.load_checkpoint(path, net)
        except LlmtsError as exc:
            hint = trained_hint(path, "give the model= and lora= it was trained with")
            raise LlmtsError(f"{exc}{hint}") from None
        log.info("loaded checkpoint %s", path)
    net = net.to(accelerator.device)
    kernels.apply_kernels(net, cfg.train.kernels)
    config = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    tracker = tracking.make_tracker(
        cfg.logger,
        run_dir,
        config,
        job_name,
        group,
        "train" if cfg.train.max_steps else "eval",
        main,
    )
    base = base_label(cfg.model)
    ok = False
    try:
        result, before, untrained = None, {}, None
        # Forecasts run in the model's own dtype, never under autocast (one KV-cache dtype).
        if main and cfg.eval.untrained and cfg.train.max_steps > 0:
            before, untrained = score_untrained(
                net, codec, rows, cfg.eval, cfg.decoding, seed=cfg.seed, label=base
            )
        if cfg.train.max_steps > 0:
            result = train(
                net,
                windows["train"],
                windows["val"],
                cfg.train,
                cfg.optimizer,
                seed=cfg.seed,
                run_dir=run_dir,
                tracker=tracker,
                accelerator=accelerator,
                flops_per_step=plan["step"] + plan["lora_step"],
            )
        metrics = {"status": "ok"}
        if main:
            scored, evaluation = score(
                net,
                codec,
                dataset,
                rows,
                cfg.eval,
                cfg.decoding,
                seed=cfg.seed,
                label="trained model" if trained else base,
                untrained=untrained,
            )
            report.write(evaluation, run_dir, cfg.eval.plot_series, tracker, base)
            metrics.update(scored)
        metrics.update(before)
        metrics.update(
            parameters=parameters,
            train_flops=plan["total"],
            log10_train_flops=plan["log10_total"],
            final_val_loss=result.final_val_loss if result else None,
        )
        if result is not None:
            metrics.update(
                selected_step=result.selected_step,
                best_val_loss=result.best_val_loss,
                trained_steps=result.steps,
            )
        if main:
            write_json(run_dir / "metrics.json", metrics)
            tracker.summary(metrics)
            what = (
                f"{metrics['num_series']} windows (rolling origins of "
                f"{metrics['test_series']} series)"
                if split.by_time
                else f"{metrics['num_series']} test series"
            )
            table = report.results_table(metrics, base)
            summary = f"{table}\nparse rate {metrics['parse_rate']:.3f} over {what}"
            print(f"\n{summary}; artifacts in {run_dir}")
            wall = f"{time.perf_counter() - start:.0f} s"
            with atomic_path(run_dir / "results.md") as tmp:
                tmp.write_text(f"{header('llmts run', {'wall time': wall})}\n```\n{summary}\n```\n")
        ok = True
        return metrics
    finally:
        tracker.finish(exit_code=0 if ok else 1)


def warn(line: str | None) -> None:
    """A check's warning (:mod:`llmts.codec.sanity`), when it has one."""
    if line:
        log.warning(line)
