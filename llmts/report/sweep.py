"""Sweep report: a Hydra multirun dir -> the study's Tables 6-10 and 13 with 95 % intervals and
paired differences, skill and physical checks, CSVs (``summary.csv``: one row per job) and plots.

``SweepReportCallback`` (after ``llmts -m``) or ``llmts-report dir=DIR`` (llmts/cli/report.py).
A job dir holds ``.hydra/*.yaml``, ``metrics.json``,
``forecasts.h5``, ``train_history.csv`` and ``flops.json``; one without ``metrics.json`` is reported
as incomplete. Jobs that differ only in ``seed`` are aggregated (see ``llmts.report.compare``).
"""

from __future__ import annotations

import csv
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

from llmts.config import sweeps
from llmts.errors import LlmtsError, first_line
from llmts.metrics.point import POINT_METRICS
from llmts.report import compare
from llmts.report import markdown as report_md
from llmts.report.compare import setting_label
from llmts.report.markdown import fmt as _fmt
from llmts.report.markdown import md_table as _md
from llmts.tracking.plots import plot_lines

log = logging.getLogger(__name__)

LABELS = {
    "mse": "MSE",
    "rmse": "RMSE",
    "mae": "MAE",
    "r2": "R²",
    "nrmse": "NRMSE (%)",
    "mape": "MAPE (%)",
    "mase": "MASE",
    "wql": "WQL",
    "nll_per_dim": "NLL/D",
}
# MASE, WQL (llmts.metrics.scaled) and NLL/D (llmts.metrics.likelihood): lower is better, their
# intervals from the job's own bootstrap; shown where the jobs have them
METRICS = [(k, LABELS[k]) for k in (*POINT_METRICS, "mase", "wql", "nll_per_dim")]
SHORT = {"optimizer.lr": "lr", "lora.r": "r", "data.context_length": "L"}
TITLE = {"lr": "Learning rate", "r": "LoRA rank", "L": "Context length", "job": "Job"}


@dataclass
class Job:
    dir: Path
    overrides: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    flops: dict[str, Any] = field(default_factory=dict)
    status: str = "incomplete"
    error: str = ""
    label: str = ""
    swept: dict[str, str] = field(default_factory=dict)  # short name -> value, set by collect
    choices: dict[str, Any] = field(default_factory=dict)  # config group -> option (hydra.yaml)

    def value(self, key: str) -> str | None:
        """A dotted key's value: the override, else the group choice or scalar config value."""
        if key in self.overrides or key in self.choices:
            return str(self.overrides.get(key, self.choices.get(key)))
        node: Any = self.config
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return None if node is None or isinstance(node, (dict, list)) else str(node)

    def val_losses(self) -> dict[int, float]:
        return {
            r["step"]: r["val_loss"]
            for r in self.history
            if _ok(r.get("val_loss")) and _ok(r["step"])
        }

    def total_flops(self) -> float | None:
        return self.flops.get("total", self.metrics.get("train_flops"))


def _pretty(v: str) -> str:
    """Compact numeric override values as the report writes them: 0.0001 -> 1e-4, 1e-05 -> 1e-5."""
    f = sweeps.number(v)
    if not _ok(f) or v.lstrip("-").isdigit() or f == 0 or 1e-3 <= abs(f) < 1e5:
        return v
    return _sci(f)


def _sci(f: float) -> str:
    m, e = f"{f:e}".split("e")
    return f"{m.rstrip('0').rstrip('.')}e{int(e)}"


def _pretty_column(values: list[str]) -> list[str]:
    """One format per swept parameter: when any of its values is written in e-notation, every
    number of it is (``lr = 1e-4`` beside ``lr = 1e-3``, not ``lr = 0.001``)."""
    out = [_pretty(v) for v in values]
    if any("e" in p and _ok(sweeps.number(p)) for p in out):
        out = [
            _sci(f) if _ok(f := sweeps.number(v)) and f != 0 and not v.lstrip("-").isdigit() else p
            for v, p in zip(values, out)
        ]
    return out


def applies(job: Job, key: str) -> bool:
    """Whether the setting ``key`` acts in ``job``: LoRA's own settings (``lora.r``, …) do not in
    a full fine-tuning job (``lora.enabled=false``)."""
    if key.startswith("lora.") and key not in ("lora.enabled", "lora.lm_head_bias"):
        return str(job.value("lora.enabled")).lower() != "false"
    return True


def _ok(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _sort_key(v: str) -> tuple:
    n = sweeps.number(v)
    return (0, n, "") if isinstance(n, float) else (1, 0.0, str(v))


def _load_yaml(path: Path) -> Any:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(OmegaConf.load(path), resolve=False) if path.is_file() else None


def _read_job(d: Path) -> Job:
    job = Job(dir=d, config=_load_yaml(d / ".hydra" / "config.yaml") or {})
    hy = _load_yaml(d / ".hydra" / "hydra.yaml") or {}
    job.choices = dict(((hy.get("hydra") or {}).get("runtime") or {}).get("choices") or {})
    for ov in _load_yaml(d / ".hydra" / "overrides.yaml") or []:
        key, sep, val = str(ov).partition("=")
        job.overrides[key.lstrip("+~")] = val if sep else "~"  # ~key deletes a key
    mpath, hpath, fpath = d / "metrics.json", d / "train_history.csv", d / "flops.json"
    job.error = "" if mpath.is_file() else "no metrics.json (job did not finish)"
    try:
        job.metrics = json.loads(mpath.read_text()) if mpath.is_file() else {}
        job.status = str(job.metrics.get("status", "ok")) if mpath.is_file() else "incomplete"
        job.error = (str(job.metrics.get("error") or "").splitlines() or [job.error])[0]
    except (OSError, ValueError, AttributeError) as e:
        job.metrics, job.status, job.error = {}, "failed", f"unreadable metrics.json: {e}"
    if hpath.is_file():
        with hpath.open(newline="", encoding="utf-8") as f:
            job.history = [
                {k: None if v in ("", None) else sweeps.number(v) for k, v in row.items()}
                for row in csv.DictReader(f)
            ]
        for r in job.history:
            r["step"] = int(r["step"]) if _ok(r.get("step")) else None
    try:
        job.flops = json.loads(fpath.read_text()) if fpath.is_file() else {}
    except ValueError:
        job.flops = {}
    return job


def find_job_dirs(path: str | Path) -> list[Path]:
    """``path`` itself if it is a job dir, else its job subdirs (numeric names in numeric order)."""
    p = Path(path)
    is_job = lambda d: (d / ".hydra").is_dir() or (d / "metrics.json").is_file()  # noqa: E731
    if is_job(p):
        return [p]
    subs = [d for d in p.iterdir() if d.is_dir() and is_job(d)] if p.is_dir() else []
    return sorted(subs, key=lambda d: (0, int(d.name), "") if d.name.isdigit() else (1, 0, d.name))


def collect(paths: list[str | Path] | str | Path) -> list[Job]:
    """Read every job under ``paths`` and label it by the overrides that differ across jobs."""
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    jobs = [_read_job(d) for p in paths for d in find_job_dirs(p)]
    if not jobs:
        raise LlmtsError(
            f"no Hydra job dirs (with .hydra/ or metrics.json) in {', '.join(map(str, paths))}"
        )
    keys = sorted({k for j in jobs for k in j.overrides})
    swept = sweeps.swept_keys({k: j.value(k) for k in keys} for j in jobs)
    shorts = [SHORT.get(k, k.rsplit(".", 1)[-1]) for k in swept]
    shorts = [s if shorts.count(s) == 1 else k for s, k in zip(shorts, swept)]
    columns = {
        k: _pretty_column([j.value(k) or "-" if applies(j, k) else "-" for j in jobs])
        for k in swept
    }
    for n, j in enumerate(jobs):
        j.swept = {s: columns[k][n] for s, k in zip(shorts, swept)}
        j.label = ",".join(f"{s}={v}" for s, v in j.swept.items()) or j.dir.name
    return jobs


def _parameters(n) -> str:
    """A parameter count as people say it: 134.5M, 1.54B ("-" where the run recorded none)."""
    if not _ok(n):
        return "-"
    n = float(n)
    return f"{n / 1e9:.3g}B" if n >= 1e9 else f"{n / 1e6:.4g}M" if n >= 1e6 else f"{int(n):,}"


def model_name(job: Job) -> str:
    """The base model a job trained: ``model.name`` or the folder of ``model.path`` where the
    command line gave them, else its ``model`` group option (``tiny``), else ``model.name``."""
    if "model.name" in job.overrides:
        return str(job.overrides["model.name"])
    if job.overrides.get("model.path") not in (None, "null"):
        return Path(str(job.overrides["model.path"])).name
    return str(job.choices.get("model") or job.value("model.name") or "base model")


def _log10(v: Any) -> float | None:
    return math.log10(v) if isinstance(v, (int, float)) and v > 0 else None


def _bold_best(values: list[Any], higher: bool) -> list[str]:
    nums = [v for v in values if _ok(v)]
    best = (max if higher else min)(nums) if len(set(nums)) > 1 else None
    return [f"**{_fmt(v)}**" if best is not None and v == best else _fmt(v) for v in values]


def _section(name: str, names: list[str], jobs: list[Job], boot: compare.Bootstrap) -> list[str]:
    """Tables 6/8 (validation loss by step) and 7/9/10 (metrics) for one swept parameter."""
    jobs = sorted(jobs, key=lambda j: (_sort_key(j.swept.get(name, j.label)), j.label))
    seed = lambda j: f", seed = {j.swept['seed']}" if "seed" in j.swept else ""  # noqa: E731
    lab = {id(j): setting_label(j, name, names) + seed(j) for j in jobs}
    out = [f"## {TITLE.get(name, name)} (`{name}`)", ""]
    vl = {id(j): j.val_losses() for j in jobs}
    steps = sorted({s for v in vl.values() for s in v})
    if steps:
        with_v = [j for j in jobs if vl[id(j)]]
        out += [
            "Validation loss at each validation step:",
            "",
            _md(
                ["Step"] + [lab[id(j)] for j in with_v],
                [[str(s)] + _bold_best([vl[id(j)].get(s) for j in with_v], False) for s in steps],
            ),
            "",
        ]
    ok = [j for j in jobs if j.status == "ok"]
    if ok:  # MASE, WQL, NLL/D only where jobs have them (runs before they existed do not)
        cols = [(k, t) for k, t in METRICS if k in POINT_METRICS or any(k in j.metrics for j in ok)]
        out += report_md.metric_tables(
            TITLE.get(name, name), compare.settings(ok, names, name), boot, cols
        )
    return out


def _plot(jobs: list[Job], out: Path, ykey: str, title: str) -> Path | None:
    """One line per job, sorted by swept value."""
    series = [
        (j.label, [(r["step"], r[ykey]) for r in j.history if _ok(r.get(ykey)) and _ok(r["step"])])
        for j in sorted(jobs, key=lambda j: [_sort_key(v) for v in j.swept.values()])
    ]
    if not (series := [(lab, *zip(*pts)) for lab, pts in series if pts]):
        return None
    log_y = all(y > 0 for _, _, ys in series for y in ys)
    return plot_lines(
        out,
        series,
        "step",
        ykey,
        title,
        "log" if log_y else "linear",
        "o" if ykey == "val_loss" else None,
    )


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([header] + [["" if v is None else v for v in r] for r in rows])


def write_report(jobs: list[Job], out_dir: str | Path, bootstrap: int | None = None) -> Path:
    """Write report.md, summary.csv, metrics.csv, val_loss.csv, flops.csv and the plots
    (train_loss, val_loss, skill); ``bootstrap`` resamples (default: the jobs' own)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    swept, n_ok = (list(jobs[0].swept) if jobs else []), sum(j.status == "ok" for j in jobs)
    names, boot = [n for n in swept if n != "seed"], compare.Bootstrap.of(jobs, bootstrap)
    md = [
        "# Sweep report",
        "",
        f"{len(jobs)} jobs ({n_ok} ok, {len(jobs) - n_ok} failed or incomplete); "
        f"swept: {', '.join(f'`{n}`' for n in swept) or 'nothing (single configuration)'}.",
        "",
    ]
    if "seed" in swept:
        md += [
            f"Seeds {', '.join(sorted({j.swept['seed'] for j in jobs}, key=_sort_key))}: jobs that "
            "differ only in seed are one row (mean ± std across seeds).",
            "",
        ]
    for name in (names or ["job"]) if jobs else []:
        md += _section(name, names, jobs, boot)
    if ok := [j for j in jobs if j.status == "ok"]:
        md += report_md.checks_table(
            ", ".join(TITLE.get(n, n) for n in names) or "Job",
            compare.settings(ok, names, (names or ["job"])[0]),
            boot,
        )
    for png, key, title in [
        ("train_loss.png", "loss", "Training loss"),
        ("val_loss.png", "val_loss", "Validation loss"),
    ]:
        md += [f"![{title}]({png})", ""] if _plot(jobs, out / png, key, title) else []
    if compare.plot_skill(jobs, out / "skill.png"):
        md += ["![Skill over persistence by forecast step](skill.png)", ""]
    fkeys = ["forward", "step", "lora_step", "total_base", "total_lora"]
    frows = [
        [
            j.label,
            j.status,
            j.flops.get("steps", j.value("train.max_steps")),
            j.value("data.context_length"),
            j.value("lora.r") if applies(j, "lora.r") else None,
        ]
        + [j.flops.get(k) for k in fkeys]
        + [j.total_flops()]
        for j in jobs
    ]
    total = sum(r[-1] or 0.0 for r in frows)
    models = [model_name(j) for j in jobs]
    sizes = [_parameters(j.metrics.get("parameters")) for j in jobs]
    one = len(set(models)) == 1  # one base model: name it in the header, else columns
    md += [
        "## Training FLOPs",
        "",
        _md(
            ["Experiment"]
            + ([] if one else ["Model", "Parameters"])
            + [
                "Steps",
                "L",
                "r",
                "log10(LoRA FLOPs)",
                f"log10({models[0] if one else 'base model'} FLOPs)",
                "log10(Total FLOPs)",
            ],
            [
                [r[0] + ("" if r[1] == "ok" else f" ({r[1]})")]
                + ([] if one else [m, size])
                + ["-" if v is None else str(v) for v in r[2:5]]
                + [_fmt(_log10(v), 3) for v in (r[-2], r[-3], r[-1])]
                for r, m, size in zip(frows, models, sizes)
            ],
        ),
        "",
        *([f"Base model: {models[0]}, {sizes[0]} parameters.", ""] if one and jobs else []),
        f"Sweep total: {total:.4e} FLOPs, log10(Total FLOPs) = {_fmt(_log10(total), 4)} "
        "(every job with "
        "a flops.json or train_flops; failed jobs count their planned FLOPs)."
        if total
        else "Sweep total: unknown (no FLOPs recorded).",
        "",
    ]
    bad = [j for j in jobs if j.status != "ok"]
    md += (
        ["## Failed jobs", ""]
        + [f"- `{j.label}` ({j.dir}): {j.status}: {j.error or 'no error message'}" for j in bad]
        + [""]
        if bad
        else []
    )
    (out / "report.md").write_text("\n".join(md))
    mkeys = sorted(
        {k for j in jobs for k, v in j.metrics.items() if not isinstance(v, list)}
        - {"status", "error"},
        key=lambda k: ([m for m, _ in METRICS].index(k) if k in dict(METRICS) else len(METRICS), k),
    )
    _write_csv(
        out / "metrics.csv",
        ["label", "dir", "status", "error"] + swept + mkeys,
        [
            [j.label, str(j.dir), j.status, j.error]
            + [j.swept[n] for n in swept]
            + [j.metrics.get(k) for k in mkeys]
            for j in jobs
        ],
    )
    _write_csv(out / "summary.csv", *compare.summary_rows(jobs, names))
    vl = [j.val_losses() for j in jobs]
    steps = sorted({s for v in vl for s in v})
    _write_csv(
        out / "val_loss.csv",
        ["step"] + [j.label for j in jobs],
        [[s] + [v.get(s) for v in vl] for s in steps],
    )
    _write_csv(
        out / "flops.csv",
        ["label", "status", "steps", "L", "r"] + fkeys + ["total", "log10_total"],
        [r + [_log10(r[-1])] for r in frows] + [["TOTAL"] + [None] * 9 + [total, _log10(total)]],
    )
    return out / "report.md"


def format_table(jobs: list[Job]) -> str:
    """One plain-text row per job: label, status, mse, r2, final val_loss, log10 FLOPs."""
    head = ["job", "status", "mse", "r2", "val_loss", "log10_flops"]
    rows = [
        [
            j.label,
            j.status,
            _fmt(j.metrics.get("mse")),
            _fmt(j.metrics.get("r2")),
            _fmt((lambda v: v[max(v)] if v else j.metrics.get("final_val_loss"))(j.val_losses())),
            _fmt(_log10(j.total_flops()), 3),
        ]
        for j in jobs
    ]
    width = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, width)).rstrip() for r in [head] + rows
    )


class SweepReportCallback(Callback):
    """Hydra callback: after a multirun, write the report into ``hydra.sweep.dir``. Never raises."""

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        try:
            sweep_dir = Path(str(config.hydra.sweep.dir))
            jobs = collect(sweep_dir)
            path = write_report(jobs, sweep_dir)
            print(f"{format_table(jobs)}\nreport: {path}")
        except Exception as e:  # a report failure must not fail the sweep
            log.warning("sweep report not written: %s: %s", type(e).__name__, first_line(e))
