"""The number a run returns to a Hydra sweeper (``objective=``): what Optuna and other
optimising sweepers minimise or maximise."""

from __future__ import annotations

import math

from llmts.config.choices import OBJECTIVE_DIRECTION
from llmts.errors import LlmtsError

FAILED = math.nan  # a failed job's value: Optuna records the trial as failed and goes on


def objective_value(metrics: dict, name: str) -> float:
    """``metrics[name]`` (``val_loss``: the final validation loss) as a float; NaN when the run
    did not produce it (no training for ``val_loss``, no samples for ``crps``)."""
    key = "final_val_loss" if name == "val_loss" else name
    value = metrics.get(key)
    return float(value) if isinstance(value, (int, float)) else FAILED


def check_direction(name: str, sweeper_direction: object) -> None:
    """:class:`LlmtsError` when an optimising sweeper's ``direction`` is not the objective's
    (``hydra.sweeper.direction``; sweepers without one, e.g. the basic sweeper, pass)."""
    if sweeper_direction is None:
        return
    want = OBJECTIVE_DIRECTION[name]
    given = str(getattr(sweeper_direction, "name", sweeper_direction)).lower()
    if given != want:
        raise LlmtsError(
            f"objective={name} is to {want}, but hydra.sweeper.direction={given}; "
            f"set hydra.sweeper.direction={want}"
        )
