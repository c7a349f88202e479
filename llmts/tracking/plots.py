"""Figures (matplotlib, Agg): true vs forecast per series (the study's Figures 1, 10, 11) with the
10–90% sample band and a few sample paths when sampling, and error by forecast step."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Skill 1 − MSE/MSE_ref below this says only that the reference is (near-)exact (an ODE fit of
# noiseless data: MSE_ref ~ 1e-13 gave skill −5.6e13), nothing about the model: such a curve is
# a note in the plot, not 13 decades of axis, and the report omits its value.
SKILL_FLOOR = -1e3


def _integer_steps(ax, x=None) -> None:
    """Ticks at whole steps only (no 2.5 or 7.5 on a step axis); ``x``: only if all are whole."""
    from matplotlib.ticker import MaxNLocator

    if x is None or (len(x) and np.all(np.mod(np.asarray(x, dtype=float), 1) == 0)):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _pad_y(ax, frac: float = 0.05) -> None:
    """Room of ``frac`` of the axis beyond the lowest and highest data, measured on the axis's
    own scale: matplotlib pads a symlog axis in data units, so a point at −1e6 sat on the edge."""
    lo, hi = ax.dataLim.intervaly
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return
    scale = ax.yaxis.get_transform()
    a, b = scale.transform([lo, hi])
    pad = frac * (b - a) if b > a else 0.5
    ax.set_ylim(*scale.inverted().transform([a - pad, b + pad]))


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_series(
    path: Path,
    index: int,
    context: np.ndarray,
    truth: np.ndarray | None,
    point: np.ndarray,
    *,
    samples: np.ndarray | None,
    variables: tuple[str, ...],
    baselines: dict[str, np.ndarray] | None = None,
    title: str = "test series {index}: true vs forecast",
    dates: np.ndarray | None = None,
) -> Path:
    """One figure, one panel per variable: context, truth (unless None), point forecast (+ band,
    samples). Gaps (NaN) in the context show as breaks in its line. ``dates`` (c + h,): the x
    axis in dates instead of steps."""
    plt = _pyplot()
    c, h, d = len(context), len(point), context.shape[1]
    t = np.arange(c + h) if dates is None else np.asarray(dates)
    t_ctx, t_fut = t[:c], t[c:]
    cut = c - 0.5 if dates is None else t[c - 1] + (t[c] - t[c - 1]) / 2
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
        ax.axvline(cut, color="0.7", lw=0.8)
        ax.set_ylabel(variables[k])
    axes[0, 0].set_title(title.format(index=index))
    axes[0, 0].legend(fontsize=7, ncol=3, loc="upper left")
    axes[-1, 0].set_xlabel("time step" if dates is None else "date")
    if dates is not None:
        fig.autofmt_xdate()
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
    _integer_steps(ax)
    ax.set_ylabel(metric.upper())
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    ax.set_title(f"{metric.upper()} by forecast step")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_skill(path: Path, curves: dict[str, tuple[np.ndarray, np.ndarray | None]]) -> Path:
    """Skill 1 − MSE/MSE_ref by forecast step against each reference, with its 95 % band: one
    panel per reference, each on its own axis; a reference the model trails by more than
    :data:`SKILL_FLOOR` (a near-exact fit) is a note in its panel instead of a curve."""
    plt = _pyplot()
    fig, axes = plt.subplots(
        len(curves), 1, figsize=(6, 2.8 * len(curves)), sharex=True, squeeze=False
    )
    for j, (ax, (name, (values, band))) in enumerate(zip(axes[:, 0], curves.items())):
        steps = np.arange(1, len(values) + 1)
        ax.set_ylabel(f"skill vs {name}")
        _integer_steps(ax, steps)
        low = np.min(values, initial=np.inf, where=np.isfinite(values))  # inf: none finite
        if low < SKILL_FLOOR:
            ax.set_xlim(0.5, len(values) + 0.5)
            ax.set_yticks([])
            ax.text(
                0.5,
                0.5,
                f"{name} is near-exact (skill down to {low:.3g}):\n"
                "the skill says nothing about the model, not drawn",
                ha="center",
                va="center",
                transform=ax.transAxes,
                fontsize=9,
            )
            continue
        ax.plot(steps, values, marker="o", ms=3, color=f"C{j}", label=f"vs {name}")
        if band is not None:
            ax.fill_between(steps, band[0], band[1], color=f"C{j}", alpha=0.2)
        ax.axhline(0.0, color="0.5", lw=0.8)
        lower = values if band is None else band[0]
        if np.min(lower, initial=np.inf, where=np.isfinite(lower)) < -1.0:
            ax.set_yscale("symlog", linthresh=1.0)  # skill is ≤ 1 but can be far below 0
        _pad_y(ax)
    axes[-1, 0].set_xlabel("forecast step")
    axes[0, 0].set_title(
        "Skill = 1 − MSE / MSE_ref by forecast step (95 % band over test series)", fontsize=10
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_lines(
    path: Path,
    lines: list[tuple[str, np.ndarray, np.ndarray]],
    xlabel: str,
    ylabel: str,
    title: str,
    yscale: str = "linear",
    marker: str | None = None,
) -> Path:
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
    _integer_steps(ax, np.concatenate([np.asarray(x, dtype=float) for _, x, _ in lines]))
    _pad_y(ax)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=120)
    return path
