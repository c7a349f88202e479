"""What a run writes of its evaluation: forecasts.h5 and the plots hold what was scored; the
console's results table."""

import numpy as np
import pytest

from llmts.codec.codec import Codec
from llmts.data.series import Dataset, simulate_lotka_volterra
from llmts.data.split import Split
from llmts.metrics.evaluate import POINT_KEYS, evaluation_rows, score
from llmts.model.build import build_model
from llmts.report.run import results_table, write
from llmts.tracking.tracker import NullTracker
from tests.helpers import compose


def test_write_saves_what_was_scored(tiny_tokenizer, tmp_path):
    import h5py

    cfg = compose(
        "experiment=smoke",
        "eval.context_steps=12",
        "eval.horizon=4",
        "eval.num_series=3",
        "eval.baselines=true",
    )
    series, time = simulate_lotka_volterra(5, 16, 32.0, seed=1)
    data = Dataset(series, time, ("prey", "predator"), "simulated")
    split = Split(np.arange(0), np.arange(0), np.arange(5))
    rows = evaluation_rows(data, split, cfg.eval, cfg.data)
    net = build_model(cfg.model, cfg.lora, cfg.seed)
    codec = Codec.build(cfg.data, tiny_tokenizer)
    before = series[:3, 12:16] + 0.3  # the untrained model's forecast, a skill reference
    _, done = score(
        net, codec, data, rows, cfg.eval, cfg.decoding, seed=0, label="model", untrained=before
    )
    write(done, tmp_path, 1, NullTracker(), "untrained")
    with h5py.File(tmp_path / "forecasts.h5") as f:
        np.testing.assert_array_equal(f["forecast"][:], done.point)
        np.testing.assert_array_equal(f["truth"][:], series[:3, 12:16])
        np.testing.assert_array_equal(f["baselines/persistence"][:], done.base["persistence"])
        np.testing.assert_array_equal(f["mase_scale"][:], done.rows.scale)
        np.testing.assert_array_equal(f["untrained"][:], before)
        np.testing.assert_array_equal(f["skill/untrained"][:], done.extra["skill/untrained"])
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        "per_horizon_mse.png",
        "series_0.png",
        "skill.png",
    ]


def test_the_results_table_has_a_row_per_scored_baseline_in_scoring_order():
    m = {k: 1.0 for k in POINT_KEYS}
    for name in ("persistence", "a_longer_baseline_name", "ode_fit"):
        m |= {f"baseline/{name}/{k}": 2.0 for k in POINT_KEYS}
        m[f"baseline/{name}/mse_ci"] = [1.0, 3.0]
    lines = results_table(m).splitlines()
    assert [line.split()[0] for line in lines[1:]] == [
        "model",
        "persistence",
        "a_longer_baseline_name",
        "ode_fit",
    ]
    assert len({len(line) for line in lines}) == 1  # the columns line up


@pytest.mark.parametrize("base", ["untrained", "base zero-shot"])
def test_the_base_row_shows_its_mase_and_a_greedy_wql_is_a_dash(base):
    """The model before training (named as the run names it) has its row and the skill line;
    WQL needs quantiles, which a greedy forecast does not have."""
    m = {k: 1.0 for k in POINT_KEYS} | {"mase": 0.8, "baseline/naive/mse": 2.0}
    m |= {f"untrained/{k}": 3.0 for k in POINT_KEYS} | {"untrained/mase": 1.5}
    m |= {"skill/untrained": 0.25, "skill/untrained_ci": [0.1, 0.4]}
    head, model, before, naive, skill = results_table(m, base).splitlines()
    assert head.split()[-2:] == ["MASE", "WQL"]
    assert model.split()[-2:] == ["0.8", "-"] and before.startswith(base)
    assert before.split()[-2:] == ["1.5", "-"] and naive.split()[-2:] == ["-", "-"]
    assert skill.startswith(f"skill vs {base} ") and "0.250 [0.100, 0.400]" in skill
