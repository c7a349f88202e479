"""The number a run returns to an optimising sweeper."""

from __future__ import annotations

import math

import pytest

from llmts.errors import LlmtsError
from llmts.metrics.objective import check_direction, objective_value
from tests.helpers import compose


def test_the_objective_is_the_named_metric_and_nan_when_missing():
    metrics = {"final_val_loss": 0.25, "mse": 2.0, "r2": 0.5, "crps": None}
    assert objective_value(metrics, "val_loss") == 0.25 and objective_value(metrics, "r2") == 0.5
    assert math.isnan(objective_value(metrics, "crps"))  # no samples: nothing to optimise
    assert math.isnan(objective_value({}, "val_loss"))  # max_steps=0: no validation loss


def test_an_objective_that_is_no_metric_fails_at_composition():
    from hydra.errors import ConfigCompositionException
    from omegaconf.errors import ValidationError

    assert compose("objective=r2").objective == "r2"
    with pytest.raises((ConfigCompositionException, ValidationError)) as err:
        compose("objective=accuracy")
    assert "nll_per_dim" in str(err.value.__cause__ or err.value)  # the choices are listed


def test_a_sweeper_optimising_the_wrong_way_is_one_line():
    check_direction("mse", None)  # the basic sweeper has no direction
    check_direction("mse", "minimize")
    check_direction("r2", "MAXIMIZE")
    with pytest.raises(LlmtsError, match="objective=r2 is to maximize.*direction=maximize"):
        check_direction("r2", "minimize")
