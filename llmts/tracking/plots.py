"""Figures (matplotlib, Agg): true vs forecast per series (the study's Figures 1, 10, 11) with the
10–90% sample band and a few sample paths when sampling, and error by forecast step."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_series(path: Path, index: int, context: np.ndarray, truth: np.ndarray | None,
                point: np.ndarray, samples: np.ndarray | None, variables: tuple[str, ...],
                baselines: dict[str, np.ndarray] | None = None,
                title: str = "test series {index}: true vs forecast") -> Path:
    """One figure, one panel per variable: context, truth (unless None), point forecast (+ band,
    samples). Gaps (NaN) in the context show as breaks in its line."""
    plt = _pyplot()
    c, h, d = len(context), len(point), context.shape[1]
    t_ctx, t_fut = np.arange(c), np.arange(c, c + h)
    fig, axes = plt.subplots(d, 1, figsize=(8, 2.6 * d), sharex=True, squeeze=False)
    for k, ax in enumerate(axes[:, 0]):
        ax.plot(t_ctx, context[:, k], color="0.3", lw=1.2, label="context")
        if truth is not None:
            ax.plot(t_fut, truth[:, k], color="k", lw=1.5, label="truth")
        if samples is not None and len(samples) > 1:
            lo, hi = np.quantile(samples[:, :, k], [0.1, 0.9], axis=0)
            ax.fill_between(t_fut, lo, hi, color="C0", alpha=0.25, label="10–90%")
            for path_k in samples[:3, :, k]:
                ax.plot(t_fut, path_k, color="C0", lw=0.6, alpha=0.6)
        ax.plot(t_fut, point[:, k], color="C0", lw=1.5, ls="--", label="forecast")
        for j, (name, fc) in enumerate((baselines or {}).items()):
            ax.plot(t_fut, fc[:, k], color=f"C{j + 1}", lw=1, ls=":", label=name)
        ax.axvline(c - 0.5, color="0.7", lw=0.8)
        ax.set_ylabel(variables[k])
    axes[0, 0].set_title(title.format(index=index))
    axes[0, 0].legend(fontsize=7, ncol=3, loc="upper left")
    axes[-1, 0].set_xlabel("time step")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_horizon(path: Path, errors: dict[str, np.ndarray], metric: str = "mse") -> Path:
    """Error by forecast step for the model and each baseline."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, values in errors.items():
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", ms=3, label=name)
    ax.set_xlabel("forecast step")
    ax.set_ylabel(metric.upper())
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    ax.set_title(f"{metric.upper()} by forecast step")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_skill(path: Path, curves: dict[str, tuple[np.ndarray, np.ndarray | None]]) -> Path:
    """Skill 1 − MSE/MSE_ref by forecast step against each reference, with its 95 % band."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for j, (name, (values, band)) in enumerate(curves.items()):
        steps = np.arange(1, len(values) + 1)
        ax.plot(steps, values, marker="o", ms=3, color=f"C{j}", label=f"vs {name}")
        if band is not None:
            ax.fill_between(steps, band[0], band[1], color=f"C{j}", alpha=0.2)
    ax.axhline(0.0, color="0.5", lw=0.8)
    ax.set_xlabel("forecast step")
    ax.set_ylabel("skill = 1 − MSE / MSE_ref")
    ax.set_yscale("symlog", linthresh=1.0)  # skill is ≤ 1 but can be far below 0
    ax.set_ylim(top=1.1)
    ax.legend(fontsize=8)
    ax.set_title("Skill by forecast step (95 % band over test series)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_lines(path: Path, lines: list[tuple[str, np.ndarray, np.ndarray]], xlabel: str,
               ylabel: str, title: str, yscale: str = "linear", marker: str | None = None,
               top: float | None = None) -> Path:
    """One labelled line per (label, x, y); PNG via the Agg canvas (no pyplot, no backend switch:
    safe inside a Hydra callback). ``symlog`` draws a 0 line and is linear within ±1."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5), layout="tight")
    ax = fig.add_subplot()
    for label, x, y in lines:
        ax.plot(x, y, marker=marker, ms=3, label=label)
    if yscale == "symlog":
        ax.axhline(0.0, color="0.5", lw=0.8)
        ax.set_yscale("symlog", linthresh=1.0)
    else:
        ax.set_yscale(yscale)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.set_ylim(top=top)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=120)
    return path
