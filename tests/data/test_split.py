"""data.split: whole series (the study) or every series cut in time with a rolling-origin
backtest."""

from __future__ import annotations

import numpy as np
import pytest

from llmts.data.split import forecast_rows, make_split, split_indices, split_time
from llmts.errors import LlmtsError
from tests.helpers import compose


def test_time_split_cuts_each_series_by_its_own_length():
    data = compose("data.split=time").data  # 0.72 / 0.18 / 0.10
    split = split_time(np.array([300, 100]), data)
    assert split.by_time and split.val_start.tolist() == [216, 72]
    assert split.test_start.tolist() == [270, 90]
    series = np.arange(300 * 2 * 1, dtype=float).reshape(2, 300, 1)
    train = split.parts(series, np.array([300, 100]), "train")
    val = split.parts(series, np.array([300, 100]), "val")
    assert [len(p) for p in train] == [216, 72] and [len(p) for p in val] == [54, 18]
    assert np.array_equal(val[0], series[0, 216:270])  # validation is the part after training
    assert make_split(np.array([300, 100]), data, 0).by_time
    assert not make_split(np.array([300, 300]), compose().data, 0).by_time


def test_rolling_origins_never_let_the_future_into_training_or_validation():
    data = compose(
        "data.split=time", "data.train_frac=0.5", "data.val_frac=0.2", "data.test_frac=0.3"
    ).data
    lengths = np.array([300])
    split = split_time(lengths, data)
    idx, origins = forecast_rows(split, lengths, context=51, horizon=20)  # stride = horizon
    assert idx.tolist() == [0, 0, 0, 0] and origins.tolist() == [210, 230, 250, 270]
    assert origins.min() >= split.test_start[0] >= split.val_start[0]  # val ends before any origin
    assert (origins + 20 <= 300).all()
    _, every = forecast_rows(split, lengths, 51, 20, stride=5)
    assert every.tolist() == list(range(210, 281, 5))
    _, two = forecast_rows(split, lengths, 51, 20, origins=2, stride=7)
    assert two.tolist() == [210, 217]


def test_a_series_too_short_for_its_origins_is_one_line():
    data = compose("data.split=time").data
    split = split_time(np.array([300]), data)  # test part: steps 270..299
    with pytest.raises(LlmtsError, match="too short for 3 origin") as err:
        forecast_rows(split, np.array([300]), 51, 20, origins=3, source="x.csv")
    assert "x.csv: series 0 (300 steps)" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(LlmtsError, match="too short"):
        forecast_rows(split, np.array([300]), 51, 40)  # a 40-step horizon cannot fit 30 steps
    with pytest.raises(LlmtsError, match="before the 280 context steps"):
        forecast_rows(split, np.array([300]), 280, 20)


def test_series_split_forecasts_each_test_series_once_from_its_context():
    split = split_indices(10, compose().data, 0)
    idx, origins = forecast_rows(split, np.full(10, 80), 51, 20, num_series=1)
    assert idx.tolist() == split.test[:1].tolist() and origins.tolist() == [51]
    with pytest.raises(LlmtsError, match="fewer than the 71 needed"):
        forecast_rows(split, np.full(10, 70), 51, 20)


def test_the_saved_split_names_the_time_cuts(tmp_path):
    import json

    split = split_time(np.array([300, 100]), compose("data.split=time").data)
    split.save(tmp_path / "split.json")
    saved = json.loads((tmp_path / "split.json").read_text())
    assert saved["val_start"] == [216, 72] and saved["test_start"] == [270, 90]
