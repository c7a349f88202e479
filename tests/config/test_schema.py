"""Every config option and every experiment composes; typos and wrong types fail at composition."""

import pytest

from llmts.config.compose import default_options
from llmts.config.schema import GROUPS, check
from llmts.errors import LlmtsError
from tests.helpers import REPO, compose

YAML_OPTIONS = [
    (p.parent.name, p.stem)
    for p in sorted((REPO / "conf").glob("*/*.yaml"))
    if p.parent.name not in ("hydra", "bench", "benchmark")
]  # bench, benchmark: llmts-bench's and llmts-benchmark's own groups
OPTIONS = sorted(set(YAML_OPTIONS) | set(default_options().items()))
BENCH = sorted(p.stem for p in (REPO / "conf" / "bench").glob("*.yaml")) + ["default"]
SUITES = sorted(p.stem for p in (REPO / "conf" / "benchmark").glob("*.yaml"))


def test_groups_are_the_documented_ones():
    yaml_groups = {g for g, _ in YAML_OPTIONS}
    assert set(GROUPS) | yaml_groups == {
        "model",
        "lora",
        "data",
        "decoding",
        "optimizer",
        "train",
        "eval",
        "logger",
        "experiment",
        "sweep",
    }


def entry_points():
    """(entry point, primary config, checker, extra args, option) for every option each entry
    point composes: llmts and llmts-flops share `config`; llmts-bench adds its `bench` group;
    llmts-forecast takes the model/lora/data/decoding groups."""
    from llmts.config import bench, benchmark, flops, forecast
    from llmts.config.compose import register_configs

    benchmark.register()
    bench.register()
    forecast.register()
    flops.register()
    register_configs()
    cases = []
    for group, option in OPTIONS:
        cases.append(("llmts", "config", check, [], f"{group}={option}"))
        cases.append(("llmts-flops", "flops", flops.FlopsConfig.check, [], f"{group}={option}"))
        if group in GROUPS:
            cases.append(
                ("llmts-bench", "bench", bench.BenchRunConfig.check, [], f"{group}={option}")
            )
            cases.append(
                (
                    "llmts-benchmark",
                    "benchmark",
                    benchmark.BenchmarkRunConfig.check,
                    ["benchmark.paths=[a.csv]"],
                    f"{group}={option}",
                )
            )
        if group in ("model", "lora", "data", "decoding"):
            cases.append(
                (
                    "llmts-forecast",
                    "forecast",
                    forecast.ForecastConfig.check,
                    ["checkpoint=/ckpt", "input=/series.csv"],
                    f"{group}={option}",
                )
            )
    cases += [("llmts-bench", "bench", bench.BenchRunConfig.check, [], f"bench={o}") for o in BENCH]
    cases += [
        ("llmts-benchmark", "benchmark", benchmark.BenchmarkRunConfig.check, [], f"benchmark={o}")
        for o in SUITES
    ]
    return cases


CASES = entry_points()


@pytest.mark.parametrize(
    "app, config, checker, extra, option", CASES, ids=[f"{c[0]}:{c[4]}" for c in CASES]
)
def test_every_option_and_experiment_passes_each_entry_points_preflight(
    app, config, checker, extra, option
):
    """What each entry point runs first: compose (every job of a sweep) and check."""
    from llmts.config.preflight import preflight

    preflight([*extra, option], config, checker)


@pytest.mark.parametrize(
    "group, option",
    [o for o in YAML_OPTIONS if o[0] in GROUPS],
    ids=[f"{g}={o}" for g, o in YAML_OPTIONS if g in GROUPS],
)
def test_group_yamls_hold_only_what_differs_from_the_dataclass(group, option):
    """No group option restates a default of its dataclass (the dataclass is the default)."""
    from omegaconf import OmegaConf

    raw = OmegaConf.load(REPO / "conf" / group / f"{option}.yaml")
    defaults = OmegaConf.structured(GROUPS[group])
    same = [k for k in raw if k != "defaults" and k in defaults and raw[k] == defaults[k]]
    assert same == [], f"{group}/{option}.yaml restates defaults: {same}"


@pytest.mark.parametrize(
    "option", sorted(o for g, o in YAML_OPTIONS if g == "model"), ids=lambda o: f"model={o}"
)
def test_a_hub_model_option_pins_a_commit(option):
    """A model option fetched from the hub by name is pinned to one commit (a full 40-hex
    revision), so a run of it next year reads the same weights and tokenizer as today's. (The
    schema's default, the study's Qwen2.5-0.5B-Instruct, has no option file and no pin: a pin
    there would follow every ``model.name=`` override.)"""
    import re

    cfg = compose(f"model={option}").model
    if cfg.source != "pretrained" or cfg.path is not None:
        pytest.skip("not fetched from the hub by name")
    assert re.fullmatch(r"[0-9a-f]{40}", str(cfg.revision)), f"model={option}: no pinned revision"


@pytest.mark.parametrize(
    "name", sorted(p.stem for p in (REPO / "conf" / "experiment").glob("*.yaml"))
)
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


@pytest.mark.parametrize("name", ["lr", "rank", "context", "mini_lr", "mini_rank", "mini_context"])
def test_sweep_configs_force_multirun(name):
    """`llmts sweep=lr` runs the grid (it used to run one 2000-step job silently)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.types import RunMode

    with initialize_config_dir(version_base="1.3", config_dir=str(REPO / "conf")):
        cfg = hydra_compose("config", [f"sweep={name}"], return_hydra_config=True)
    assert cfg.hydra.mode == RunMode.MULTIRUN and len(cfg.hydra.sweeper.params) == 1


@pytest.mark.parametrize("name", ["lr", "rank", "context"])
def test_a_miniature_grid_varies_what_the_study_grid_varies(name):
    """`./multirun.sh mini`: each miniature grid is its study grid with a shorter run and a
    small model's rates, the same key swept, the same other settings held."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(version_base="1.3", config_dir=str(REPO / "conf")):
        study = hydra_compose("config", [f"sweep={name}"], return_hydra_config=True)
        mini = hydra_compose("config", [f"sweep=mini_{name}"], return_hydra_config=True)
    assert set(mini.hydra.sweeper.params) == set(study.hydra.sweeper.params)
    assert mini.train.max_steps < study.train.max_steps
    assert (mini.lora.r, mini.data.context_length) == (study.lora.r, study.data.context_length)


@pytest.mark.parametrize("args", [["sweep=rank"], ["-m", "lora.r=2,4,8"]])
def test_preflight_checks_every_job_of_a_sweep(args):
    """A sweep= config (multirun without -m) or -m: each job's own config is checked."""
    from llmts.config.preflight import preflight

    seen = []
    preflight(args, checker=lambda cfg: seen.append(cfg.lora.r))
    assert seen == [2, 4, 8]


@pytest.mark.parametrize(
    "args",
    [
        ["-cd", "/my/configs", "model=mine"],
        ["--config-name=mine", "input=x.csv"],
        ["-cp", "conf", "-cn", "mine"],
    ],
)
def test_preflight_leaves_another_config_tree_to_hydra_and_the_run(args):
    """With -cd/-cp/-cn the command line composes from the user's configs, not llmts's: the
    preflight does not refuse it (the run checks its config before any work)."""
    from llmts.config.preflight import preflight

    preflight(args)
    with pytest.raises(LlmtsError, match="model"):  # the same overrides without the flag
        preflight(["model=mine"])


def test_default_options_are_named_once_in_config_yaml():
    """Each group's default option is the name config.yaml's defaults list gives (compose.py
    names none), stored as that group's dataclass."""
    from omegaconf import OmegaConf

    named = {
        k: v
        for e in OmegaConf.load(REPO / "conf" / "config.yaml").defaults
        if OmegaConf.is_dict(e)
        for k, v in e.items()
        if k in GROUPS
    }
    assert default_options() == named and set(named) == set(GROUPS)
    assert "qwen2.5-0.5b-instruct" not in (REPO / "llmts" / "config" / "compose.py").read_text()
    for other in (REPO / "conf" / "bench.yaml", REPO / "conf" / "forecast.yaml"):
        listed = OmegaConf.load(other).get("defaults") or []
        again = [e for e in listed if OmegaConf.is_dict(e) and set(e) & set(GROUPS)]
        assert again == [], f"{other.name} names default options again: {again}"
    bench = compose(config_name="bench")
    assert bench.model.name == compose().model.name and bench.logger.name == "none"


def test_preflight_lets_another_sweepers_syntax_through_and_checks_its_keys():
    """optuna's interval/tag is no basic-sweeper grid: the preflight checks the shared config
    and the swept keys, and leaves the jobs to the run's own check as each starts."""
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    from llmts.config.preflight import preflight

    seen = []
    preflight(
        ["-m", "hydra/sweeper=optuna", "optimizer.lr=tag(log,interval(1e-4,1e-2))", "model=tiny"],
        checker=lambda cfg: seen.append(cfg.model.name),
    )
    assert seen == ["tiny-qwen2"]  # the shared config, once
    with pytest.raises(LlmtsError, match=r"optimizer.learning_rate.*did you mean optimizer.lr\?"):
        preflight(["-m", "hydra/sweeper=optuna", "optimizer.learning_rate=interval(1e-4,1e-2)"])
    with pytest.raises(LlmtsError, match="train.max_steps=-1: must be >= 0"):
        preflight(
            ["-m", "hydra/sweeper=optuna", "optimizer.lr=interval(1e-4,1e-2)", "train.max_steps=-1"]
        )
    with pytest.raises(LlmtsError, match="BasicSweeper does not support sweep type"):
        preflight(["-m", "optimizer.lr=interval(1e-4,1e-2)"])  # the basic sweeper cannot


@pytest.mark.parametrize(
    "args, message",
    [
        (["model=tinyy"], "Could not find 'model/tinyy' (available options in 'model': "),
        (["model=tinyy"], "qwen2.5-0.5b-instruct, qwen3-0.6b, smollm2-135m, tiny)"),
        (["optimizer.lr=1e-4,1e-3"], "to sweep over it, add -m (--multirun)"),
        (["optimizer.learning_rate=1e-3"], "not in 'OptimizerConfig'; did you mean optimizer.lr?"),
        (["lora.rank=4"], "did you mean lora.r?"),
    ],
)
def test_composition_errors_keep_hydras_hints_in_one_line(args, message):
    from llmts.config.preflight import preflight

    with pytest.raises(LlmtsError) as err:
        preflight(args)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "value, names",
    [
        ("true", ["persistence", "seasonal_naive", "ode_fit"]),
        ("false", []),
        ("[auto_ets,context_seasonal_naive]", ["auto_ets", "context_seasonal_naive"]),
    ],
)
def test_eval_baselines_is_a_list_of_names_and_a_bool_still_means_all_or_none(value, names):
    from llmts.config.schema import baseline_names

    cfg = compose(f"eval.baselines={value}")
    check(cfg)
    assert baseline_names(cfg.eval) == names


@pytest.mark.parametrize(
    "arg, message",
    [
        ("eval.baselines=[ets]", "eval.baselines=['ets']: unknown: choose from"),
        ("eval.baseline_jobs=0", "eval.baseline_jobs=0: must be >= 1 or -1"),
    ],
)
def test_a_bad_baseline_setting_is_one_line(arg, message):
    with pytest.raises(LlmtsError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check(compose(arg))
