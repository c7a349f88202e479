"""Every config option and every experiment composes; typos and wrong types fail at composition."""


import pytest
from hydra.errors import ConfigCompositionException

from conftest import REPO, compose

from llmts.compose import DEFAULT_OPTION
from llmts.config import GROUPS, check

YAML_OPTIONS = [(p.parent.name, p.stem) for p in sorted((REPO / "conf").glob("*/*.yaml"))
                if p.parent.name not in ("hydra", "bench")]  # bench: llmts-bench's own group
OPTIONS = sorted(set(YAML_OPTIONS) | set(DEFAULT_OPTION.items()))
BENCH = sorted(p.stem for p in (REPO / "conf" / "bench").glob("*.yaml")) + ["default"]


def test_groups_are_the_documented_ones():
    yaml_groups = {g for g, _ in YAML_OPTIONS}
    assert set(GROUPS) | yaml_groups == {"model", "lora", "data", "decoding", "optimizer", "train",
                                         "eval", "logger", "experiment", "sweep"}


@pytest.mark.parametrize("group, option", OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_option_composes_and_validates(group, option):
    check(compose(f"{group}={option}"))


@pytest.mark.parametrize("group, option", [o for o in YAML_OPTIONS if o[0] in GROUPS],
                         ids=[f"{g}={o}" for g, o in YAML_OPTIONS if g in GROUPS])
def test_group_yamls_hold_only_what_differs_from_the_dataclass(group, option):
    """No group option restates a default of its dataclass (the dataclass is the default)."""
    from omegaconf import OmegaConf

    raw = OmegaConf.load(REPO / "conf" / group / f"{option}.yaml")
    defaults = OmegaConf.structured(GROUPS[group])
    same = [k for k in raw if k != "defaults" and k in defaults and raw[k] == defaults[k]]
    assert same == [], f"{group}/{option}.yaml restates defaults: {same}"


@pytest.mark.parametrize("name", sorted(p.stem for p in (REPO / "conf" / "experiment").glob("*.yaml")))
def test_experiments_hold_only_what_differs(name):
    """An experiment is a `# @package _global_` file whose every value changes the config it
    is applied to (the defaults)."""
    from omegaconf import OmegaConf

    path = REPO / "conf" / "experiment" / f"{name}.yaml"
    assert path.read_text().startswith("# @package _global_"), path
    raw, base = OmegaConf.load(path), compose()

    def leaves(node, prefix=""):
        for k, v in node.items():
            if k == "defaults":
                continue
            if OmegaConf.is_dict(v):
                yield from leaves(v, f"{prefix}{k}.")
            else:
                yield f"{prefix}{k}", v

    same = [k for k, v in leaves(raw) if OmegaConf.select(base, k) == v]
    assert same == [], f"{name}.yaml restates defaults: {same}"


@pytest.mark.parametrize("option", BENCH)
def test_every_bench_option_composes_and_validates(option):
    from llmts.bench import check_all

    check_all(compose(f"bench={option}", config_name="bench"))


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
    ("optimizer.schedule=cosin", ConfigCompositionException),
    ("lora.target_modules=[qkv]", ConfigCompositionException),
    ("model.dtype=float64", ConfigCompositionException),
])
def test_typos_and_wrong_types_fail_at_composition(override, error):
    with pytest.raises(error):
        compose(override)


def test_unknown_group_option_fails():
    with pytest.raises(Exception, match="model"):
        compose("model=gpt5")
