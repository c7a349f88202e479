"""The warnings a run gives before training: each fires on its case and stays silent
otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from llmts.codec import sanity
from llmts.codec.codec import Codec
from llmts.data.series import simulate_lotka_volterra


@pytest.fixture(scope="module")
def lv():
    series, _ = simulate_lotka_volterra(4, 71, 140.0, seed=0)
    return series[:, :51].astype(np.float64)


def test_few_windows_fires_below_the_minimum_only():
    line = sanity.few_windows(1, 512)
    assert "only 1 training window(s) of 512 tokens" in line and "data.stride" in line
    assert sanity.few_windows(sanity.MIN_WINDOWS - 1, 512) is not None
    assert sanity.few_windows(sanity.MIN_WINDOWS, 512) is None


def test_forecast_positions_past_training_or_the_model(tiny_tokenizer, lv):
    codec = Codec(tiny_tokenizer)
    prompt = max(len(codec.tokenizer(codec.encode_series(c))["input_ids"]) for c in lv)
    line = sanity.forecast_positions(codec, lv, 20, prompt, None)
    assert f"past {prompt} (data.context_length" in line
    assert "max_position_embeddings" in sanity.forecast_positions(codec, lv, 20, None, prompt + 1)
    assert sanity.forecast_positions(codec, lv, 20, 4 * prompt, 4 * prompt) is None
    assert sanity.forecast_positions(codec, lv, 20, None, None) is None


def test_coarse_grid_on_a_slow_level_series_not_on_lotka_volterra(tiny_tokenizer, lv):
    """A CO2-like series (~350 with a slow trend) written at 2 decimals of x / α moves in steps
    of α/100 ≈ 3.5, far coarser than its own steps; scaled affinely the grid follows its range."""
    rng = np.random.default_rng(0)
    t = np.arange(60.0)
    level = 330 + 0.1 * t + np.sin(t / 12 * 2 * np.pi) + 0.1 * rng.standard_normal(60)
    contexts = [level[:, None]]
    line = sanity.coarse_grid(Codec(tiny_tokenizer), contexts)
    assert "data.scale=affine" in line and "grid of" in line
    assert sanity.coarse_grid(Codec(tiny_tokenizer, precision=4), contexts) is None
    assert sanity.coarse_grid(Codec(tiny_tokenizer, scale="affine"), contexts) is None
    assert sanity.coarse_grid(Codec(tiny_tokenizer), lv) is None
