"""Sweep report: synthetic Hydra multirun dirs -> tables, CSVs, plots, CLI and callback."""

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

from llmts import report
from llmts.report import SweepReportCallback, collect, format_table, main, write_report

FLOPS = {"0": 2.0e15, "1": 3.0e15}


def _job(root: Path, num: str, lr: str, *, metrics: dict | None, history: bool = True) -> Path:
    d = root / num
    (d / ".hydra").mkdir(parents=True)
    overrides = [f"optimizer.lr={lr}", "lora.r=4", "model=tiny", "train.max_steps=20"]
    (d / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    cfg = {"train": {"max_steps": 20, "batch_size": 4}, "data": {"context_length": 128},
           "lora": {"r": 4}, "optimizer": {"lr": float(lr)}, "model": {"name": "tiny"}}
    (d / ".hydra" / "config.yaml").write_text(yaml.safe_dump(cfg))
    hydra = {"hydra": {"runtime": {"choices": {"model": "tiny", "optimizer": "adamw"}}}}
    (d / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump(hydra))
    if metrics is not None:
        (d / "metrics.json").write_text(json.dumps(metrics))
    if history:
        scale = 1.0 if num == "0" else 0.5
        rows = ["step,loss,lr,tokens_per_s,flops,val_loss", f"0,,{lr},,,{0.9:.4f}"]
        rows += [f"{s},{scale * 2 / s:.4f},{lr},100.0,{s * 1e13},"
                 for s in range(1, 21)]
        rows += [f"10,,{lr},,,{0.9 - 0.2 / scale:.4f}" if scale == 1 else f"10,,{lr},,,{0.3:.4f}",
                 f"20,,{lr},,,{0.5 * scale:.4f}"]
        (d / "train_history.csv").write_text("\n".join(rows) + "\n")
    if num in FLOPS:
        t = FLOPS[num]
        (d / "flops.json").write_text(json.dumps({
            "forward": 1e9, "step": 3e9, "lora_step": 1e7, "steps": 20, "total_base": t * 0.999,
            "total_lora": t * 0.001, "total": t, "log10_total": math.log10(t)}))
    return d


@pytest.fixture
def sweep(tmp_path) -> Path:
    root = tmp_path / "multirun"
    ok = dict(status="ok", mse=0.5, rmse=0.7071, mae=0.4, r2=0.2, nrmse=8.0, mape=40.0)
    _job(root, "0", "1e-5", metrics={**ok, "train_flops": FLOPS["0"],
                                    "baseline/persistence/mse": 1.5, "baseline/persistence/r2": -1.0})
    _job(root, "1", "1e-4", metrics={**ok, "mse": 0.1, "rmse": 0.3162, "mae": 0.45, "r2": 0.8,
                                    "nrmse": 3.0, "mape": 20.0, "train_flops": FLOPS["1"],
                                    "baseline/persistence/mse": 1.5, "baseline/persistence/r2": -1.0})
    _job(root, "2", "5e-5", metrics={"status": "failed", "error": "CUDA out of memory"}, history=False)
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
    assert "| lr = 1e-4 | **0.1000** | **0.3162** | 0.4500 | **0.8000** | **3.0000** | **20.0000** |" in md
    assert "| lr = 1e-5 | 0.5000 | 0.7071 | **0.4000** | 0.2000 | 8.0000 | 40.0000 |" in md
    assert "baseline persistence" in md
    # Table 13 style FLOPs and the sweep total
    total = sum(FLOPS.values())
    assert "| Experiment | Steps | L | r | log10(LoRA FLOPs) | log10(Qwen FLOPs) | log10(Total FLOPs) |" in md
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
    assert jobs[1].status == "incomplete"              # equal via config -> not swept
    md = write_report(jobs, tmp_path / "o").read_text()
    assert "no metrics.json" in md


def test_format_table(sweep):
    text = format_table(collect(sweep))
    lines = text.splitlines()
    assert lines[0].split() == ["job", "status", "mse", "r2", "val_loss", "log10_flops"]
    assert lines[2].split() == ["lr=1e-4", "ok", "0.1000", "0.8000", "0.2500", f"{math.log10(3e15):.3f}"]
    assert lines[3].split()[:2] == ["lr=5e-5", "failed"]


def test_main(sweep, tmp_path, capsys):
    assert main([str(sweep)]) == 0
    out = capsys.readouterr().out
    assert "lr=1e-4" in out and str(sweep / "report.md") in out
    assert (sweep / "report.md").is_file()
    assert main([str(sweep / "0"), str(sweep / "1"), "--out", str(tmp_path / "two")]) == 0
    assert (tmp_path / "two" / "report.md").is_file()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([str(empty)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("llmts-report: error:") and "empty" in err[0]
    assert main([str(tmp_path / "missing")]) == 2


def test_import_has_no_side_effects():
    code = "import sys, llmts.report; assert 'matplotlib' not in sys.modules"
    repo = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], cwd=repo, check=True, timeout=60)


def test_callback(sweep, tmp_path, capsys, monkeypatch):
    warnings: list[str] = []
    monkeypatch.setattr(report.log, "warning", lambda msg, *a: warnings.append(msg % a))
    SweepReportCallback().on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}}))
    assert (sweep / "report.md").is_file() and (sweep / "val_loss.png").is_file()
    assert "lr=1e-4" in capsys.readouterr().out and not warnings
    # failures are logged as one warning line, never raised
    missing = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path / "nope")}}})
    SweepReportCallback().on_multirun_end(missing)
    SweepReportCallback().on_multirun_end(OmegaConf.create({}))
    monkeypatch.setattr(report, "write_report", lambda *a: 1 / 0)
    SweepReportCallback().on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}}))
    assert len(warnings) == 3 and all("\n" not in w for w in warnings)
    assert "ZeroDivisionError" in warnings[2]


def test_callback_in_real_hydra_multirun(tmp_path):
    """A real Hydra multirun calls the callback and the report lands in the sweep dir."""
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "config.yaml").write_text(textwrap.dedent("""\
        optimizer: {lr: 1.0e-05}
        hydra:
          sweep: {dir: "sweep/${now:%H-%M-%S-%f}", subdir: "${hydra:job.num}"}
          callbacks:
            sweep_report: {_target_: llmts.report.SweepReportCallback}
        """))
    (tmp_path / "app.py").write_text(textwrap.dedent("""\
        import json, hydra
        from hydra.core.hydra_config import HydraConfig
        @hydra.main(version_base=None, config_path="conf", config_name="config")
        def app(cfg):
            out = HydraConfig.get().runtime.output_dir
            json.dump({"status": "ok", "mse": cfg.optimizer.lr * 1e4, "r2": 0.5},
                      open(out + "/metrics.json", "w"))
        app()
        """))
    repo = Path(__file__).resolve().parents[1]
    env = {**__import__("os").environ, "PYTHONPATH": str(repo)}
    res = subprocess.run([sys.executable, "app.py", "-m", "optimizer.lr=1e-5,1e-4"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    reports = list((tmp_path / "sweep").glob("*/report.md"))
    assert len(reports) == 1, res.stdout + res.stderr
    md = reports[0].read_text()
    assert "| lr = 1e-5 | **0.1000** |" in md and "lr=1e-4" in res.stdout  # Hydra writes 1e-05, 0.0001
