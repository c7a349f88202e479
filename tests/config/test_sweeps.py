"""A sweep's jobs as the sweeper the config names enumerates them (Hydra's basic sweeper), or
none (a sweeper that picks its jobs as it runs), and the keys a sweep varies."""

import pytest

from llmts.config.sweeps import jobs, label, swept_keys, swept_overrides, values


def sweeper(name: str = "basic", **params: str):
    """The composed ``hydra.sweeper`` of ``hydra/sweeper=<name>`` with these params."""
    from hydra import compose, initialize_config_dir

    from llmts.config.compose import register_configs
    from tests.helpers import REPO

    register_configs()
    with initialize_config_dir(version_base="1.3", config_dir=str(REPO / "conf")):
        node = compose("config", [f"hydra/sweeper={name}"], return_hydra_config=True).hydra.sweeper
    node.params = dict(params) or None
    return node


def test_jobs_are_the_basic_sweepers_product_in_hydras_order():
    args = [
        "lora.r=2,4,8",
        "model=tiny",
        "seed=range(1,3)",
        "+extra=a,b",
        "~logger.group",
        "lora.target_modules=[q_proj,v_proj]",
    ]
    got = jobs(args, sweeper())
    assert len(got) == 3 * 2 * 2
    assert got[0] == [
        "lora.r=2",
        "model=tiny",
        "seed=1",
        "+extra=a",
        "~logger.group=null",
        "lora.target_modules=[q_proj,v_proj]",
    ]
    assert got[1][2:4] == ["seed=1", "+extra=b"]  # the last key varies fastest
    assert [values(j)["lora.r"] for j in got[::4]] == ["2", "4", "8"]


def test_sweep_config_params_join_and_the_command_line_wins():
    got = jobs(
        ["lora.r=4", "seed=1,2"], sweeper(**{"lora.r": "2,4,8", "optimizer.lr": "1e-5,1e-4"})
    )
    assert len(got) == 2 * 2 and {values(j)["lora.r"] for j in got} == {"4"}
    assert {(values(j)["optimizer.lr"], values(j)["seed"]) for j in got} == {
        ("1e-05", "1"),
        ("1e-05", "2"),
        ("0.0001", "1"),
        ("0.0001", "2"),
    }


def test_a_sweeper_that_picks_its_jobs_lists_none_but_names_its_keys():
    """optuna's syntax (interval, tag) is not the basic sweeper's: no jobs beforehand."""
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    args = ["optimizer.lr=tag(log,interval(1e-4,1e-2))", "model=tiny"]
    opt = sweeper("optuna", **{"lora.r": "choice(2,4)"})
    assert jobs(args, opt) is None
    assert swept_overrides(args, opt) == ["lora.r", "optimizer.lr"]


def test_swept_keys_compare_numbers_as_numbers_and_ignore_missing():
    jobs = [{"lr": "1e-4", "r": "8", "x": None}, {"lr": "0.0001", "r": "4"}, {"lr": "1e-4"}]
    assert swept_keys(jobs) == ["r"]
    assert swept_keys([{"a": "1"}, {"a": "1"}]) == []
    assert swept_keys([{"a": "1", "b": "2"}, {"b": "3"}]) == ["b"]  # a job without "a": no vote


def test_label_keeps_the_swept_overrides_in_job_order():
    job = ["optimizer.lr=1e-05", "+lora.r=2", "model=tiny"]
    assert label(job, ["lora.r", "optimizer.lr"]) == "optimizer.lr=1e-05,+lora.r=2"
    assert label(job, []) == ""
