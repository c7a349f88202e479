"""Sweep report: synthetic Hydra multirun dirs -> tables, CSVs, plots and the callback (the
``llmts-report`` entry point: tests/cli/test_report.py)."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from llmts.forecast.batch import ForecastResult
from llmts.report import sweep as report
from llmts.report.sweep import SweepReportCallback, collect, format_table, write_report

FLOPS = {"0": 2.0e15, "1": 3.0e15}


def _job(root: Path, num: str, lr: str, *, metrics: dict | None, history: bool = True) -> Path:
    d = root / num
    (d / ".hydra").mkdir(parents=True)
    overrides = [f"optimizer.lr={lr}", "lora.r=4", "model=tiny", "train.max_steps=20"]
    (d / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    cfg = {
        "train": {"max_steps": 20, "batch_size": 4},
        "data": {"context_length": 128},
        "lora": {"r": 4},
        "optimizer": {"lr": float(lr)},
        "model": {"name": "tiny"},
    }
    (d / ".hydra" / "config.yaml").write_text(yaml.safe_dump(cfg))
    hydra = {"hydra": {"runtime": {"choices": {"model": "tiny", "optimizer": "adamw"}}}}
    (d / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump(hydra))
    if metrics is not None:
        (d / "metrics.json").write_text(json.dumps(metrics))
    if history:
        scale = 1.0 if num == "0" else 0.5
        rows = ["step,loss,lr,tokens_per_s,flops,val_loss", f"0,,{lr},,,{0.9:.4f}"]
        rows += [f"{s},{scale * 2 / s:.4f},{lr},100.0,{s * 1e13}," for s in range(1, 21)]
        rows += [
            f"10,,{lr},,,{0.9 - 0.2 / scale:.4f}" if scale == 1 else f"10,,{lr},,,{0.3:.4f}",
            f"20,,{lr},,,{0.5 * scale:.4f}",
        ]
        (d / "train_history.csv").write_text("\n".join(rows) + "\n")
    if num in FLOPS:
        t = FLOPS[num]
        (d / "flops.json").write_text(
            json.dumps(
                {
                    "forward": 1e9,
                    "step": 3e9,
                    "lora_step": 1e7,
                    "steps": 20,
                    "total_base": t * 0.999,
                    "total_lora": t * 0.001,
                    "total": t,
                    "log10_total": math.log10(t),
                }
            )
        )
    return d


@pytest.fixture
def sweep(tmp_path) -> Path:
    root = tmp_path / "multirun"
    ok = dict(status="ok", mse=0.5, rmse=0.7071, mae=0.4, r2=0.2, nrmse=8.0, mape=40.0)
    _job(
        root,
        "0",
        "1e-5",
        metrics={
            **ok,
            "train_flops": FLOPS["0"],
            "baseline/persistence/mse": 1.5,
            "baseline/persistence/r2": -1.0,
        },
    )
    _job(
        root,
        "1",
        "1e-4",
        metrics={
            **ok,
            "mse": 0.1,
            "rmse": 0.3162,
            "mae": 0.45,
            "r2": 0.8,
            "nrmse": 3.0,
            "mape": 20.0,
            "train_flops": FLOPS["1"],
            "baseline/persistence/mse": 1.5,
            "baseline/persistence/r2": -1.0,
        },
    )
    _job(
        root,
        "2",
        "5e-5",
        metrics={"status": "failed", "error": "CUDA out of memory"},
        history=False,
    )
    (root / "multirun.yaml").write_text("hydra: {}\n")
    return root


def test_collect_detects_swept_param(sweep):
    jobs = collect(sweep)
    assert [j.dir.name for j in jobs] == ["0", "1", "2"]
    assert [j.label for j in jobs] == ["lr=1e-5", "lr=1e-4", "lr=5e-5"]  # r, model, steps constant
    assert [j.status for j in jobs] == ["ok", "ok", "failed"]
    assert jobs[2].error == "CUDA out of memory"
    assert jobs[0].val_losses() == {0: 0.9, 10: 0.7, 20: 0.5}


def test_write_report(sweep, tmp_path):
    jobs = collect(sweep)
    out = tmp_path / "out"
    md = write_report(jobs, out).read_text()
    assert "## Learning rate (`lr`)" in md
    # Table 6 style: rows are the validation steps, columns the swept values (sorted numerically)
    assert "| Step | lr = 1e-5 | lr = 1e-4 |" in md
    for step in ("| 0 |", "| 10 |", "| 20 |"):
        assert step in md
    assert "| 20 | 0.5000 | **0.2500** |" in md
    # Table 7 style: best per column in bold (lowest error, highest R²); MAE best is lr=1e-5
    assert (
        "| lr = 1e-4 | **0.1000** | **0.3162** | 0.4500 | **0.8000** | **3.0000** | **20.0000** |"
        in md
    )
    assert "| lr = 1e-5 | 0.5000 | 0.7071 | **0.4000** | 0.2000 | 8.0000 | 40.0000 |" in md
    assert "baseline persistence" in md
    # Table 13 style FLOPs and the sweep total
    total = sum(FLOPS.values())
    assert (
        "| Experiment | Steps | L | r | log10(LoRA FLOPs) | log10(tiny FLOPs) "
        "| log10(Total FLOPs) |" in md
    )
    assert f"| lr=1e-4 | 20 | 128 | 4 | {math.log10(3e12):.3f} |" in md
    assert f"log10(Total FLOPs) = {math.log10(total):.4f}" in md
    assert "## Failed jobs" in md and "lr=5e-5" in md and "CUDA out of memory" in md
    assert (out / "train_loss.png").stat().st_size > 1000
    assert (out / "val_loss.png").stat().st_size > 1000

    flops = list(csv.DictReader((out / "flops.csv").open()))
    assert float(flops[-1]["total"]) == pytest.approx(total)
    assert sum(float(r["total"]) for r in flops[:-1] if r["total"]) == pytest.approx(total)
    metrics = {r["label"]: r for r in csv.DictReader((out / "metrics.csv").open())}
    assert metrics["lr=1e-4"]["mse"] == "0.1" and metrics["lr=5e-5"]["status"] == "failed"
    vl = list(csv.DictReader((out / "val_loss.csv").open()))
    assert [r["step"] for r in vl] == ["0", "10", "20"]


def test_incomplete_job_and_two_swept_params(tmp_path):
    root = tmp_path / "m"
    _job(root, "0", "1e-4", metrics={"status": "ok", "mse": 1.0, "r2": 0.0})
    d = _job(root, "1", "1e-4", metrics=None, history=False)
    (d / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(["optimizer.lr=1e-4", "lora.r=8"]))
    jobs = collect(root)
    assert [j.label for j in jobs] == ["r=4", "r=8"]  # lr equal, model/steps missing in job 1 but
    assert jobs[1].status == "incomplete"  # equal via config -> not swept
    md = write_report(jobs, tmp_path / "o").read_text()
    assert "no metrics.json" in md


def test_format_table(sweep):
    text = format_table(collect(sweep))
    lines = text.splitlines()
    assert lines[0].split() == ["job", "status", "mse", "r2", "val_loss", "log10_flops"]
    assert lines[2].split() == [
        "lr=1e-4",
        "ok",
        "0.1000",
        "0.8000",
        "0.2500",
        f"{math.log10(3e15):.3f}",
    ]
    assert lines[3].split()[:2] == ["lr=5e-5", "failed"]


def test_import_has_no_side_effects():
    code = "import sys, llmts.report.sweep; assert 'matplotlib' not in sys.modules"
    repo = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], cwd=repo, check=True, timeout=60)


def test_callback(sweep, tmp_path, capsys, monkeypatch):
    warnings: list[str] = []
    monkeypatch.setattr(report.log, "warning", lambda msg, *a: warnings.append(msg % a))
    SweepReportCallback().on_multirun_end(
        OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}})
    )
    assert (sweep / "report.md").is_file() and (sweep / "val_loss.png").is_file()
    assert "lr=1e-4" in capsys.readouterr().out and not warnings
    # failures are logged as one warning line, never raised
    missing = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path / "nope")}}})
    SweepReportCallback().on_multirun_end(missing)
    SweepReportCallback().on_multirun_end(OmegaConf.create({}))
    monkeypatch.setattr(report, "write_report", lambda *a: 1 / 0)
    SweepReportCallback().on_multirun_end(
        OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}})
    )
    assert len(warnings) == 3 and all("\n" not in w for w in warnings)
    assert "ZeroDivisionError" in warnings[2]


def test_callback_in_real_hydra_multirun(tmp_path):
    """A real Hydra multirun calls the callback and the report lands in the sweep dir."""
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "config.yaml").write_text(
        textwrap.dedent("""\
        optimizer: {lr: 1.0e-05}
        hydra:
          sweep: {dir: "sweep/${now:%H-%M-%S-%f}", subdir: "${hydra:job.num}"}
          callbacks:
            sweep_report: {_target_: llmts.report.sweep.SweepReportCallback}
        """)
    )
    (tmp_path / "app.py").write_text(
        textwrap.dedent("""\
        import json, hydra
        from hydra.core.hydra_config import HydraConfig
        @hydra.main(version_base=None, config_path="conf", config_name="config")
        def app(cfg):
            out = HydraConfig.get().runtime.output_dir
            json.dump({"status": "ok", "mse": cfg.optimizer.lr * 1e4, "r2": 0.5},
                      open(out + "/metrics.json", "w"))
        app()
        """)
    )
    repo = Path(__file__).resolve().parents[2]
    env = {**__import__("os").environ, "PYTHONPATH": str(repo)}
    res = subprocess.run(
        [sys.executable, "app.py", "-m", "optimizer.lr=1e-5,1e-4"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    reports = list((tmp_path / "sweep").glob("*/report.md"))
    assert len(reports) == 1, res.stdout + res.stderr
    md = reports[0].read_text()
    assert (
        "| lr = 1e-5 | **0.1000** |" in md and "lr=1e-4" in res.stdout
    )  # Hydra writes 1e-05, 0.0001


# --- intervals, paired differences, seeds, summary.csv (jobs scored by llmts.metrics.evaluate's
# helpers)

N, C, H, B = 30, 12, 8, 300


def _scored(root: Path, num: str, lr: str, seed: int, shift: float, noise_seed: int) -> Path:
    """A finished job whose test series depend on ``seed`` (as simulated data does) and whose
    forecast is truth + N(0, 0.2²) noise (``noise_seed``) + ``shift``."""
    import numpy as np

    from llmts.metrics import baselines, evaluate
    from llmts.metrics import bootstrap as stats
    from llmts.metrics import point as metrics
    from llmts.report.run import write_forecasts

    d = _job(root, num, lr, metrics=None, history=False)
    ov = yaml.safe_load((d / ".hydra" / "overrides.yaml").read_text()) + [f"seed={seed}"]
    (d / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(ov))
    series = 1.0 + np.abs(np.random.default_rng(seed).normal(0, 0.5, (N, C + H, 2)))
    context, truth = series[:, :C], series[:, C:]
    point = truth + np.random.default_rng(noise_seed).normal(0, 0.2, truth.shape) + shift
    res = ForecastResult(point[:, None], point.size // 2, 0, [""] * N)
    base = {"persistence": baselines.persistence(context, H)}
    out = {
        "status": "ok",
        **metrics.point_metrics(truth, point),
        **metrics.per_variable(truth, point, ("prey", "predator")),
    }
    evaluate.score_baselines(truth, base, out)
    idx = stats.resample_indices(N, B, 0)
    evaluate.add_intervals(out, truth, point, res, base, variables=("prey", "predator"), idx=idx)
    extra = {
        f"skill/{k}": v for k, v in evaluate.skill_curves(truth, point, base, idx, out).items()
    }
    extra.update(
        {
            f"physics/{k}": v
            for k, v in evaluate.physics_checks(context, truth, point, None, idx, out).items()
        }
    )
    write_forecasts(
        d / "forecasts.h5",
        evaluate.Evaluation(
            evaluate.EvalRows(
                np.arange(N),
                np.full(N, context.shape[1]),
                context,
                truth,
                list(context),
                1,
                np.ones(N),
            ),
            point,
            res,
            base,
            None,
            {},
            extra,
            ("prey", "predator"),
        ),
    )
    (d / "metrics.json").write_text(json.dumps(out))
    return d


def _rows(md: str, title: str) -> dict[str, list[str]]:
    """Rows of the first markdown table after the line starting with ``title``: label → cells."""
    block = next(b for b in md.split(title, 1)[1].split("\n\n") if b.startswith("|"))
    return {
        r.split(" | ")[0].strip("| "): [c.strip(" |") for c in r.split(" | ")[1:]]
        for r in block.splitlines()[2:]
    }


def test_identical_jobs_are_not_distinguished_and_a_shift_is(tmp_path):
    root = tmp_path / "m"
    _scored(root, "0", "1e-5", 1, 0.0, noise_seed=7)
    _scored(root, "1", "1e-4", 1, 0.0, noise_seed=7)  # the same forecast as job 0
    _scored(root, "2", "5e-5", 1, 0.3, noise_seed=7)  # the same, shifted by 0.3
    jobs = collect(root)
    assert [j.label for j in jobs] == ["lr=1e-5", "lr=1e-4", "lr=5e-5"]  # seed is not swept
    md = write_report(jobs, tmp_path / "o").read_text()
    table = _rows(md, "Forecasting metrics: mean [95 % bootstrap interval")
    m0 = jobs[0].metrics
    mean, lo, hi = table["lr = 1e-5"][0].replace("[", "").replace("]", "").replace(",", "").split()
    assert mean == report._fmt(m0["mse"])
    # the report resamples afresh (its own seeded matrix): the bounds agree up to resampling noise
    assert [float(lo), float(hi)] == pytest.approx(m0["mse_ci"], rel=0.05)
    assert not any("**" in c for row in table.values() for c in row)  # a tie: nothing is bold
    diff = _rows(md, "Difference to the best")
    assert diff["lr = 1e-5"][0] == "best"  # the first of the tied jobs
    assert diff["lr = 1e-4"][0] == "0.0000 [0.0000, 0.0000]"  # identical: contains 0, no mark
    assert diff["lr = 5e-5"][0].endswith("\\*") and diff["lr = 5e-5"][0].startswith("+")
    assert "ᵘ" not in md  # same seed → same series → paired (and no legend for unpaired)


def test_seeds_are_aggregated_and_the_better_setting_is_bold(tmp_path):
    import numpy as np

    root = tmp_path / "m"
    for num, (lr, seed, shift) in enumerate(
        [("1e-5", 1, 0.4), ("1e-5", 2, 0.4), ("1e-4", 1, 0.0), ("1e-4", 2, 0.0)]
    ):
        _scored(root, str(num), lr, seed, shift, noise_seed=num)
    jobs = collect(root)
    assert [j.label for j in jobs] == [
        "lr=1e-5,seed=1",
        "lr=1e-5,seed=2",
        "lr=1e-4,seed=1",
        "lr=1e-4,seed=2",
    ]
    out = tmp_path / "o"
    md = write_report(jobs, out).read_text()
    assert "Seeds 1, 2: jobs that differ only in seed are one row" in md
    assert "| Step |" not in md  # no validation history in these jobs
    table = _rows(md, "Forecasting metrics: mean [95 % bootstrap interval")
    assert set(table) == {"lr = 1e-5", "lr = 1e-4", "*baseline persistence*"}
    mse = [j.metrics["mse"] for j in jobs[2:]]
    expect = f"**{report._fmt(np.mean(mse))}** ± {report._fmt(np.std(mse, ddof=1))} ["
    assert table["lr = 1e-4"][0].startswith(expect)
    assert table["lr = 1e-5"][3].startswith("**") is False and table["lr = 1e-4"][3].startswith(
        "**"
    )  # R²
    diff = _rows(md, "Difference to the best")
    assert diff["lr = 1e-4"] == ["best"] * 6
    assert all(c.endswith("\\*") for c in diff["lr = 1e-5"])  # a bias of 0.4 is no noise
    checks = _rows(md, "## Skill and physical checks")
    assert set(checks) == {"lr = 1e-5", "lr = 1e-4"}
    assert (out / "skill.png").stat().st_size > 1000 and "skill.png" in md

    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [(r["lr"], r["seed"]) for r in rows] == [
        ("1e-5", "1"),
        ("1e-5", "2"),
        ("1e-4", "1"),
        ("1e-4", "2"),
    ]
    for r, j in zip(rows, jobs):
        for key in (
            "mse",
            "r2",
            "baseline/persistence/mae",
            "skill/persistence",
            "physics/negative_share",
            "prey/nrmse",
        ):
            assert float(r[key]) == pytest.approx(j.metrics[key])
            assert [float(r[f"{key}_lo"]), float(r[f"{key}_hi"])] == pytest.approx(
                j.metrics[f"{key}_ci"]
            )
    assert "mse_ci" not in rows[0] and "physics/invariant_skipped" in rows[0]


def test_report_bootstrap_off(tmp_path):
    root = tmp_path / "m"
    _scored(root, "0", "1e-5", 1, 0.0, noise_seed=1)
    _scored(root, "1", "1e-4", 1, 0.5, noise_seed=1)
    write_report(collect(root), tmp_path / "o", 0)  # llmts-report bootstrap=0
    md = (tmp_path / "o" / "report.md").read_text()
    assert "Difference to the best" not in md
    # a lone job's interval still comes from its metrics.json
    m = collect(root)[0].metrics
    assert f"[{report._fmt(m['mse_ci'][0])}, {report._fmt(m['mse_ci'][1])}]" in md


def test_all_rows_tied_still_show_their_zero_differences(tmp_path):
    """As in a smoke sweep where the model writes the same forecast at every learning rate."""
    root = tmp_path / "m"
    for num, lr in enumerate(["1e-5", "5e-5", "1e-4"]):
        _scored(root, str(num), lr, 1, 0.0, noise_seed=3)
    md = write_report(collect(root), tmp_path / "o").read_text()
    assert "**" not in md.split("## Skill")[0].split("Forecasting metrics")[1]
    diff = _rows(md, "Difference to the best")
    assert diff["lr = 1e-5"] == ["best"] * 6  # the first row on a tie, also for R² (highest)
    assert diff["lr = 5e-5"] == diff["lr = 1e-4"] == ["0.0000 [0.0000, 0.0000]"] * 6


def test_nll_per_dim_is_a_column_where_jobs_have_it(tmp_path):
    root = tmp_path / "m"
    base = {
        "status": "ok",
        "mse": 1.0,
        "rmse": 1.0,
        "mae": 1.0,
        "r2": 0.5,
        "nrmse": 10.0,
        "mape": 5.0,
    }
    _job(root, "0", "1e-5", metrics={**base, "nll_per_dim": -1.25, "nll_per_dim_ci": [-1.5, -1.0]})
    _job(root, "1", "1e-4", metrics={**base, "nll_per_dim": 0.5})
    md = write_report(collect(root), tmp_path / "o").read_text()
    assert "NLL/D" in md
    table = _rows(md, "Forecasting metrics")
    # lower is better: the best in bold (no per-series forecasts here to test the difference)
    assert (
        table["lr = 1e-5"][-1] == "**-1.2500** [-1.5000, -1.0000]"
        and table["lr = 1e-4"][-1] == "0.5000"
    )
    _job(tmp_path / "old", "0", "1e-5", metrics=base)  # runs from before NLL/D: no column
    assert "NLL/D" not in write_report(collect(tmp_path / "old"), tmp_path / "p").read_text()


def test_constant_forecasts_are_flagged_in_the_report(sweep, tmp_path):
    """A sweep whose jobs forecast constant zeros showed MAPE 100 and parse rate 1, no word more."""
    path = sweep / "0" / "metrics.json"
    m = json.loads(path.read_text())
    path.write_text(json.dumps({**m, "mape": 100.0, "constant_forecasts": 1.0}))
    md = write_report(collect(sweep), tmp_path / "out").read_text()
    assert "Constant forecasts (share)" in md
    (line,) = [ln for ln in md.splitlines() if ln.startswith("- **degenerate**")]
    assert "`lr=1e-5`" in line and "100 % of the forecasts are constant" in line
    assert "MAPE is exactly 100 %" in line


def test_only_what_applies_in_one_format_per_column(tmp_path):
    """A full fine-tuning job showed LoRA's rank r, the tiny model's FLOPs were 'Qwen FLOPs', and
    labels mixed lr = 1e-4 with lr = 0.001."""
    root = tmp_path / "multirun"
    ok = dict(status="ok", mse=0.5, rmse=0.7071, mae=0.4, r2=0.2, nrmse=8.0, mape=40.0)
    _job(root, "0", "1e-4", metrics=ok)
    full = _job(root, "1", "0.001", metrics=ok)
    cfg = yaml.safe_load((full / ".hydra" / "config.yaml").read_text())
    cfg["lora"] = {"enabled": False, "r": 4}
    (full / ".hydra" / "config.yaml").write_text(yaml.safe_dump(cfg))
    jobs = collect(root)
    assert [j.label for j in jobs] == ["lr=1e-4", "lr=1e-3"]
    md = write_report(jobs, tmp_path / "out").read_text()
    assert "| lr = 1e-3 |" in md and "0.001" not in md
    assert "Qwen" not in md and "log10(tiny FLOPs)" in md
    assert "| lr=1e-4 | 20 | 128 | 4 |" in md and "| lr=1e-3 | 20 | 128 | - |" in md
    assert report.applies(jobs[0], "lora.r") and not report.applies(jobs[1], "lora.r")


def test_skill_over_a_near_exact_ode_fit_is_not_reported_as_a_number(sweep, tmp_path):
    """'Skill vs ODE fit' held -5.578e+13 (an ODE fit of noiseless data, MSE ~ 1e-13)."""
    for num, skill in (("0", -5.578e13), ("1", 0.25)):
        path = sweep / num / "metrics.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "skill/ode_fit": skill}))
    md = write_report(collect(sweep), tmp_path / "out").read_text()
    assert "e+13" not in md.replace("-5.578e+13: the", "")  # only in the note that explains it
    (row,) = [ln for ln in md.splitlines() if ln.startswith("| lr = 1e-5 |") and "n/a" in ln]
    assert [ln for ln in md.splitlines() if ln.startswith("| lr = 1e-4 |") and "0.2500" in ln]
    assert any("near-exact" in ln and "`lr = 1e-5`" in ln for ln in md.splitlines())


def test_the_flops_table_names_each_jobs_model_and_its_parameters(tmp_path):
    """A model sweep (``sweep=models``): one row per model, its name and parameter count; one
    model: its name in the header and its size under the table."""
    root = tmp_path / "multirun"
    ok = dict(status="ok", mse=0.5, rmse=0.7071, mae=0.4, r2=0.2, nrmse=8.0, mape=40.0)
    for num, (name, size) in enumerate([("smollm2-135m", 134_515_008), ("gpt2", 124_439_808)]):
        d = _job(root, str(num), "1e-4", metrics={**ok, "parameters": size})
        hydra = {"hydra": {"runtime": {"choices": {"model": name, "optimizer": "adamw"}}}}
        (d / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump(hydra))
        overrides = yaml.safe_load((d / ".hydra" / "overrides.yaml").read_text())
        overrides[overrides.index("model=tiny")] = f"model={name}"
        (d / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    md = write_report(collect(root), tmp_path / "out").read_text()
    assert "| Experiment | Model | Parameters | Steps |" in md
    assert "| smollm2-135m | 134.5M |" in md and "| gpt2 | 124.4M |" in md
    one = tmp_path / "one"
    _job(one, "0", "1e-4", metrics={**ok, "parameters": 1_234_567})
    _job(one, "1", "1e-3", metrics=ok)
    md = write_report(collect(one), tmp_path / "out1").read_text()
    assert "Base model: tiny, 1.235M parameters." in md


def test_jobs_with_the_fields_metrics_show_mase_and_wql(sweep, tmp_path):
    """A job's MASE and WQL (and their intervals from its own bootstrap) join the metric table
    when the jobs have them."""
    for d, (mase, wql) in (("0", (1.25, 0.1)), ("1", (0.75, 0.05))):
        path = sweep / d / "metrics.json"
        m = json.loads(path.read_text())
        path.write_text(json.dumps({**m, "mase": mase, "wql": wql, "mase_ci": [0.5, 2.0]}))
    md = write_report(collect(sweep), tmp_path / "out").read_text()
    assert "| MASE | WQL |" in md
    assert "1.2500 [0.5000, 2.0000]" in md
