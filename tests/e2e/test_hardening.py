"""Fault injection: what a user sees when a process dies, a file is damaged, a value is wrong, a
server is unreachable or the model writes garbage. Real ``llmts`` subprocesses wherever a process
has to die or print; everything on CPU with the tiny model.

Subprocesses run with one OpenMP thread: on a busy 2-core machine two spinning OpenMP threads per
process make a tiny-model step ~40x slower, and one thread everywhere also makes runs in
different processes bit-identical.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.helpers import REPO, compose, make_h5
from tests.helpers.checkpoints import damaged_copy, save_pristine_checkpoint

ENTRY = "from llmts.cli.main import entry; entry()"
ENV = {
    **os.environ,
    "WANDB_MODE": "offline",
    "WANDB_SILENT": "true",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "HYDRA_FULL_ERROR": "0",
}
# 20 steps, a checkpoint every 5, validation every 2 (smoke), one test series forecast.
BASE = (
    "experiment=smoke",
    "train.max_steps=20",
    "train.save_every=5",
    "train.log_every=1",
    "logger=none",
    "eval.num_series=1",
    "eval.plot_series=0",
)
FAKE_KEY = "5eC7e7f00dfeedbadc0ffee0123456789abcdef0"  # 40 chars, like a W&B API key


def cli_cmd(*args: str) -> list[str]:
    return [sys.executable, "-c", ENTRY, *args]


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    elapsed: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def llmts(*args: str, env: dict | None = None, timeout: float = 400) -> Result:
    t0 = time.monotonic()
    res = subprocess.run(
        cli_cmd(*args),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV if env is None else env,
    )
    return Result(res.returncode, res.stdout, res.stderr, time.monotonic() - t0)


def run_many(jobs: dict[str, tuple[str, ...]], workers: int = 2) -> dict[str, Result]:
    """Several short-lived CLI calls at once (each is mostly imports)."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {name: pool.submit(llmts, *args) for name, args in jobs.items()}
        return {name: f.result() for name, f in futures.items()}


def assert_one_line_error(res: Result, *needles: str) -> str:
    """Exit 2, no traceback, exactly one ``llmts: error:`` line, last on stderr, holding needles."""
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("llmts: error:")]
    assert res.returncode == 2, f"rc={res.returncode}\n{res.stderr[-3000:]}"
    assert "Traceback" not in res.output, res.stderr[-3000:]
    assert len(errors) == 1 and lines[-1] == errors[0], res.stderr[-3000:]
    for needle in needles:
        assert needle in errors[0], f"{needle!r} not in {errors[0]!r}"
    return errors[0]


def read_history(path: Path) -> list[dict]:
    """train_history.csv rows without the wall-clock column."""
    with open(path, newline="") as f:
        return [{k: v for k, v in row.items() if k != "tokens_per_s"} for row in csv.DictReader(f)]


def assert_same_weights(a: Path, b: Path) -> None:
    import torch
    from safetensors.torch import load_file

    wa, wb = load_file(str(a)), load_file(str(b))
    assert wa.keys() == wb.keys() and wa
    different = [k for k in wa if not torch.equal(wa[k], wb[k])]
    assert not different, f"tensors differ: {different[:5]}"


# --------------------------------------------------------------------------------------------
# 1. SIGKILL mid-training, then train.resume=auto == an uninterrupted run


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> Path:
    """The uninterrupted reference run of BASE."""
    run_dir = tmp_path_factory.mktemp("full") / "run"
    res = llmts(*BASE, f"hydra.run.dir={run_dir}")
    assert res.returncode == 0, res.stderr[-3000:]
    return run_dir


@pytest.mark.slow
def test_sigkill_mid_training_then_resume_auto_equals_uninterrupted_run(full_run, tmp_path):
    """kill -9 after checkpoints/step-10, plant what a kill during a checkpoint write leaves
    (a ``.tmp-step-N-*`` folder, here even holding a state.json) plus a ``step-N`` folder without
    state.json, then rerun with train.resume=auto: it resumes from the newest complete
    checkpoint, warns about the partial one, never loads either, and ends bit-identical to the
    uninterrupted run."""
    run_dir = tmp_path / "run"
    root = run_dir / "checkpoints"
    out = open(tmp_path / "killed.log", "w")
    proc = subprocess.Popen(
        cli_cmd(*BASE, f"hydra.run.dir={run_dir}"),
        cwd=REPO,
        env=ENV,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 300
        while not (root / "step-10").exists():
            assert proc.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "no checkpoints/step-10 after 300 s"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        out.close()
    assert not (root / "step-20").exists(), "killed too late: nothing left to resume"
    assert not (run_dir / "metrics.json").exists()
    latest = max(int(p.name[5:]) for p in root.glob("step-*") if (p / "state.json").is_file())
    assert latest <= 15
    partial = root / f".tmp-step-{latest + 5}-x1y2"  # interrupted after state.json, before rename
    partial.mkdir()
    (partial / "trainable.safetensors").write_bytes(os.urandom(300))
    (partial / "optimizer.pt").write_bytes(b"\x80garbage")
    (partial / "state.json").write_text(json.dumps({"step": latest + 5, "history": []}))
    unfinished = root / f"step-{latest + 5}"  # final name, no state.json (tampered with)
    unfinished.mkdir(exist_ok=True)
    (unfinished / "state.json").unlink(missing_ok=True)
    (unfinished / "trainable.safetensors").write_bytes(b"not safetensors")

    res = llmts(*BASE, "train.resume=auto", f"hydra.run.dir={run_dir}")
    assert res.returncode == 0, res.stderr[-3000:]
    assert re.search(rf"resumed from \S*step-{latest} at step {latest}\b", res.output), res.output[
        -3000:
    ]
    warned = [line for line in res.output.splitlines() if partial.name in line]
    assert warned and all("WARNING" in line for line in warned), res.output[-3000:]

    assert_same_weights(
        full_run / "checkpoints/step-20/trainable.safetensors",
        root / "step-20/trainable.safetensors",
    )
    assert read_history(run_dir / "train_history.csv") == read_history(
        full_run / "train_history.csv"
    )
    with h5py.File(full_run / "forecasts.h5") as a, h5py.File(run_dir / "forecasts.h5") as b:
        assert np.array_equal(a["forecast"][()], b["forecast"][()])
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "ok"


# --------------------------------------------------------------------------------------------
# 2./3. Killed during a checkpoint write, damaged checkpoints passed explicitly: the rules
#    themselves in tests/train/test_checkpoint.py; here through the CLI


@pytest.fixture(scope="module")
def pristine_checkpoint(tmp_path_factory):
    return save_pristine_checkpoint(tmp_path_factory.mktemp("pristine"))


# Subprocess cases: (overrides, strings the error line must hold, run dir must not exist).
def _quick_jobs(
    base: Path, pristine: Path
) -> dict[str, tuple[tuple[str, ...], tuple[str, ...], bool]]:
    jobs: dict = {}
    smoke = ("experiment=smoke", "eval.num_series=1", "eval.plot_series=0")
    # 3. damaged checkpoint through train.resume / eval.checkpoint
    for name, case, key in (
        ("resume truncated trainable", "trainable truncated", "train.resume"),
        ("eval damaged state", "state not json", "eval.checkpoint"),
    ):
        folder, file = damaged_copy(pristine, base / name.replace(" ", "_"), case)
        steps = "train.max_steps=8" if key == "train.resume" else "train.max_steps=0"
        jobs[name] = ((*smoke, steps, f"{key}={folder}"), (str(folder), file), False)
    # 7. a bad config value (the others: test_bad_config_value_is_one_line_naming_the_key)
    jobs["lora.r=0"] = ((*smoke, "train.max_steps=1", "lora.r=0"), ("lora.r=0",), True)
    # 8. bad HDF5 files
    nan = np.abs(np.random.default_rng(0).normal(size=(6, 80, 2))) + 0.1
    nan[3, 40, 1] = np.nan
    nan_h5 = make_h5(base / "with_nan.h5", nan)
    jobs["h5 nan"] = (
        (*smoke, "train.max_steps=1", f"data.path={nan_h5}"),
        (str(nan_h5), "non-finite"),
        True,
    )
    return jobs


@pytest.fixture(scope="module")
def quick_failures(tmp_path_factory, pristine_checkpoint):
    """Every CLI call that must fail fast, run two at a time; {name: (Result, expected,
    run_dir)}."""
    base = tmp_path_factory.mktemp("quick")
    jobs = _quick_jobs(base, pristine_checkpoint[1])
    dirs = {
        name: base
        / "runs"
        / name.replace(" ", "_")
        .replace("=", "-")
        .replace("[", "")
        .replace("]", "")
        .replace(",", "_")
        for name in jobs
    }
    results = run_many(
        {name: (*args, f"hydra.run.dir={dirs[name]}") for name, (args, _, _) in jobs.items()}
    )
    return {name: (results[name], jobs[name][1], jobs[name][2], dirs[name]) for name in jobs}


QUICK = ["resume truncated trainable", "eval damaged state", "lora.r=0", "h5 nan"]


@pytest.mark.slow
@pytest.mark.parametrize("case", QUICK)
def test_cli_failure_is_one_line_and_leaves_nothing_half_written(quick_failures, case):
    res, needles, no_run_dir, run_dir = quick_failures[case]
    assert_one_line_error(res, *needles)
    if no_run_dir:
        assert not run_dir.exists(), sorted(p.name for p in run_dir.iterdir())
    else:  # failed after writing the plan: the run dir says why, and holds nothing else of note
        assert json.loads((run_dir / "metrics.json").read_text())["status"] == "failed"
        assert not (run_dir / "checkpoints").exists() and not (run_dir / "forecasts.h5").exists()


BAD_VALUES = [
    ("lora.r=0", "lora.r"),
    ("data.context_length=3", "data.context_length"),
    ("eval.horizon=0", "eval.horizon"),
    ("decoding.num_samples=0", "decoding.num_samples"),
    ("train.batch_size=0", "train.batch_size"),
    ("decoding.cache_implementation=paged", "decoding.cache_implementation"),
    ("eval.context_steps=0", "eval.context_steps"),
    ("optimizer.betas=[0.9,1.5]", "optimizer.betas"),
    ("optimizer.weight_decay=-1", "optimizer.weight_decay"),
    ("optimizer.max_grad_norm=-1", "optimizer.max_grad_norm"),  # would flip gradients
    ("optimizer.schedule=cosin", "optimizer.schedule"),
    ("data.precision=-1", "data.precision=-1"),
    ("train.max_steps=-5", "train.max_steps"),
    ("lora.target_modules=[qkv]", "lora.target_modules"),
    ("model=gpt5", "model/gpt5"),
    # the llmts decode loop builds its own 4-D masks: caught before training
    ("model.attn_implementation=flash_attention_2", "set decoding.engine=hf"),
]


@pytest.mark.parametrize("override, key", BAD_VALUES)
def test_bad_config_value_is_one_line_naming_the_key(override, key):
    """``preflight`` is every entry point's first call (before Hydra makes a run dir), so an
    LlmtsError here is exactly the CLI's one line + exit 2 + no run dir (shown end to end below
    and in test_cli for each entry point)."""
    from llmts.config.compose import register_configs
    from llmts.config.preflight import preflight
    from llmts.errors import LlmtsError
    from llmts.recipes.finetune import check_job as check_run

    register_configs()
    with pytest.raises(LlmtsError) as err:
        preflight(["experiment=smoke", override], checker=check_run)
    assert key in str(err.value) and "\n" not in str(err.value), str(err.value)


@pytest.mark.slow
def test_unreachable_hub_model_fails_fast_and_suggests_tiny(tmp_path):
    """Online mode against a hub that refuses connections (a closed loopback port) and an empty
    cache: the same on a machine with network, which must not start downloading Qwen."""
    env = {k: v for k, v in ENV.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(HF_ENDPOINT="http://127.0.0.1:9", HF_HOME=str(tmp_path / "hf"))
    run_dir = tmp_path / "run"
    res = llmts(
        "experiment=smoke", "model=qwen2.5-0.5b-instruct", f"hydra.run.dir={run_dir}", env=env
    )
    line = assert_one_line_error(res, "model=tiny")
    assert "unreachable" in line or "offline" in line, line
    # fast by the probe (one connect, 3 s timeout), not after the hub client's retries; the
    # time itself is printed, not asserted
    assert "not in the local Hugging Face cache" in line, line
    print(f"unreachable hub: the error after {res.elapsed:.0f} s")
    assert not run_dir.exists()


# --------------------------------------------------------------------------------------------
# 4. Non-finite loss: stops with the step, keeps the last good checkpoint, metrics.json says why


@pytest.mark.slow
def test_non_finite_loss_stops_with_step_and_keeps_last_good_checkpoint(tmp_path):
    """lr=1e30 blows the LoRA weights up after step 1 (finite, ~1e30); step 2's forward
    overflows float32: a deterministic NaN through the real CLI."""
    import torch
    from safetensors.torch import load_file

    run_dir = tmp_path / "run"
    res = llmts(
        "experiment=smoke",
        "optimizer.lr=1e30",
        "train.save_every=1",
        "train.select=last",  # checkpoints by save_every only
        "eval.plot_series=0",
        f"hydra.run.dir={run_dir}",
    )
    line = assert_one_line_error(res, "step 2", "non-finite")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert (
        metrics["status"] == "failed"
        and "step 2" in metrics["error"]
        and "non-finite" in metrics["error"]
    )
    root = run_dir / "checkpoints"
    assert sorted(p.name for p in root.iterdir()) == ["step-1"], line
    assert (root / "step-1" / "state.json").is_file()
    weights = load_file(str(root / "step-1" / "trainable.safetensors"))
    assert all(bool(torch.isfinite(t).all()) for t in weights.values())
    assert not (run_dir / "forecasts.h5").exists()


# --------------------------------------------------------------------------------------------
# 5. Two processes creating the cached simulated dataset at once


_CREATE = r"""
import hashlib, sys, time, pathlib
import h5py, scipy.integrate  # imported before the start signal: the race is on the work itself
from llmts.config.schema import DataConfig
from llmts.data.series import load_dataset, simulated_path
import logging; logging.basicConfig(level=logging.INFO)
cfg = DataConfig(cache_dir=sys.argv[1], num_series=300)
go = pathlib.Path(sys.argv[2])
pathlib.Path(sys.argv[3]).touch()  # ready
while not go.exists():
    time.sleep(0.001)
path = simulated_path(cfg, 7)
ds = load_dataset(cfg, 7)
print(path, hashlib.sha256(ds.series.tobytes()).hexdigest(), ds.series.shape)
"""

_WATCH = r"""
import hashlib, sys, time, pathlib
import h5py
from llmts.config.schema import DataConfig
from llmts.data.series import load_dataset
cache = pathlib.Path(sys.argv[1])
pathlib.Path(sys.argv[3]).touch()  # ready
deadline = time.monotonic() + 120
while time.monotonic() < deadline:  # read the final file the instant it appears
    found = list(cache.glob("lotka_volterra_*.h5")) if cache.is_dir() else []
    if found:
        ds = load_dataset(DataConfig(path=str(found[0])), 7)
        print(found[0], hashlib.sha256(ds.series.tobytes()).hexdigest(), ds.series.shape)
        break
    time.sleep(0.0005)
"""


@pytest.mark.slow
def test_concurrent_dataset_creation_gives_one_valid_file(tmp_path):
    cache, go = tmp_path / "cache", tmp_path / "go"
    env = {**ENV, "LLMTS_CACHE": str(tmp_path / "unused")}
    ready = [tmp_path / f"ready{i}" for i in range(3)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(cache), str(go), str(r)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for code, r in zip((_CREATE, _CREATE, _WATCH), ready)
    ]
    deadline = time.monotonic() + 120
    while not all(r.exists() for r in ready):  # all three done importing
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
        time.sleep(0.01)
    go.touch()
    outs = [p.communicate(timeout=180) for p in procs]
    for p, (_out, err) in zip(procs, outs):
        assert p.returncode == 0 and "Traceback" not in err, err[-3000:]
    lines = [out.split() for out, _ in outs]
    assert all(len(parts) >= 3 for parts in lines), outs
    assert len({parts[0] for parts in lines}) == 1 and len({parts[1] for parts in lines}) == 1, (
        lines
    )
    assert [p.name for p in cache.iterdir()] == [Path(lines[0][0]).name]  # no .tmp left behind
    assert lines[0][2:] == ["(300,", "100,", "2)"]


# --------------------------------------------------------------------------------------------
# 6. W&B unreachable while an API key is set


def _log_time(line: str) -> datetime:
    return datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f")


@pytest.mark.slow
def test_wandb_unreachable_with_api_key_goes_offline_and_leaks_no_key(tmp_path):
    env = {k: v for k, v in ENV.items() if not k.startswith("WANDB_")}
    env["WANDB_API_KEY"] = FAKE_KEY
    run_dir = tmp_path / "run"
    res = llmts(
        "experiment=smoke",
        "logger=wandb",
        "logger.project=llmts-test",
        "logger.init_timeout=4",
        "eval.num_series=1",
        "eval.plot_series=1",
        f"hydra.run.dir={run_dir}",
        env=env,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Traceback" not in res.output
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "ok"
    said = [line for line in res.output.splitlines() if "logging offline" in line]
    assert len(said) == 1, said
    # The notice is logged once the tracker is made (its wait, about logger.init_timeout, is
    # printed, not asserted: a loaded machine takes longer).
    log_lines = (run_dir / "llmts.log").read_text().splitlines()
    before = next(line for line in log_lines if "trainable parameters" in line)
    notice = next(line for line in log_lines if "logging offline" in line)
    assert log_lines.index(before) < log_lines.index(notice)
    print(f"W&B fallback: {(_log_time(notice) - _log_time(before)).total_seconds():.1f} s")
    assert list((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    # The key is nowhere: not in any file of the run (configs, logs, the binary .wandb files),
    # not in the console output, not persisted to the user's credentials.
    needles = (FAKE_KEY.encode(), FAKE_KEY[8:32].encode())
    leaked = [
        str(p)
        for p in run_dir.rglob("*")
        if p.is_file() and any(n in p.read_bytes() for n in needles)
    ]
    assert not leaked, leaked
    assert FAKE_KEY[8:32] not in res.output
    for cred in (Path.home() / ".netrc", Path.home() / ".config" / "wandb" / "settings"):
        assert not cred.is_file() or FAKE_KEY[8:32] not in cred.read_text(errors="ignore")


# --------------------------------------------------------------------------------------------
# 8. Constant and all-zero series in a user file


@pytest.mark.slow
def test_constant_and_all_zero_series_run_to_finite_metrics(tmp_path):
    from llmts.codec.llmtime import scale_of
    from llmts.config.schema import DataConfig
    from llmts.data.split import split_indices

    n = 12
    traj = np.zeros((n, 80, 2))
    for i in range(1, n, 2):
        traj[i] = 0.5 * i  # constant series; even series stay all zero
    path = make_h5(tmp_path / "flat.h5", traj)
    fracs = ("data.train_frac=0.5", "data.val_frac=0.25", "data.test_frac=0.25")
    test = split_indices(n, DataConfig(train_frac=0.5, val_frac=0.25, test_frac=0.25), 42).test
    assert {i % 2 for i in test} == {0, 1}  # both kinds are forecast and scored
    assert scale_of(traj[0]) == 1.0 and scale_of(traj[1]) == 0.5

    from llmts.recipes.finetune import finetune as run  # what the CLI runs, here

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    run(
        compose(
            "experiment=smoke",
            "train.max_steps=2",
            f"data.path={path}",
            *fracs,
            "eval.baselines=true",
        ),
        run_dir,
    )
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["status"] == "ok" and m["num_series"] == len(test)
    for key in ("mse", "rmse", "mae", "r2", "nrmse", "mape", "baseline/persistence/mse"):
        assert isinstance(m[key], (int, float)) and math.isfinite(m[key]), (key, m[key])
    with h5py.File(run_dir / "forecasts.h5") as f:
        assert np.isfinite(f["forecast"][()]).all()


# --------------------------------------------------------------------------------------------
# 9. decode_forecast is total: fuzz


def _fuzz_strings(rng: np.random.Generator) -> list[str]:
    fixed = [
        "",
        ";",
        ";;;;",
        ",",
        ",,;",
        "-",
        "--1;",
        "-;",
        ".",
        ".;",
        "1.2.3;",
        "1.2.3,4;",
        "1e5;",
        "1E5,2;",
        "inf;",
        "nan,nan;",
        "Infinity;",
        "-inf,1;",
        "0x1f;",
        "1_000;",
        "٣;",
        "٣.٣,١;",
        "１２;",
        "³;",
        "½;",
        "1.٣;",
        "\u0661\u0662,3;",
        " 1 , 2 ;",
        "\t1,\n2;",
        "9" * 400 + ";",
        "9" * 13 + ";",
        "1" * 12 + ".99,2;",
        "-" + "9" * 12 + ";",
        "0." + "0" * 5000 + "1;",
        "." + "9" * 1000 + ";",
        "1;" * 50_000,
        "1,2,3;" * 20_000,
        "x" * 100_000,
        ";" * 100_000,
        "1.23",
        "1.23,",
        "1.23,4.5",
        "-0.00,-0.00;",
        "+1;",
        "1.;",
        ".5;",
        "-.5,-.5;",
        "00001.50;",
        "1,2;3,4;5,6",
        "\x00;\x00",
        "\ud800;",
        "1,2;" + "\u202e" + "3,4;",
        "ab,cd;ef;",
        "1 2;",
        "1,,2;",
        ",1,2;",
        "1,2,;",
    ]
    out = list(fixed)
    alphabet = np.array(list("0123456789.,;- \n"))
    for _ in range(6000):
        k = int(rng.integers(0, 120))
        out.append("".join(rng.choice(alphabet, size=k)))
    for _ in range(2500):
        raw = rng.integers(0, 256, size=int(rng.integers(0, 80)), dtype=np.uint8)
        out.append(bytes(raw).decode("latin-1"))
    for _ in range(2000):  # nearly well-formed: valid steps with one mutation
        steps = (
            ";".join(
                ",".join(f"{v:.2f}" for v in rng.normal(0, 3, size=int(rng.integers(1, 4))))
                for _ in range(int(rng.integers(0, 25)))
            )
            + ";"
        )
        if steps and rng.random() < 0.8:
            i = int(rng.integers(0, len(steps)))
            steps = steps[:i] + str(rng.choice(list("0.,;-٣e\n "))) + steps[i + 1 :]
        out.append(steps)
    for _ in range(10):
        out.append("".join(rng.choice(alphabet, size=100_000)))
    return out


def test_fuzz_decode_forecast_never_raises_and_is_always_finite():
    from llmts.codec.llmtime import decode_forecast

    rng = np.random.default_rng(0)
    strings = _fuzz_strings(rng)
    assert len(strings) >= 10_000
    for text in strings:
        horizon = int(rng.integers(1, 30))
        for d in (1, 2, 3):
            scale = float(rng.choice([1.0, 0.37, 2.88, 1e-8, 1e8]))
            last = rng.normal(0, 5, size=d)
            fc = decode_forecast(text, d, horizon, scale, last)
            assert fc.values.shape == (horizon, d), (text[:80], d)
            assert np.isfinite(fc.values).all(), (text[:80], d)
            assert 0 <= fc.parsed <= horizon and fc.malformed >= 0, (text[:80], d)
            assert fc.parsed + fc.malformed <= horizon, (text[:80], d)


def test_decode_forecast_round_trips_well_formed_text():
    from llmts.codec.llmtime import decode_forecast, encode

    rng = np.random.default_rng(1)
    for _ in range(500):
        d, h = int(rng.integers(1, 4)), int(rng.integers(1, 25))
        x = rng.normal(0, 3, size=(h, d))
        fc = decode_forecast(encode(x, 2.0), d, h, 2.0, np.zeros(d))
        assert fc.parsed == h and fc.malformed == 0
        assert np.allclose(fc.values, np.round(x / 2.0, 2) * 2.0)


def test_decode_forecast_stays_finite_for_a_huge_but_finite_scale():
    """Data may hold any finite value; α = 1e300 is legal. A step that parses (≤ 1e12 scaled)
    but overflows once multiplied by α must count as malformed, not come back as inf."""
    from llmts.codec.llmtime import decode_forecast

    fc = decode_forecast("999999999999;0.5;", 1, 3, 1e300, np.array([1e300]))
    assert np.isfinite(fc.values).all(), fc.values


# --------------------------------------------------------------------------------------------
# 10. Security: loading never runs code, no remote code, checkpoints hold only data


SOURCES = sorted((REPO / "llmts").rglob("*.py"))


def _calls(source: str, name: str) -> list[str]:
    """Every ``name(...)`` call in ``source`` with its full argument text (parens balanced)."""
    calls = []
    for m in re.finditer(re.escape(name) + r"\s*\(", source):
        depth, i = 0, m.end() - 1
        while i < len(source):
            depth += {"(": 1, ")": -1}.get(source[i], 0)
            if depth == 0:
                break
            i += 1
        calls.append(source[m.start() : i + 1])
    return calls


def test_every_torch_load_is_weights_only():
    assert SOURCES
    unsafe = [
        f"{p.name}: {call}"
        for p in SOURCES
        for call in _calls(p.read_text(), "torch.load")
        if not re.search(r"weights_only\s*=\s*True", call)
    ]
    assert not unsafe, unsafe
    for p in SOURCES:
        text = p.read_text()
        assert not re.search(
            r"\bpickle\.loads?\(|allow_pickle\s*=\s*True|\bjoblib\.load\(", text
        ), p.name


def test_no_remote_code_anywhere():
    offenders = [
        p.name for p in SOURCES if re.search(r"trust_remote_code\s*=\s*True", p.read_text())
    ]
    assert not offenders, offenders
    confs = [
        p.name for p in (REPO / "conf").rglob("*.yaml") if "trust_remote_code" in p.read_text()
    ]
    assert not confs, confs


@pytest.mark.slow
def test_checkpoints_hold_only_data_files(full_run):
    import torch

    files = [p for p in (full_run / "checkpoints").rglob("*") if p.is_file()]
    assert files
    # .md: the model card peft writes next to the adapter (plain text, never loaded).
    odd = [str(p) for p in files if p.suffix not in (".safetensors", ".pt", ".json", ".md")]
    assert not odd, odd
    assert not [p for p in (full_run / "checkpoints").iterdir() if p.name.startswith(".tmp")]
    for p in files:
        if p.suffix == ".pt":
            torch.load(p, map_location="cpu", weights_only=True)  # tensors and plain values only
