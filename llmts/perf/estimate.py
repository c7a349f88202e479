"""Wall time of a run before starting it, from a ``bench.json`` measured on the device that will
run it (``llmts-flops ... bench_json=PATH``).

Training: tokens/s of the bench's production step ("fast" path) at each measured B x L,
interpolated linearly in log(tokens per step) and held flat outside the measured range; a job
takes ``max_steps`` x (B·accum·L) / that rate. Test-set forecasts: the bench's batched greedy
(or, with ``decoding.do_sample``, sampling) rows per second, scaled by horizon / bench horizon.
Validation passes, model construction and start-up are not counted.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from llmts.errors import LlmtsError

ARCH_KEYS = (
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "tie_word_embeddings",
)


def architecture(model_cfg: DictConfig) -> dict:
    """The model numbers a training step's speed depends on (the name does not matter), read
    from the model's own config (:func:`llmts.model.build.model_config`)."""
    from llmts.model.build import model_config

    arch = model_config(model_cfg)
    found = {k: getattr(arch, k, None) for k in ARCH_KEYS}
    found["num_key_value_heads"] = found["num_key_value_heads"] or arch.num_attention_heads
    return found


@dataclass
class Rates:
    device: str
    dtype: str
    tokens_per_step: list[float]  # ascending
    tokens_per_s: list[float]
    eval_rows_per_s: dict[str, float]  # greedy | sampling -> decoded rows per second
    eval_horizon: int | None
    architecture: dict | None  # of the model the bench timed


def load_rates(path: str | Path) -> Rates:
    """The training and forecasting rates of a ``bench.json`` (one line if it has none)."""
    try:
        bench = json.loads(Path(path).expanduser().read_text())
    except (OSError, ValueError) as exc:
        raise LlmtsError(f"bench_json: cannot read {path} ({exc})") from None
    rows = [
        (t["batch_size"] * t["seq_len"], t["fast"]["tokens_per_s"])
        for t in bench.get("train", {}).get("shapes", [])
        if "fast" in t
    ]
    if not rows:
        raise LlmtsError(
            f"bench_json: {path} has no training rates (run llmts-bench with "
            "the train section and the fast path)"
        )
    rows.sort()
    ev = bench.get("eval", {})
    rates = {
        mode: ev[key]["rows"] / ev[key]["s_per_repeat"]
        for mode, key in (("greedy", "batched_greedy"), ("sampling", "batched_sampling"))
        if key in ev
    }
    return Rates(
        bench.get("device", "?"),
        bench.get("dtype", "?"),
        [r[0] for r in rows],
        [r[1] for r in rows],
        rates,
        ev.get("horizon"),
        bench.get("architecture"),
    )


def tokens_per_s(rates: Rates, tokens_per_step: float) -> float:
    """Measured rate interpolated in log(tokens per step); flat beyond the measured shapes."""
    return float(
        np.interp(math.log(tokens_per_step), np.log(rates.tokens_per_step), rates.tokens_per_s)
    )


def job_seconds(cfg: DictConfig, rates: Rates) -> dict[str, float | None]:
    """{"train": s, "eval": s or None (no forecasting rate in the bench), "total": s}."""
    from llmts.data.split import split_indices

    tokens = cfg.train.batch_size * cfg.train.grad_accum * cfg.data.context_length
    train = cfg.train.max_steps * tokens / tokens_per_s(rates, tokens)
    mode = "sampling" if cfg.decoding.do_sample else "greedy"
    # The run's test split of data.num_series (a data.path file's own count is not read here),
    # capped by eval.num_series as evaluate.evaluation_rows caps it.
    test = len(split_indices(cfg.data.num_series, cfg.data, cfg.seed).test)
    series = min(cfg.eval.num_series or test, test)
    rows = series * (cfg.decoding.num_samples if cfg.decoding.do_sample else 1)
    evaluate = None
    if mode in rates.eval_rows_per_s and rates.eval_horizon:
        evaluate = rows / rates.eval_rows_per_s[mode] * cfg.eval.horizon / rates.eval_horizon
    return {"train": train, "eval": evaluate, "total": train + (evaluate or 0.0)}


def mismatch(cfg: DictConfig, rates: Rates) -> str | None:
    """Why the bench's rates do not apply to this job's model, or None."""
    if rates.architecture and architecture(cfg.model) != rates.architecture:
        a = rates.architecture
        return (
            f"warning: the bench timed another architecture (hidden {a['hidden_size']}, "
            f"{a['num_hidden_layers']} layers, vocab {a['vocab_size']}) than this job's "
            f"{cfg.model.name}: the estimate does not apply"
        )
    return None


def source_line(rates: Rates, path: str) -> str:
    return (
        f"estimated wall time from {path}: measured on {rates.device} ({rates.dtype}); "
        "training steps + test-set forecasts, without validation or start-up"
    )


def minutes(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 60:.1f}"
