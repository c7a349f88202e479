"""What a forecaster should hear before training: the cases where a run goes on and still says
little. Each check is pure and returns one line (or None); the run logs them as warnings.

- too few training windows: LoRA then fits those few windows and little else;
- forecast positions (prompt + forecast tokens) beyond the window length training used, or
  beyond the positions the base model was built for: positions never trained drift;
- a value grid coarser than the series' own motion: a value is written with ``precision``
  decimals of x / α, so it moves in steps of α·10^-precision in original units.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from llmts.codec.codec import Codec

MIN_WINDOWS = 8  # fewer training windows than this: the warning below


def few_windows(num_windows: int, context_length: int) -> str | None:
    """A line when training has fewer than :data:`MIN_WINDOWS` windows of ``context_length``
    tokens."""
    if num_windows >= MIN_WINDOWS:
        return None
    return (
        f"only {num_windows} training window(s) of {context_length} tokens (fewer than "
        f"{MIN_WINDOWS}): fine-tuning will fit them and little else; lower data.stride or "
        "data.context_length, give more history, or train fewer train.max_steps"
    )


def forecast_positions(
    codec: Codec,
    contexts: Sequence[np.ndarray],
    horizon: int,
    trained_length: int | None,
    model_length: int | None,
) -> str | None:
    """A line when the longest forecast (its prompt's tokens + the most tokens a ``horizon``-step
    forecast takes) reaches past ``trained_length`` (``data.context_length``, when the run
    trains) or ``model_length`` (the base's ``max_position_embeddings``)."""
    contexts = [np.asarray(c, dtype=np.float64) for c in contexts]
    scaling = [codec.scaling(c) for c in contexts]
    texts = [codec.encode(c, a, o) for c, (a, o) in zip(contexts, scaling)]
    prompt = max(len(ids) for ids in codec.tokenizer(texts)["input_ids"])
    digits = codec.integer_digits(contexts, *(np.array(s) for s in zip(*scaling)))
    needed = prompt + codec.max_new_tokens(contexts[0].shape[1], horizon, int(digits.max()))
    limits = [
        (length, what)
        for length, what in (
            (trained_length, "data.context_length, the window length training uses"),
            (model_length, "the base model's max_position_embeddings"),
        )
        if length is not None and needed > length
    ]
    if not limits:
        return None
    length, what = min(limits)
    return (
        f"forecasts reach position {needed} (a prompt of up to {prompt} tokens + up to "
        f"{needed - prompt} forecast tokens), past {length} ({what}): positions never trained "
        "tend to drift; lower eval.context_steps or eval.horizon, or raise data.context_length"
    )


def coarse_grid(codec: Codec, contexts: Sequence[np.ndarray]) -> str | None:
    """A line when, for most contexts, the written grid α·10^-precision (original units) is
    coarser than the typical step-to-step change (median |Δx|) of the variable it writes."""
    ratios, grids, moves = [], [], []
    for c in contexts:
        c = np.asarray(c, dtype=np.float64)
        alpha, _ = codec.scaling(c)
        grid = np.broadcast_to(alpha, (c.shape[1],)) * 10.0**-codec.precision
        with np.errstate(all="ignore"):
            move = np.nanmedian(np.abs(np.diff(c, axis=0)), axis=0)
        ok = np.isfinite(move) & (move > 0)
        if ok.any():
            ratios.append(np.max(grid[ok] / move[ok]))
            grids.append(np.max(grid[ok]))
            moves.append(np.min(move[ok]))
    if not ratios or np.median(ratios) <= 1:
        return None
    k = int(np.argsort(ratios)[len(ratios) // 2])  # the median context, for the numbers
    fix = (
        "raise data.precision"
        if codec.scale == "affine"
        else "set data.scale=affine (α then spans the context's range, not its size) or raise "
        "data.precision"
    )
    return (
        f"values are written on a grid of {grids[k]:.3g} (α·10^-{codec.precision} in the "
        f"data's units) while the series move a typical {moves[k]:.3g} a step: forecasts will "
        f"sit on that grid; {fix}"
    )
