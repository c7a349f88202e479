"""The benchmark, top to bottom: every task × every variant of the composed model, the
statistical baselines once per task, then ``results.csv``, ``leaderboard.csv``/``.md``, a plot
and one W&B run.

Each (task, variant) is an ordinary ``llmts`` run (:func:`llmts.recipes.finetune.finetune`) on
the task's file with ``data.split=time``: its last W·H steps are the test part, W rolling
origins H apart, each scored on the history before it (MASE's scale, the baselines' fits).
Variants:

* ``zero-shot``: the base as it is (``train.max_steps=0``)
* ``lora`` (``benchmark.finetune=true``): tuned on the task's steps before the test part as the
  composed ``lora``/``train``/``optimizer`` say (the last 10 % of those steps validate)
* ``random_init`` (ablation): the same architecture with random weights, every weight trained,
  the same steps and data as ``lora``
* ``shuffled_context`` (ablation): the base zero-shot, reading its context in a random order
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from llmts.codec.llmtime import step_tokens
from llmts.data.series import cache_dir
from llmts.data.tasks import Task, resolve_all
from llmts.errors import LlmtsError
from llmts.recipes.finetune import check_job, finetune
from llmts.report import leaderboard as board
from llmts.tracking import tracker as tracking
from llmts.tracking.files import atomic_path
from llmts.tracking.provenance import header

log = logging.getLogger(__name__)
RESULT_COLUMNS = (
    "task",
    "model",
    "kind",
    "mase",
    "wql",
    "smape",
    "wape",
    "sql",
    "windows",
    "horizon",
    "season_length",
    "flops",
    "seconds",
)
VAL_SHARE = 0.1  # of a task's steps before its test part, validating a tuned variant


def run_benchmark(cfg: DictConfig, run_dir: Path) -> pd.DataFrame:
    """Run every task and variant, write the tables and plot into ``run_dir``; the
    leaderboard."""
    start = time.perf_counter()
    bench = cfg.benchmark
    tasks = resolve_all(bench, cfg.eval.horizon, cache_dir(cfg.data))
    for t in tasks:
        log.info(
            "task %s: %s, %d steps, freq %s: horizon %d, season %d, %d window(s)",
            t.name, t.path, t.length, t.freq, t.horizon, t.season_length, t.windows,
        )  # fmt: skip
    variants = model_variants(cfg)
    label = bench.label or cfg.model.name
    jobs = []
    for task in tasks:
        for k, (variant, overrides) in enumerate(variants.items()):
            baselines = list(bench.baselines) if k == 0 else []  # once per task
            jobs.append((task, variant, baselines, task_config(cfg, task, overrides, baselines)))
    for *_, job in jobs:  # a mistake in any job costs seconds, not the jobs before it
        check_job(job)
    rows: list[dict] = []
    for task, variant, baselines, job in jobs:
        metrics, seconds = run_job(job, run_dir / "tasks" / task.name / variant)
        base_seconds = sum(metrics.get(f"baseline/{b}/seconds", 0.0) for b in baselines)
        rows.append(result_row(task, f"{label} {variant}", "model", metrics, "",
                               seconds - base_seconds, metrics.get("train_flops")))  # fmt: skip
        rows += [
            result_row(
                task,
                b,
                "baseline",
                metrics,
                f"baseline/{b}/",
                metrics.get(f"baseline/{b}/seconds"),
                0.0,
            )  # fmt: skip
            for b in baselines
        ]
    results = merge(pd.DataFrame(rows, columns=list(RESULT_COLUMNS)), bench.merge)
    return write(results, run_dir, cfg, time.perf_counter() - start)


def model_variants(cfg: DictConfig) -> dict[str, dict]:
    """{variant: the overrides of its run} — zero-shot always; ``lora`` with
    ``benchmark.finetune``; each of ``benchmark.ablations``."""
    variants: dict[str, dict] = {"zero-shot": {"train.max_steps": 0}}
    if cfg.benchmark.finetune:
        variants["lora"] = {}
    for ablation in cfg.benchmark.ablations:
        if str(ablation) == "random_init":
            variants["random_init"] = {
                "model.source": "random",
                "model.tokenizer_path": cfg.model.tokenizer_path or cfg.model.path,
                "lora.enabled": False,
            }
        else:
            variants["shuffled_context"] = {"train.max_steps": 0, "eval.shuffle_context": True}
    return variants


def task_config(cfg: DictConfig, task: Task, overrides: dict, baselines: list[str]) -> DictConfig:
    """The run config of one (task, variant): the composed one on the task's file, its last
    W·H steps tested at W origins H apart, season m, the given baselines, no W&B run of its
    own."""

    job = cfg.copy()
    h, w, t = task.horizon, task.windows, task.length
    history = t - w * h  # steps before the first origin
    if history < 2:
        raise LlmtsError(
            f"benchmark task {task.name}: {t} steps hold no history before {w} window(s) of "
            f"{h} steps; give it a smaller horizon= or windows="
        )
    fit = cfg.benchmark.context_steps or cfg.data.context_length // step_tokens(
        task.num_vars, cfg.data.precision
    )
    test = w * h / t
    val = round(VAL_SHARE * history) / t
    settings = {
        "data.path": str(task.path),
        "data.split": "time",
        "data.test_frac": test,
        "data.val_frac": val,
        "data.train_frac": 1.0 - test - val,
        "eval.horizon": h,
        "eval.origins": w,
        "eval.origin_stride": h,
        "eval.context_steps": max(1, min(fit, history)),
        "eval.num_series": None,
        "eval.baselines": baselines,
        "logger.name": "none",
        **overrides,
    }
    for key, value in settings.items():
        OmegaConf.update(job, key, value, merge=False)
    OmegaConf.update(job, "eval.season_length", task.season_length)
    return job


def run_job(job: DictConfig, out_dir: Path) -> tuple[dict, float]:
    """One ``llmts`` run of a (task, variant) into ``out_dir``: (its metrics, wall seconds)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(job, out_dir / "config.yaml")
    start = time.perf_counter()
    metrics = finetune(job, out_dir, f"{job.name}-{out_dir.parent.name}-{out_dir.name}")
    return metrics, time.perf_counter() - start


def result_row(
    task: Task, model: str, kind: str, m: dict, prefix: str, seconds, flops
) -> dict:  # fmt: skip
    """One results.csv row from a run's metrics (``prefix``: a baseline's keys)."""
    return {
        "task": task.name,
        "model": model,
        "kind": kind,
        **{k: m.get(f"{prefix}{k}") for k in ("mase", "wql", "smape", "wape", "sql")},
        "windows": task.windows,
        "horizon": task.horizon,
        "season_length": task.season_length,
        "flops": flops,
        "seconds": seconds,
    }


def merge(results: pd.DataFrame, dirs) -> pd.DataFrame:
    """``results`` with the ``results.csv`` of earlier benchmark run dirs; a (task, model) met
    twice (the baselines of every run) is kept once, the first."""
    frames = [results]
    for d in dirs:
        path = Path(d).expanduser() / "results.csv"
        if not path.is_file():
            raise LlmtsError(f"benchmark.merge: no results.csv in {d}")
        frames.append(pd.read_csv(path))
    merged = pd.concat([f for f in frames if len(f)], ignore_index=True)
    return merged.drop_duplicates(["task", "model"], keep="first").reset_index(drop=True)


def write(results: pd.DataFrame, run_dir: Path, cfg: DictConfig, wall: float) -> pd.DataFrame:
    """``results.csv``, ``leaderboard.csv``, ``leaderboard.md`` (under the run's provenance and
    its ``wall`` seconds), ``relative_mase.png`` and one W&B run with those tables; the
    leaderboard."""

    bench = cfg.benchmark
    table = board.leaderboard(results, bench.bootstrap, bench.seed)
    for name, frame in (("results.csv", results), ("leaderboard.csv", table)):
        with atomic_path(run_dir / name) as tmp:
            frame.to_csv(tmp, index=False)
    md = board.markdown(table)
    tasks = results["task"].nunique()
    head = header(f"Leaderboard: {tasks} task(s)", {"wall time": f"{wall / 60:.1f} min"}) + (
        "\nError relative to seasonal naive, clipped to [0.01, 100], geometric mean over tasks; "
        "[95 % interval, bootstrap over tasks]. Win rate: share of (task, other model) pairs "
        "beaten on MASE, ties ½.\n\n"
    )
    (run_dir / "leaderboard.md").write_text(head + md + "\n")
    plot = plot_relative(results, run_dir / "relative_mase.png")
    config = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    tracker = tracking.make_tracker(cfg.logger, run_dir, config, cfg.name, None, "benchmark", True)
    try:
        tracker.table("benchmark/results", list(results.columns), results.astype(object)
                      .where(results.notna(), None).values.tolist())  # fmt: skip
        tracker.table("benchmark/leaderboard", list(table.columns), table.astype(object)
                      .where(table.notna(), None).values.tolist())  # fmt: skip
        tracker.image("benchmark/relative_mase", plot)
    finally:
        tracker.finish()
    print(f"\n{md}\n\nresults: {run_dir / 'results.csv'}\nleaderboard: {run_dir}/leaderboard.md")
    return table


def plot_relative(results: pd.DataFrame, path: Path) -> Path:
    """MASE ÷ seasonal naive's, per task (x) and model (one marker series each), log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rel = board.relative(board.wide(results, "mase"))
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(rel) + 2), 4))
    x = np.arange(len(rel))
    for j, model in enumerate(rel.columns):
        ax.plot(x, rel[model], marker="os^vDx*+<>"[j % 10], linestyle="none", label=model)
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(x, rel.index, rotation=45, ha="right")
    ax.set_ylabel("MASE / seasonal naive's")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
