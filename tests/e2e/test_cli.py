"""End to end: the real ``llmts`` CLI in subprocesses, run dirs in tmp."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import h5py
import pytest

from llmts.errors import LlmtsError
from tests.helpers import REPO, llmts
from tests.helpers.wandb_reader import find_runs, read_run

pytestmark = pytest.mark.slow  # every test here runs the CLI in a subprocess

SMOKE = ["experiment=smoke"]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("smoke") / "run"
    res = llmts(*SMOKE, "logger=wandb", "logger.project=llmts-test", f"hydra.run.dir={run_dir}")
    assert res.returncode == 0, res.stderr[-3000:]
    return run_dir, res


def test_run_writes_every_artifact(smoke_run):
    run_dir, _ = smoke_run
    m = json.loads((run_dir / "metrics.json").read_text())
    for key in (
        "mse",
        "rmse",
        "mae",
        "r2",
        "nrmse",
        "mape",
        "parse_rate",
        "filled_steps",
        "num_series",
        "context_steps",
        "horizon",
        "train_flops",
        "prey/mse",
        "predator/r2",
        "nll_per_dim",
        "nll_per_dim_ci",
        "missing_truth",
    ):
        assert key in m, key
    assert m["status"] == "ok" and m["num_series"] == 4 and m["parse_rate"] == 1.0
    for key in ("mse", "r2", "prey/mse", "physics/negative_share"):  # 95 % bootstrap intervals
        lo, hi = m[f"{key}_ci"]
        assert lo <= m[key] <= hi, key
    assert "ode fit" in m["physics/invariant_skipped"].lower()  # smoke runs no baselines
    with h5py.File(run_dir / "forecasts.h5") as f:
        assert f["context"].shape == (4, 51, 2) and f["truth"].shape == (4, 20, 2)
        assert f["forecast"].shape == (4, 20, 2) and f["series_index"].shape == (4,)
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    assert len(list((run_dir / "plots").glob("series_*.png"))) == 2
    assert (run_dir / "checkpoints" / "step-4" / "adapter" / "adapter_model.safetensors").is_file()
    split = json.loads((run_dir / "split.json").read_text())
    assert sorted(split) == ["test", "train", "val"]
    history = (run_dir / "train_history.csv").read_text().splitlines()
    assert history[0] == "step,loss,lr,tokens_per_s,flops,val_loss" and len(history) == 1 + 4 + 3
    assert json.loads((run_dir / "flops.json").read_text())["steps"] == 4


def test_wandb_offline_run_logged_config_loss_and_metrics(smoke_run):
    run_dir, res = smoke_run
    files = find_runs(run_dir)
    assert len(files) == 1
    run = read_run(files[0])
    assert run["config"]["train"]["max_steps"] == 4 and run["run"]["job_type"] == "train"
    assert (
        "seed=42" in run["run"]["tags"] and run["config"]["setting"] == run["run"]["display_name"]
    )
    losses = [r["train/loss"] for r in run["history"] if "train/loss" in r]
    assert len(losses) == 4
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert run["summary"]["mse"] == pytest.approx(metrics["mse"])
    assert run["summary"]["nll_per_dim"] == pytest.approx(metrics["nll_per_dim"])
    assert "wandb sync" in res.stdout + res.stderr


def test_evaluate_a_saved_checkpoint_reproduces_the_forecast(smoke_run, tmp_path):
    """``run`` (what the CLI calls) in this process: evaluation only, from the saved checkpoint."""
    from llmts.recipes.finetune import finetune as run
    from tests.helpers import compose

    run_dir, _ = smoke_run
    run(
        compose(*SMOKE, "train.max_steps=0", f"eval.checkpoint={run_dir}/checkpoints/step-4"),
        tmp_path,
    )
    with h5py.File(run_dir / "forecasts.h5") as a, h5py.File(tmp_path / "forecasts.h5") as b:
        assert (a["forecast"][()] == b["forecast"][()]).all()
    # no training: log10 of zero FLOPs must still be strict JSON (null, not -Infinity)
    for name in ("flops.json", "metrics.json"):
        strict = json.loads((tmp_path / name).read_text(), parse_constant=lambda c: pytest.fail(c))
        assert "log10_total" in strict or "log10_train_flops" in strict


def test_the_readmes_evaluate_a_checkpoint_command_uses_the_runs_settings(smoke_run, tmp_path):
    """`llmts train.max_steps=0 eval.checkpoint=RUN/checkpoints/step-N`, nothing else: the
    tiny model, its LoRA and data as the run saved them (it used the hub model); the loaded
    checkpoint is named, no FLOPs plan over 0 steps is printed."""
    run_dir, _ = smoke_run
    ckpt = run_dir / "checkpoints" / "step-4"
    out = tmp_path / "eval"
    res = llmts(
        "train.max_steps=0",
        f"eval.checkpoint={ckpt}",
        "logger=none",
        "eval.num_series=4",
        "eval.baselines=false",
        "eval.plot_series=0",
        f"hydra.run.dir={out}",
    )
    assert res.returncode == 0, res.stderr[-3000:]
    log = (out / "llmts.log").read_text()
    assert f"loaded checkpoint {ckpt}" in log and "as trained" in log
    assert "planned training FLOPs" not in res.stdout + log
    with h5py.File(run_dir / "forecasts.h5") as a, h5py.File(out / "forecasts.h5") as b:
        assert (a["forecast"][()] == b["forecast"][()]).all()


def test_forecaster_from_checkpoint_reads_the_runs_settings(smoke_run, tmp_path):
    from llmts import Forecaster

    run_dir, _ = smoke_run
    fc = Forecaster.from_checkpoint(run_dir / "checkpoints" / "step-4")
    assert fc.cfg.model.name == "tiny-qwen2" and fc.cfg.data.context_length == 128
    with h5py.File(run_dir / "forecasts.h5") as f:
        context, evaluated = f["context"][()], f["forecast"][()]
    assert (fc.predict(context, 20).point == evaluated).all()
    import shutil

    copied = shutil.copytree(run_dir / "checkpoints" / "step-4", tmp_path / "copied" / "step-4")
    with pytest.raises(LlmtsError, match="does not match.*pass the model= and lora= options"):
        Forecaster.from_checkpoint(copied, model="tiny", lora="none")  # trained with LoRA


def test_cfg_job_prints_resolved_config():
    res = llmts("--cfg", "job", "model=tiny")
    assert (
        res.returncode == 0
        and "context_length: 512" in res.stdout
        and "name: tiny-qwen2" in res.stdout
    )


@pytest.mark.parametrize(
    "override, message",
    [
        ("data.path=/nonexistent/file.h5", "data.path: no such file: /nonexistent/file.h5"),
        ("optimizer.lr=0", "optimizer.lr=0.0: must be > 0"),
        ("lora.target_modules=[q_proj,qkv]", "qkv not in this qwen2 model; its linear layers: q_"),
        ("data.train_frac=0.9", "must be >= 0 and sum to 1"),
        ("train.flop_budget=1e6", "train.flop_budget: planned"),
        ("eval.bootstrap=-1", "eval.bootstrap=-1: must be >= 0"),
    ],
)
def test_mistakes_end_in_one_line_and_leave_nothing(tmp_path, override, message):
    run_dir = tmp_path / "run"
    res = llmts(*SMOKE, override, f"hydra.run.dir={run_dir}")
    assert res.returncode == 2
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("llmts: error: ") and message in lines[-1], res.stderr[-2000:]
    assert "Traceback" not in res.stderr
    assert not run_dir.exists()


def test_sweep_one_wandb_run_per_job_failures_do_not_stop_it_and_seeds_aggregate(tmp_path):
    """Seeds 1, 2 x a good and a missing data file. A job that fails at run time is recorded as
    failed and the sweep goes on; each job is its own W&B run, named by its swept values and
    grouped by the sweep; jobs that differ only in seed are one row of the report."""
    sweep = tmp_path / "sweep"
    res = llmts(
        "-m",
        *SMOKE,
        "eval.baselines=true",
        "logger=wandb",
        "logger.project=llmts-test",
        "seed=1,2",
        "data.path=null,/nonexistent/file.h5",
        f"hydra.sweep.dir={sweep}",
        timeout=900,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    status = {
        d.name: json.loads((d / "metrics.json").read_text())["status"] for d in sweep.glob("[0-9]")
    }
    assert status == {"0": "ok", "1": "failed", "2": "ok", "3": "failed"}
    for d, seed in (("0", 1), ("2", 2)):
        m = json.loads((sweep / d / "metrics.json").read_text())
        assert {
            "skill/persistence_ci",
            "skill/persistence_horizon",
            "physics/invariant_drift",
            "physics/invariant_drift_truth_ci",
            "baseline/ode_fit/mse_ci",
        } <= set(m)
        with h5py.File(sweep / d / "forecasts.h5") as f:
            assert f["skill/persistence"].shape == (20,) and f["skill/persistence_ci"].shape == (
                2,
                20,
            )
            assert f["physics/negative_share"].shape == (4,)
        files = find_runs(sweep / d)
        assert len(files) == 1  # one run per job, none shared
        run = read_run(files[0])
        assert run["run"]["group"] == sweep.name
        assert run["run"]["display_name"] == f"seed={seed},data.path=null"
        assert f"seed={seed}" in run["run"]["tags"]
        assert run["config"]["seed"] == seed and run["config"]["setting"] == "data.path=null"
        assert run["summary"]["mse"] == pytest.approx(m["mse"])
    report = (sweep / "report.md").read_text()
    assert "Failed jobs" in report and "path=/nonexistent/file.h5" in report
    assert "data.path: no such file: /nonexistent/file.h5" in report
    assert "Seeds 1, 2: jobs that differ only in seed are one row" in report
    # the failed jobs' setting has no ok job: one row, data.path=null, over both seeds
    row = next(r for r in report.splitlines() if r.startswith("| path = null |"))
    mse = [json.loads((sweep / d / "metrics.json").read_text())["mse"] for d in ("0", "2")]
    assert " ± " in row and " [" in row and f"{sum(mse) / 2:.4f}" in row
    assert "## Skill and physical checks" in report and (sweep / "skill.png").is_file()
    summary = (sweep / "summary.csv").read_text().splitlines()
    assert len(summary) == 1 + 4 and sum(",failed," in r for r in summary) == 2  # every job


def test_an_optuna_sweep_gets_past_the_preflight_and_each_job_is_checked_as_it_starts(tmp_path):
    """`llmts -m hydra/sweeper=optuna 'optimizer.lr=tag(log,interval(1e-4,1e-2))'` stopped at
    once ('Can only enumerate CHOICE and RANGE sweeps'): optuna picks the jobs, each runs."""
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    sweep = tmp_path / "sweep"
    res = llmts(
        "-m",
        "hydra/sweeper=optuna",
        "optimizer.lr=tag(log,interval(1e-4,1e-2))",
        *SMOKE,
        "hydra.sweeper.n_trials=1",
        f"hydra.sweep.dir={sweep}",
        timeout=900,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    m = json.loads((sweep / "0" / "metrics.json").read_text())
    assert m["status"] == "ok" and m["final_val_loss"] is not None
    lr = float(
        next(
            o
            for o in (sweep / "0" / ".hydra" / "overrides.yaml").read_text().split()
            if o.startswith("optimizer.lr=")
        ).split("=")[1]
    )
    assert 1e-4 <= lr <= 1e-2


def test_launchers_compose_to_submitit_and_shared_gpu_to_local_jobs_on_gpu_0():
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from llmts.config.compose import register_configs

    register_configs()
    launchers = {}
    with initialize_config_dir(version_base="1.3", config_dir=str(REPO / "conf")):
        for name in ("submitit_local", "submitit_slurm", "shared_gpu"):
            launchers[name] = hydra_compose(
                config_name="config", return_hydra_config=True, overrides=[f"hydra/launcher={name}"]
            ).hydra.launcher
    assert launchers["submitit_local"]._target_.endswith("submitit_launcher.LocalLauncher")
    assert launchers["submitit_slurm"]._target_.endswith("submitit_launcher.SlurmLauncher")
    launcher = launchers["shared_gpu"]
    assert launcher._target_.endswith("submitit_launcher.LocalLauncher")
    assert launcher.gpus_per_node == 1 and launcher.cpus_per_task >= 1
    assert launcher.timeout_min > 60


def log_span(path):
    """(first, last) timestamp of a job's llmts.log."""
    from datetime import datetime

    stamps = [
        datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f")
        for line in path.read_text().splitlines()
        if line.startswith("[20")
    ]
    return stamps[0], stamps[-1]


def test_shared_gpu_launcher_runs_submitit_jobs_side_by_side_with_their_own_threads(tmp_path):
    """hydra/launcher=shared_gpu is submitit_local with settings: real submitit jobs, each a
    subprocess, at the same time, then the sweep report."""
    sweep = tmp_path / "sweep"
    res = llmts(
        "-m",
        *SMOKE,
        "hydra/launcher=shared_gpu",
        "hydra.launcher.cpus_per_task=1",
        "seed=1,2",
        f"hydra.sweep.dir={sweep}",
        timeout=900,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    spans = []
    for d in ("0", "1"):
        assert json.loads((sweep / d / "metrics.json").read_text())["status"] == "ok"
        log = sweep / d / "llmts.log"
        assert "threads: 1 (hydra.launcher.cpus_per_task)" in log.read_text()
        spans.append(log_span(log))
    (a0, a1), (b0, b1) = spans
    assert a0 < b1 and b0 < a1, spans  # the two jobs ran at the same time
    assert len(list((sweep / ".submitit").rglob("*_result.pkl"))) == 2  # real submitit jobs ran
    assert (sweep / "report.md").is_file()


def test_flops_cli_gives_table13_best_row(tmp_path):
    res = llmts(
        "model=qwen2.5-0.5b-instruct",
        "train.batch_size=4",
        "data.context_length=512",
        "lora.r=8",
        "train.max_steps=2000",
        f"output={tmp_path / 'flops.json'}",
        tool="llmts-flops",
    )
    assert res.returncode == 0, res.stderr
    plan = json.loads((tmp_path / "flops.json").read_text())
    assert round(plan["log10_total"], 3) == 16.131
    assert set(plan) >= {
        "forward",
        "step",
        "lora_step",
        "steps",
        "total_base",
        "total_lora",
        "total",
        "log10_total",
        "gqa/total",
    }


def test_flops_cli_writes_a_file_only_when_asked(tmp_path):
    """No run dir, no log, no flops.json unless output= names one (issue 22: every call left
    outputs/runs/<date>/flops.json behind)."""
    res = llmts("model=tiny", "train.max_steps=10", cwd=tmp_path, tool="llmts-flops")
    assert res.returncode == 0 and "FLOPs over 10 steps" in res.stdout, res.stderr
    assert list(tmp_path.iterdir()) == []
    res = llmts(
        "-m",
        "model=tiny",
        "lora.r=2,4",
        f"output={tmp_path / 'sweep.json'}",
        cwd=tmp_path,
        tool="llmts-flops",
    )
    assert res.returncode == 0 and f"wrote {tmp_path / 'sweep.json'}" in res.stdout, res.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["sweep.json"]
    assert len(json.loads((tmp_path / "sweep.json").read_text())["jobs"]) == 2


def test_flops_cli_sweep_total_and_budget():
    ok = llmts("-m", "sweep=context", tool="llmts-flops")
    assert ok.returncode == 0 and "sweep total" in ok.stdout
    assert [line.split()[-1] for line in ok.stdout.splitlines()[1:4]] == [
        "15.215",
        "15.830",
        "16.015",
    ]
    over = llmts("-m", "sweep=lr", "train.flop_budget=1e16", tool="llmts-flops")
    assert over.returncode == 1 and "exceed train.flop_budget" in over.stderr


def test_two_process_data_parallel_on_cpu(tmp_path):
    """torchrun starts 2 CPU processes (gloo); Accelerate syncs them; only rank 0 writes."""
    run_dir = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29517",
        "-m",
        "llmts",
        *SMOKE,
        "train.select=last",  # one checkpoint, the last step's
        f"hydra.run.dir={run_dir}",
    ]
    res = subprocess.run(
        cmd,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert res.returncode == 0, res.stderr[-3000:]
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["status"] == "ok"
    from llmts.perf.flops import flops_plan
    from tests.helpers import compose

    cfg = compose(*SMOKE)
    plan = json.loads((run_dir / "flops.json").read_text())
    global_batch = 2 * cfg.train.batch_size  # each step sees one batch per process
    expected = flops_plan(cfg.model, cfg.lora, global_batch, cfg.data.context_length, 4)
    assert plan["total"] == pytest.approx(expected["total"])
    assert [p.name for p in (run_dir / "checkpoints").iterdir()] == ["step-4"]
    assert res.stdout.count("artifacts in") == 1  # rank 0 alone reports


def test_bf16_training_run_evaluates_end_to_end(tmp_path):
    """The default GPU run crashed at evaluation (bf16 autocast over the forecast: fp32 keys,
    bf16 values in one static cache). The same recipe on CPU: bf16 autocast training over fp32
    (job 0) or bf16 (job 1) weights, then evaluation in the model's own dtype."""
    sweep = tmp_path / "sweep"
    res = llmts(
        "-m",
        "model=tiny",
        "logger=none",
        "train.max_steps=2",
        "train.eval_every=0",
        "eval.num_series=2",
        "eval.baselines=false",
        "data.num_series=30",
        "train.precision=bf16",
        "model.dtype=float32,bfloat16",
        f"hydra.sweep.dir={sweep}",
    )
    assert res.returncode == 0, res.stderr[-3000:]
    for job in ("0", "1"):
        m = json.loads((sweep / job / "metrics.json").read_text())
        assert m["status"] == "ok" and m["parse_rate"] == 1.0 and m["num_series"] == 2, m


def test_a_bad_value_in_any_sweep_job_stops_the_sweep_before_it_starts(tmp_path):
    sweep = tmp_path / "sweep"
    res = llmts("-m", *SMOKE, "lora.r=2,0,8", f"hydra.sweep.dir={sweep}")
    assert res.returncode == 2 and res.stderr.strip() == "llmts: error: lora.r=0: must be >= 1"
    assert not sweep.exists()


ENTRY_POINTS = ["llmts", "llmts-flops"]


@pytest.mark.parametrize("tool", ENTRY_POINTS)
@pytest.mark.parametrize(
    "override, message",
    [
        ("optimizer.schedule=cosin", "expected one of [constant, cosine, linear]"),
        ("train.max_steps=-5", "train.max_steps=-5: must be >= 0"),
        ("data.precision=-1", "data.precision=-1: must be >= 0"),
    ],
)
def test_every_entry_point_refuses_a_bad_value_in_one_line(tmp_path, tool, override, message):
    res = llmts("model=tiny", override, f"hydra.run.dir={tmp_path / 'run'}", tool=tool)
    app = tool
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.count("\n") == 1 and res.stderr.startswith(f"{app}: error: "), res.stderr
    assert message in res.stderr and not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "tool, app, extra",
    [
        ("llmts-bench", "llmts-bench", ["model=tiny"]),
        ("llmts-forecast", "llmts-forecast", ["checkpoint=/ckpt", "input=/series.csv"]),
    ],
)
def test_bench_and_forecast_refuse_a_bad_value_in_one_line(tmp_path, tool, app, extra):
    res = llmts(*extra, "data.precision=-1", f"hydra.run.dir={tmp_path / 'run'}", tool=tool)
    assert res.returncode == 2 and res.stdout == "", res.stderr
    assert res.stderr == f"{app}: error: data.precision=-1: must be >= 0\n"
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("tool, app", [("llmts", "llmts"), ("llmts-flops", "llmts-flops")])
def test_help_names_the_entry_point_and_documents_every_key(tool, app):
    from llmts.config.help import describe

    res = llmts("--help", tool=tool)
    assert res.returncode == 0 and res.stdout.startswith(f"{app}: ")
    keys = [line.split("=", 1)[0].strip() for line in describe() if line.strip()]
    assert len(keys) > 60 and all(f"  {k}=" in res.stdout for k in keys)
    assert "optimizer.schedule=constant [constant|cosine|linear]" in res.stdout


APPS = ("llmts", "llmts-flops", "llmts-forecast", "llmts-bench", "llmts-report", "llmts-pretrain")


@pytest.mark.parametrize("app", APPS)
def test_each_entry_points_help_opens_with_its_own_lines_and_examples(app):
    res = llmts("--help", tool=app)
    head = res.stdout.split("== ", 1)[0]
    assert res.returncode == 0 and head.startswith(f"{app}: "), res.stderr
    examples = [line for line in head.splitlines() if line.startswith(f"  {app} ")]
    assert examples, head
    assert not any(f"  {other} " in head for other in APPS if other != app), head


def test_a_tokenizer_that_merges_digits_stops_the_run_and_spaced_digits_run(tmp_path):
    """Unspaced digits (asked for) stop the run in one line; the default separator (auto)
    spaces them and the log says so."""
    from tests.helpers import digit_pair_tokenizer

    digit_pair_tokenizer().save_pretrained(tmp_path / "tok")
    args = ("experiment=smoke", f"model.tokenizer_path={tmp_path / 'tok'}", "model.vocab_size=400")
    res = llmts(*args, "data.digit_separator=''", f"hydra.run.dir={tmp_path / 'merged'}")
    assert res.returncode == 2
    err = [line for line in res.stderr.splitlines() if line.startswith("llmts: error:")]
    assert len(err) == 1 and "merges '00'" in err[0] and "data.digit_separator=' '" in err[0]
    res = llmts(*args, f"hydra.run.dir={tmp_path / 'spaced'}")
    assert res.returncode == 0, res.stderr[-3000:]
    m = json.loads((tmp_path / "spaced" / "metrics.json").read_text())
    assert m["parse_rate"] == 1.0 and m["nll_per_dim"] is not None
    assert "data.digit_separator=auto: ' '" in (tmp_path / "spaced" / "llmts.log").read_text()
