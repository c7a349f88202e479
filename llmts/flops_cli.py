"""``llmts-flops``: the training-FLOPs plan of a run, or of a whole sweep, before spending any.

    llmts-flops model=qwen2.5-0.5b-instruct lora.r=8 train.max_steps=2000   # one run
    llmts-flops -m sweep=lr                                                   # every job + total
    llmts-flops -m sweep=lr bench_json=outputs/bench/<time>/bench.json        # + est. wall time

Composed exactly like ``llmts`` (same config, same overrides) and loads no weights: the ``model``
group records the architecture numbers. A single run writes ``flops.json`` in its run dir; a
sweep prints each job's plan and the sum, and exits 1 when the sum exceeds ``train.flop_budget``
(the report's 1e17 applies to the sweep as a whole). ``bench_json=PATH`` (not a config key) adds
each job's and the sweep's estimated wall time on the device that bench was measured on
(llmts/estimate.py).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from llmts.cli import CONF_DIR
from llmts.config import register_configs
from llmts.files import write_json

OPTIONS: dict[str, str | None] = {"bench_json": None}  # set by entry() from the command line


def plan_for(cfg: DictConfig) -> dict:
    from llmts.flops import flops_plan

    batch = cfg.train.batch_size * cfg.train.grad_accum
    return flops_plan(cfg.model, cfg.lora, batch, cfg.data.context_length, cfg.train.max_steps)


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def main(cfg: DictConfig) -> dict:
    from hydra.core.hydra_config import HydraConfig

    from llmts.flops import format_plan

    plan = plan_for(cfg)
    print(format_plan(plan))
    if OPTIONS["bench_json"]:
        from llmts.estimate import job_seconds, load_rates, minutes, mismatch, source_line

        rates = load_rates(OPTIONS["bench_json"])
        est = job_seconds(cfg, rates)
        plan["estimated_s"] = est
        print(f"{source_line(rates, OPTIONS['bench_json'])}\n≈ {minutes(est['total'])} min "
              f"(train {minutes(est['train'])}, forecasts {minutes(est['eval'])})")
        if warning := mismatch(cfg, rates):
            print(warning)
    out = Path(HydraConfig.get().runtime.output_dir) / "flops.json"
    write_json(out, plan)
    print(f"wrote {out}")
    return plan


def sweep_jobs(overrides: list[str]) -> list[list[str]]:
    """Each job's overrides, expanded the way Hydra's basic sweeper will expand them
    (command-line sweeps plus the ``hydra.sweeper.params`` of a ``sweep=`` config)
    (call inside ``initialize_config_dir``.)"""
    from hydra import compose
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    plain = [o for o in overrides if "," not in o.split("=", 1)[-1]]
    base = compose(config_name="config", overrides=plain, return_hydra_config=True)
    params = base.hydra.sweeper.get("params") or {}
    args = [f"{k}={v}" for k, v in params.items()] + list(overrides)
    parsed = OverridesParser.create().parse_overrides(args)
    return BasicSweeper.split_arguments(parsed, None)[0]


def plan_sweep(overrides: list[str], rates=None) -> tuple[list[tuple[list[str], dict]], float,
                                                           float | None]:
    """[(job overrides, plan)], the summed total FLOPs and the budget in force; with ``rates``
    (llmts.estimate.Rates) each plan also holds ``estimated_s``."""
    from hydra import compose, initialize_config_dir

    from llmts.estimate import job_seconds, mismatch

    jobs = []
    with initialize_config_dir(version_base="1.3", config_dir=CONF_DIR):
        for job in sweep_jobs(overrides):
            cfg = compose(config_name="config", overrides=job)
            jobs.append((job, plan_for(cfg)))
            if rates is not None:
                jobs[-1][1]["estimated_s"] = job_seconds(cfg, rates)
                jobs[-1][1]["estimate_warning"] = mismatch(cfg, rates)
            budget = cfg.train.flop_budget
    return jobs, sum(p["total"] for _, p in jobs), budget if jobs else None


def sweep_main(overrides: list[str], bench_json: str | None = None) -> int:
    from llmts.estimate import load_rates, minutes, source_line

    # Launcher and output settings (hydra.*, hydra/launcher=...) change no FLOPs.
    overrides = [o for o in overrides if not o.lstrip("+~").startswith(("hydra.", "hydra/"))]
    rates = load_rates(bench_json) if bench_json else None
    jobs, total, budget = plan_sweep(overrides, rates)
    swept = {o.split("=", 1)[0] for o in overrides if "," in o} | _param_keys(jobs)
    est = f" {'est. min':>9}" if rates else ""
    print(f"{'job':<40} {'steps':>6} {'log10 LoRA':>11} {'log10 base':>11} {'log10 total':>12}{est}")
    for job, p in jobs:
        label = ",".join(o for o in job if o.split("=", 1)[0] in swept) or "(defaults)"
        est = f" {minutes(p['estimated_s']['total']):>9}" if rates else ""
        print(f"{label:<40} {int(p['steps']):>6} {_log(p['total_lora']):>11} "
              f"{_log(p['total_base']):>11} {_log(p['total']):>12}{est}")
    print(f"sweep total: {total:.4e} FLOPs (log10 {_log(total)}) over {len(jobs)} jobs")
    if rates:
        wall = sum(p["estimated_s"]["total"] for _, p in jobs)
        print(f"{source_line(rates, bench_json)}\nsweep ≈ {minutes(wall)} min with the jobs one "
              "after another on one such device")
        for warning in sorted({p["estimate_warning"] for _, p in jobs} - {None}):
            print(warning)
    if budget is not None and total > budget:
        print(f"llmts-flops: error: the sweep's {total:.3e} FLOPs exceed train.flop_budget "
              f"{budget:.3e}", file=sys.stderr)
        return 1
    return 0


def _param_keys(jobs) -> set[str]:
    values: dict[str, set[str]] = {}
    for job, _ in jobs:
        for o in job:
            key, _, val = o.partition("=")
            values.setdefault(key, set()).add(val)
    return {k for k, v in values.items() if len(v) > 1}


def _log(x: float) -> str:
    return f"{math.log10(x):.3f}" if x > 0 else "-"


def entry() -> None:
    from llmts.errors import LlmtsError

    register_configs()
    args = [a for a in sys.argv[1:] if not a.lstrip("+").startswith("bench_json=")]
    given = [a.split("=", 1)[1] for a in sys.argv[1:] if a not in args]
    OPTIONS["bench_json"] = given[-1] if given else None
    try:
        if "-m" in args or "--multirun" in args:
            sys.exit(sweep_main([a for a in args if a not in ("-m", "--multirun")],
                                OPTIONS["bench_json"]))
        sys.argv = [sys.argv[0], *args]
        main()
    except LlmtsError as exc:
        print(f"llmts-flops: error: {exc}", file=sys.stderr)
        sys.exit(2)
