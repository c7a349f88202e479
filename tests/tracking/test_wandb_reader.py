"""The offline ``.wandb`` reader decodes a real wandb offline run."""

from __future__ import annotations

import pytest

from tests.helpers.wandb_reader import find_runs, iter_records, read_run


@pytest.fixture
def offline_env(tmp_path, monkeypatch):
    """Keep wandb offline, quiet and inside tmp_path."""
    for var, val in {
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "WANDB_DIR": tmp_path,
        "WANDB_CONFIG_DIR": tmp_path / "cfg",
        "WANDB_CACHE_DIR": tmp_path / "cache",
        "WANDB_DATA_DIR": tmp_path / "data",
        "WANDB_CONSOLE": "off",
    }.items():
        monkeypatch.setenv(var, str(val))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    return tmp_path


def test_reads_real_offline_run(offline_env):
    wandb = pytest.importorskip("wandb")
    run = wandb.init(
        project="llmts-test",
        group="sweep-g",
        name="job-1",
        job_type="train",
        tags=["t1"],
        config={
            "lr": 1e-4,
            "lora": {"r": 8},
            "model": "tiny",
            "blob": "x" * 40000,
        },  # > one 32 KiB block
        dir=str(offline_env),
    )
    for step in range(300):  # many records: several blocks, padding at block tails
        run.log({"train/loss": 1.0 / (step + 1), "note": "n" * (step % 37)}, step=step)
    run.log({"val/loss": 0.25}, step=300)
    run.summary["eval/mse"] = 0.5
    run.finish()

    files = find_runs(offline_env)
    assert len(files) == 1 and files[0].name.startswith("run-")
    r = read_run(files[0])  # waits for wandb-core to flush the file (it may lag run.finish())
    assert r["run"]["exit_code"] == 0
    assert files[0].stat().st_size > 2 * 32 * 1024
    assert sum(1 for _ in iter_records(files[0])) > 300
    assert r["run"]["group"] == "sweep-g"
    assert r["run"]["name"] == r["run"]["display_name"] == "job-1"
    assert r["run"]["job_type"] == "train"
    assert r["run"]["project"] == "llmts-test"
    assert r["run"]["tags"] == ["t1"]
    assert r["config"]["lr"] == pytest.approx(1e-4)
    assert r["config"]["lora"] == {"r": 8}
    assert r["config"]["model"] == "tiny"
    assert r["config"]["blob"] == "x" * 40000
    assert "_wandb" not in r["config"]

    hist = r["history"]
    train = [h for h in hist if "train/loss" in h]
    assert [h["_step"] for h in train] == list(range(300))
    assert train[3]["train/loss"] == pytest.approx(0.25)
    assert train[36]["note"] == "n" * 36
    assert [h["val/loss"] for h in hist if "val/loss" in h] == [pytest.approx(0.25)]

    assert r["summary"]["eval/mse"] == pytest.approx(0.5)
    assert r["summary"]["val/loss"] == pytest.approx(0.25)
    assert r["summary"]["train/loss"] == pytest.approx(1.0 / 300)


def test_rejects_non_wandb_file(tmp_path):
    bad = tmp_path / "run-x.wandb"
    bad.write_bytes(b"not a wandb file")
    with pytest.raises(ValueError):
        read_run(bad)
    assert find_runs(tmp_path) == [bad]
