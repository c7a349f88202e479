"""Sweep expansion and swept keys: the same jobs as Hydra's own basic sweeper."""

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper  # the reference, tests only
from hydra.core.override_parser.overrides_parser import OverridesParser

from llmts.config.sweeps import expand, label, swept_keys, values


def hydra_jobs(args: list[str]) -> list[list[str]]:
    return BasicSweeper.split_arguments(OverridesParser.create().parse_overrides(args), None)[0]


def test_expand_equals_hydras_basic_sweeper():
    args = ["lora.r=2,4,8", "model=tiny", "seed=range(1,3)", "+extra=a,b", "~logger.group",
            "lora.target_modules=[q_proj,v_proj]"]
    assert expand(args) == hydra_jobs(args)
    assert len(expand(args)) == 3 * 2 * 2


def test_sweep_config_params_join_and_the_command_line_wins():
    jobs = expand(["lora.r=4", "seed=1,2"], {"lora.r": "2,4,8", "optimizer.lr": "1e-5,1e-4"})
    assert hydra_jobs(["optimizer.lr=1e-5,1e-4", "lora.r=4", "seed=1,2"]) == jobs
    assert {values(j)["lora.r"] for j in jobs} == {"4"}


def test_swept_keys_compare_numbers_as_numbers_and_ignore_missing():
    jobs = [{"lr": "1e-4", "r": "8", "x": None}, {"lr": "0.0001", "r": "4"}, {"lr": "1e-4"}]
    assert swept_keys(jobs) == ["r"]
    assert swept_keys([{"a": "1"}, {"a": "1"}]) == []
    assert swept_keys([{"a": "1", "b": "2"}, {"b": "3"}]) == ["b"]  # a job without "a": no vote


def test_label_keeps_the_swept_overrides_in_job_order():
    job = ["optimizer.lr=1e-05", "+lora.r=2", "model=tiny"]
    assert label(job, ["lora.r", "optimizer.lr"]) == "optimizer.lr=1e-05,+lora.r=2"
    assert label(job, []) == ""
