"""``llmts`` (also ``python -m llmts``): compose the config, check every job, and run the
fine-tuning recipe (:func:`llmts.recipes.finetune.finetune`) in a Hydra run dir; a mistake ends
as one line and exit 2. The recipe and the checks are imported inside the functions that use
them, so ``llmts --help`` and ``--cfg`` start without torch."""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from llmts.config import sweeps
from llmts.config.compose import register_configs
from llmts.config.preflight import preflight
from llmts.config.schema import CONF_DIR
from llmts.errors import LlmtsError, exit_on_error
from llmts.tracking.files import write_json
from llmts.train.run_config import as_trained

log = logging.getLogger("llmts")

HELP = """\
llmts: fine-tune a causal LM (Qwen2.5 or any other, + LoRA) on numeric time series written as text
(LLMTIME), forecast the test split, score it beside statistical baselines and log it to W&B.

  llmts experiment=demo                 # minutes on a CPU, no download
  llmts model=tiny train.max_steps=100 decoding=sampling
  llmts -m sweep=lr                     # the study's grids (also ./multirun.sh)"""


def fail(run_dir: Path, exc: BaseException, multirun: bool) -> None:
    """One line for people; a failed job records why, a run that failed before writing anything
    leaves nothing behind."""
    message = str(exc) if isinstance(exc, LlmtsError) else f"{type(exc).__name__}: {exc}"
    if multirun and not isinstance(exc, LlmtsError):  # a bug, not a mistake: keep the trace
        log.error("job failed", exc_info=exc)
    print(f"llmts: error: {message}", file=sys.stderr)
    own = [p for p in run_dir.iterdir() if p.name not in (".hydra", "llmts.log", "wandb")]
    if own or multirun:
        write_json(run_dir / "metrics.json", {"status": "failed", "error": message})
    else:
        logging.shutdown()
        shutil.rmtree(run_dir, ignore_errors=True)


def limit_threads(launcher: DictConfig) -> None:
    """``hydra.launcher.cpus_per_task`` (submitit launchers) becomes this job's torch threads and
    OMP_NUM_THREADS (for the processes it starts): jobs sharing one machine then split its cores
    instead of each running one spinning thread per core."""
    cpus = launcher.get("cpus_per_task")
    if cpus:
        import torch

        os.environ["OMP_NUM_THREADS"] = str(cpus)
        torch.set_num_threads(int(cpus))
        log.info("threads: %d (hydra.launcher.cpus_per_task)", cpus)


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def main(cfg: DictConfig) -> float:
    """One job; returns its ``objective`` for an optimising sweeper (NaN when it failed)."""
    from hydra.core.hydra_config import HydraConfig

    from llmts.metrics.objective import FAILED, check_direction, objective_value
    from llmts.recipes.finetune import finetune

    hc = HydraConfig.get()
    limit_threads(hc.launcher)
    run_dir = Path(hc.runtime.output_dir)
    name, group, multirun = sweeps.job_identity(cfg.name, cfg.logger.group)
    try:
        check_direction(str(cfg.objective), hc.sweeper.get("direction"))
        if cfg.eval.checkpoint:  # evaluated as trained; the command line still wins
            cfg, trained = as_trained(cfg, cfg.eval.checkpoint, list(hc.overrides.task))
            if trained is not None:
                log.info(
                    "eval.checkpoint: model, lora and data as trained (%s)",
                    trained / ".hydra" / "config.yaml",
                )
                if (run_dir / ".hydra" / "config.yaml").is_file():  # what this run used
                    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")
        return objective_value(finetune(cfg, run_dir, name, group), str(cfg.objective))
    except Exception as exc:  # noqa: BLE001 - every failure ends as one line (+ metrics.json)
        fail(run_dir, exc, multirun)
        if multirun:  # the sweep goes on; the sweep report lists this job as failed
            return FAILED
        if not isinstance(exc, LlmtsError):
            raise
        sys.exit(2)


def check_run(cfg: DictConfig) -> None:
    """What ``llmts`` checks of every job before any starts
    (:func:`llmts.recipes.finetune.check_job`)."""
    # imported here, not at the top: `llmts --help` and `--cfg` start without torch
    from llmts.recipes.finetune import check_job

    check_job(cfg)


def entry() -> None:
    register_configs("llmts", header=HELP)
    exit_on_error("llmts", preflight, sys.argv[1:], checker=check_run)
    main()
