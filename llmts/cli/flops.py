"""``llmts-flops``: the training-FLOPs plan of a run, or of a whole sweep, before spending any.

    llmts-flops model=qwen2.5-0.5b-instruct lora.r=8 train.max_steps=2000   # one run
    llmts-flops -m sweep=lr                                                   # every job + total
    llmts-flops -m sweep=lr bench_json=outputs/bench/<time>/bench.json        # + est. wall time

Composed exactly like ``llmts`` (same config, same overrides; schema :mod:`llmts.config.flops`)
and loads no weights: the ``model`` group records the architecture numbers. It prints; it writes
a file only when asked (``output=flops.json``) and makes no run dir. A sweep prints each job's
plan and the sum, and exits 1 when the sum exceeds ``train.flop_budget`` (the study's 1e17
applies to the sweep as a whole). ``bench_json=PATH`` adds each job's and the sweep's estimated
wall time on the device that bench was measured on (llmts/perf/estimate.py) — only where that
bench timed the job's architecture; elsewhere it says why there is no estimate.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from llmts.config import sweeps
from llmts.config.flops import FlopsConfig, register
from llmts.config.preflight import preflight
from llmts.config.schema import CONF_DIR
from llmts.errors import exit_on_error
from llmts.tracking.files import write_json

APP = "llmts-flops"
HELP = """\
llmts-flops: the training-FLOPs plan of a run or a sweep, before spending any (loads no weights).

  llmts-flops lora.r=8 train.max_steps=2000
  llmts-flops -m sweep=lr               # every job, the total, the budget"""


def plan_for(cfg: DictConfig) -> dict:
    """The run's plan; the number of processes is torchrun's ``WORLD_SIZE`` (1 without it)."""
    from llmts.perf.flops import flops_plan, global_batch

    batch = global_batch(cfg.train, int(os.environ.get("WORLD_SIZE", "1")))
    return flops_plan(cfg.model, cfg.lora, batch, cfg.data.context_length, cfg.train.max_steps)


def single(cfg: DictConfig) -> dict:
    """One run's plan (and its estimate where the bench applies), printed; written to
    ``cfg.output`` when given."""
    from llmts.perf.flops import format_plan

    plan = plan_for(cfg)
    print(format_plan(plan))
    if cfg.bench_json:
        from llmts.perf.estimate import job_seconds, load_rates, minutes, mismatch, source_line

        rates = load_rates(cfg.bench_json)
        if warning := mismatch(cfg, rates):
            print(warning)
        else:
            est = job_seconds(cfg, rates)
            plan["estimated_s"] = est
            print(
                f"{source_line(rates, cfg.bench_json)}\n≈ {minutes(est['total'])} min "
                f"(train {minutes(est['train'])}, forecasts {minutes(est['eval'])})"
            )
    if cfg.output:
        out = Path(cfg.output).expanduser()
        write_json(out, plan)
        print(f"wrote {out}")
    return plan


def plan_sweep(
    overrides: list[str], rates=None
) -> tuple[list[tuple[list[str], dict]], float, float | None]:
    """[(job overrides, plan)], the summed total FLOPs and the budget in force; with ``rates``
    (llmts.perf.estimate.Rates) each plan also holds ``estimated_s``."""
    from llmts.config.compose import llmts_hydra
    from llmts.config.preflight import job_configs
    from llmts.perf.estimate import job_seconds, mismatch

    jobs = []
    with llmts_hydra():
        for job, cfg in job_configs(overrides, "flops"):
            jobs.append((job, plan_for(cfg)))
            if rates is not None:
                warning = jobs[-1][1]["estimate_warning"] = mismatch(cfg, rates)
                if warning is None:
                    jobs[-1][1]["estimated_s"] = job_seconds(cfg, rates)
            budget = cfg.train.flop_budget
    return jobs, sum(p["total"] for _, p in jobs), budget if jobs else None


def sweep_main(overrides: list[str], bench_json: str | None = None) -> int:
    """Every job's plan, the total and the budget; with ``bench_json`` (or the command line's
    ``bench_json=``) each job's estimate, shown only where the bench timed its architecture."""
    from llmts.perf.estimate import load_rates, minutes, source_line

    # Launcher and output settings (hydra.*, hydra/launcher=...) change no FLOPs.
    overrides = [o for o in overrides if not o.lstrip("+~").startswith(("hydra.", "hydra/"))]
    given = [o.split("=", 1)[1] for o in overrides if o.startswith("bench_json=")]
    bench_json = bench_json or (given[-1] if given and given[-1] != "null" else None)
    rates = load_rates(bench_json) if bench_json else None
    jobs, total, budget = plan_sweep(overrides, rates)
    swept = sweeps.swept_keys(sweeps.values(job) for job, _ in jobs)
    warnings = sorted({p.get("estimate_warning") for _, p in jobs} - {None})
    timed = rates is not None and not warnings  # an estimate for every job, or none at all
    est = f" {'est. min':>9}" if timed else ""
    print(
        f"{'job':<40} {'steps':>6} {'log10 LoRA':>11} {'log10 base':>11} {'log10 total':>12}{est}"
    )
    for job, p in jobs:
        label = sweeps.label(job, swept) or "(defaults)"
        est = f" {minutes(p['estimated_s']['total']):>9}" if timed else ""
        print(
            f"{label:<40} {int(p['steps']):>6} {_log(p['total_lora']):>11} "
            f"{_log(p['total_base']):>11} {_log(p['total']):>12}{est}"
        )
    print(f"sweep total: {total:.4e} FLOPs (log10 {_log(total)}) over {len(jobs)} jobs")
    if timed:
        wall = sum(p["estimated_s"]["total"] for _, p in jobs)
        print(
            f"{source_line(rates, bench_json)}\nsweep ≈ {minutes(wall)} min with the jobs one "
            "after another on one such device"
        )
    for warning in warnings:
        print(warning)
    outputs = [o.split("=", 1)[1] for o in overrides if o.startswith("output=")]
    if outputs and outputs[-1] != "null":
        out = Path(outputs[-1]).expanduser()
        write_json(out, {"jobs": [{"overrides": job, **p} for job, p in jobs], "total": total})
        print(f"wrote {out}")
    if budget is not None and total > budget:
        print(
            f"{APP}: error: the sweep's {total:.3e} FLOPs exceed train.flop_budget {budget:.3e}",
            file=sys.stderr,
        )
        return 1
    return 0


def _log(x: float) -> str:
    return f"{math.log10(x):.3f}" if x > 0 else "-"


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="flops")
def main(cfg: DictConfig) -> dict:
    return exit_on_error(APP, single, cfg)


def entry() -> None:
    register(HELP)
    args = sys.argv[1:]
    exit_on_error(APP, preflight, args, "flops", FlopsConfig.check)
    flags = {a for a in args if a.startswith("-")}
    if flags and flags <= {"-m", "--multirun"}:  # the sweep's plan, not the sweep's jobs
        sys.exit(exit_on_error(APP, sweep_main, [a for a in args if a not in flags]))
    main()
