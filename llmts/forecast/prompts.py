"""What a decoder is asked: the prompts of a batch of series and the rows they become, shared by
llmts's decode engine (:mod:`llmts.forecast.engine`) and transformers' ``generate``
(:mod:`llmts.forecast.hf`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from llmts.config.schema import DecodingConfig


def num_samples(cfg: DecodingConfig) -> int:
    """Forecasts drawn per series: ``decoding.num_samples`` when sampling, else 1 (greedy)."""
    return cfg.num_samples if cfg.do_sample else 1


@dataclass(frozen=True)
class Prompts:
    """What a decoder is asked: each series' prompt text and integer-digit cap, for forecasts of
    ``horizon`` steps of ``num_vars`` values."""

    texts: list[str]
    digits: np.ndarray  # (n,) integer digits each series' values may have
    num_vars: int
    horizon: int
