"""Which part of which series each stage sees (``data.split``).

* ``series`` (the study): whole series, shuffled with the seed and cut by ``data.train_frac`` /
  ``val_frac`` / ``test_frac``; each test series is forecast once, from step ``c`` (the first
  ``eval.context_steps`` steps in, ``eval.horizon`` out).
* ``time``: every series is cut in time — training windows from its first ``train_frac`` of
  steps, validation from the next ``val_frac``, and a rolling-origin backtest on the last
  ``test_frac``: origins o = t_test, t_test + s, … (s = ``eval.origin_stride``, default the
  horizon: windows that do not overlap), at most ``eval.origins`` of them, each forecast from the
  ``c`` steps before it. Nothing at or after an origin reaches its scale (from the context
  only), training or validation. Series may have different lengths: each is cut by its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from llmts.config.schema import DataConfig
from llmts.errors import LlmtsError
from llmts.tracking.files import write_json


@dataclass(frozen=True)
class Split:
    """Series indices per part; with ``data.split=time`` also, per series, the steps where its
    validation part (``val_start``) and its test part (``test_start``) begin."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    val_start: np.ndarray | None = None
    test_start: np.ndarray | None = None

    @property
    def by_time(self) -> bool:
        return self.val_start is not None

    def parts(self, series: np.ndarray, lengths: np.ndarray, part: str) -> list[np.ndarray]:
        """The (T_i, D) arrays of ``part`` (``train`` or ``val``) that training reads."""
        idx = getattr(self, part)
        if not self.by_time:
            return [series[i, : lengths[i]] for i in idx]
        lo, hi = (
            (np.zeros_like(self.val_start), self.val_start)
            if part == "train"
            else (self.val_start, self.test_start)
        )
        return [series[i, lo[i] : hi[i]] for i in idx if hi[i] > lo[i]]

    def save(self, path: Path) -> None:
        fields = ("train", "val", "test") + (("val_start", "test_start") if self.by_time else ())
        write_json(path, {k: getattr(self, k).tolist() for k in fields})


def split_indices(n: int, cfg: DataConfig, seed: int) -> Split:
    """``data.split=series``: shuffle 0..n-1 with ``seed`` and cut train/val/test by the
    configured fractions."""
    perm = np.random.default_rng(seed).permutation(n)
    n_train = int(round(n * cfg.train_frac))
    n_val = int(round(n * cfg.val_frac))
    return Split(
        np.sort(perm[:n_train]),
        np.sort(perm[n_train : n_train + n_val]),
        np.sort(perm[n_train + n_val :]),
    )


def split_time(lengths: np.ndarray, cfg: DataConfig) -> Split:
    """``data.split=time``: every series in every part, cut at its own ``train_frac`` and
    ``train_frac + val_frac`` of its length."""
    lengths = np.asarray(lengths)
    val_start = np.round(lengths * cfg.train_frac).astype(int)
    test_start = np.maximum(val_start, lengths - np.round(lengths * cfg.test_frac).astype(int))
    every = np.arange(len(lengths))
    return Split(every, every, every, val_start, test_start)


def make_split(lengths: np.ndarray, cfg: DataConfig, seed: int) -> Split:
    """The split ``data.split`` asks for (series of ``lengths`` steps)."""
    if cfg.split == "time":
        return split_time(lengths, cfg)
    return split_indices(len(lengths), cfg, seed)


def forecast_rows(
    split: Split,
    lengths: np.ndarray,
    context: int,
    horizon: int,
    *,
    num_series: int | None = None,
    origins: int | None = None,
    stride: int | None = None,
    source: str = "data",
) -> tuple[np.ndarray, np.ndarray]:
    """(series index, origin) of every forecast the evaluation makes: per test series (the first
    ``num_series``), origin ``context`` (``split=series``) or the rolling origins of its test
    part (``split=time``; ``origins``: at most that many, None: all that fit; ``stride``: steps
    between them, None: ``horizon``). :class:`LlmtsError` when a series cannot hold them."""
    idx = split.test[:num_series] if num_series else split.test
    if not split.by_time:
        if len(idx) and (short := int(lengths[idx].min())) < context + horizon:
            raise LlmtsError(
                f"{source}: series have T={short} steps, fewer than the "
                f"{context + horizon} needed (eval.context_steps + eval.horizon)"
            )
        return idx, np.full(len(idx), context)
    stride = stride or horizon
    rows, starts = [], []
    for i in idx:
        first, last = int(split.test_start[i]), int(lengths[i]) - horizon  # o + h <= T_i
        found = list(range(first, last + 1, stride))[:origins]
        if first < context:
            raise LlmtsError(
                f"{source}: series {i} ({lengths[i]} steps): its test part starts at "
                f"step {first}, before the {context} context steps a forecast needs "
                "(lower eval.context_steps or data.test_frac)"
            )
        if not found or (origins and len(found) < origins):
            raise LlmtsError(
                f"{source}: series {i} ({lengths[i]} steps) is too short for "
                f"{origins or 1} origin(s) {stride} steps apart with a {horizon}-step "
                f"horizon in its test part (steps {first}..{lengths[i] - 1}); lower "
                "eval.origins, eval.origin_stride or eval.horizon, or raise "
                "data.test_frac"
            )
        rows += [i] * len(found)
        starts += found
    return np.array(rows, dtype=int), np.array(starts, dtype=int)
