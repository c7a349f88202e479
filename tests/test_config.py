"""Every config option and every experiment composes; typos and wrong types fail at composition."""


import pytest
from hydra.errors import ConfigCompositionException

from conftest import REPO, compose

GROUPS = sorted(p.name for p in (REPO / "conf").iterdir()
                if p.is_dir() and p.name not in ("hydra", "bench"))  # bench: llmts-bench's own
OPTIONS = [(g, p.stem) for g in GROUPS for p in sorted((REPO / "conf" / g).glob("*.yaml"))]
BENCH = sorted(p.stem for p in (REPO / "conf" / "bench").glob("*.yaml"))


def test_groups_are_the_documented_ones():
    assert set(GROUPS) == {"model", "lora", "data", "decoding", "optimizer", "train", "eval", "logger",
                           "experiment", "sweep"}


@pytest.mark.parametrize("group, option", OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_option_composes_and_validates(group, option):
    from llmts.validation import check_config

    cfg = compose(f"{group}={option}")
    check_config(cfg)


@pytest.mark.parametrize("option", BENCH)
def test_every_bench_option_composes_and_validates(option):
    from llmts.bench import check_bench

    check_bench(compose(f"bench={option}", config_name="bench").bench)


def test_experiments_hold_only_what_differs():
    for path in (REPO / "conf" / "experiment").glob("*.yaml"):
        assert path.read_text().startswith("# @package _global_"), path


def test_report_settings():
    base = compose("experiment=baseline")
    assert (base.lora.r, base.optimizer.lr, base.data.context_length, base.train.max_steps,
            base.train.batch_size, base.optimizer.weight_decay, base.seed) == (4, 1e-5, 512, 2000, 4, 1e-4, 42)
    best = compose()  # the defaults are the report's final choice
    assert (best.lora.r, best.optimizer.lr, best.data.context_length) == (8, 1e-4, 512)
    assert list(best.lora.target_modules) == ["q_proj", "v_proj"]
    s = compose("experiment=sampling").decoding
    assert (s.do_sample, s.temperature, s.top_k, s.top_p, s.num_samples) == (True, 0.7, 20, 0.8, 20)
    assert compose("experiment=demo").model.source == "random"


@pytest.mark.parametrize("override, error", [
    ("optimizer.lrr=1", ConfigCompositionException),
    ("lora.r=four", ConfigCompositionException),
    ("train.typo=1", ConfigCompositionException),
    ("eval.horizon=1.5", ConfigCompositionException),
])
def test_typos_and_wrong_types_fail_at_composition(override, error):
    with pytest.raises(error):
        compose(override)


def test_unknown_group_option_fails():
    with pytest.raises(Exception, match="model"):
        compose("model=gpt5")
